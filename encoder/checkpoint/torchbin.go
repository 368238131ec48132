package checkpoint

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// maxPickleSize bounds archive/data.pkl (a state dict's pickle is a few
// hundred kilobytes; tensor data lives in separate records).
const maxPickleSize = 256 << 20

// tbEntry is one tensor listed by a pytorch_model.bin pickle.
type tbEntry struct {
	name string
	t    *torchTensor
}

// tbIndex is an opened pytorch_model.bin: its records and tensor list.
type tbIndex struct {
	path    string    // for error messages
	closer  io.Closer // nil for in-memory input
	prefix  string    // "archive/" or the file stem torch chose
	files   map[string]*zip.File
	entries []tbEntry
}

// ReadTorchBin reads every tensor of a pytorch_model.bin written by
// torch.save (torch >= 1.6 zip format). The zip must hold
// <prefix>/data.pkl and <prefix>/data/<key> records under one top-level
// folder; records are checked against their CRC-32. The pickle is run by a
// restricted VM that accepts only what torch.save emits for a state dict
// (OrderedDict, _rebuild_tensor_v2, typed storages) and executes nothing.
// Nested dicts (for example {"model": state_dict, "step": 10}) are flattened
// with "."-joined names; non-tensor leaves are skipped. Tensors may use a
// storage offset and any strides (views are copied out); F16 and BF16 are
// converted to float32. Tensors of other dtypes (int64 buffers such as
// position_ids) are an error naming the tensor: LoadDir skips those it does
// not need.
func ReadTorchBin(path string) (map[string]*Tensor, error) {
	idx, err := openTorchBin(path)
	if err != nil {
		return nil, err
	}
	defer idx.close()
	names := make([]string, len(idx.entries))
	for i, e := range idx.entries {
		names[i] = e.name
	}
	return idx.load(names)
}

// openTorchBin opens and validates a file; the caller closes the index.
func openTorchBin(path string) (*tbIndex, error) {
	idx, f, err := openParsed(path, "pytorch checkpoint", parseTorchBin)
	if err != nil {
		return nil, err
	}
	idx.path, idx.closer = path, f
	return idx, nil
}

func (idx *tbIndex) close() {
	if idx.closer != nil {
		idx.closer.Close()
	}
}

func parseTorchBin(r io.ReaderAt, size int64) (*tbIndex, error) {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, corruptf("file too short (%d bytes)", size)
	}
	if magic[0] == 0x80 {
		return nil, fmt.Errorf("%w: legacy (pre-1.6, non-zip) torch.save format; re-save it with a newer torch or convert it to safetensors", ErrUnsupportedPickle)
	}
	if string(magic[:]) != "PK\x03\x04" {
		return nil, corruptf("not a zip archive (torch >= 1.6 format)")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, corruptf("zip: %v", err)
	}
	idx := &tbIndex{files: map[string]*zip.File{}}
	for _, zf := range zr.File {
		name := zf.Name
		slash := strings.IndexByte(name, '/')
		if slash <= 0 {
			return nil, corruptf("zip record %q is outside a top-level folder", name)
		}
		if idx.prefix == "" {
			idx.prefix = name[:slash+1]
		} else if name[:slash+1] != idx.prefix {
			return nil, corruptf("zip records under both %q and %q", idx.prefix, name[:slash+1])
		}
		if _, dup := idx.files[name]; dup {
			return nil, corruptf("duplicate zip record %q", name)
		}
		// torch.save stores records uncompressed; anything else is not ours.
		if zf.Method != zip.Store {
			return nil, corruptf("zip record %q uses compression method %d (torch writes stored records)", name, zf.Method)
		}
		if zf.CompressedSize64 != zf.UncompressedSize64 || zf.CompressedSize64 > uint64(size) {
			return nil, corruptf("zip record %q declares %d bytes stored as %d in a %d-byte file", name, zf.UncompressedSize64, zf.CompressedSize64, size)
		}
		idx.files[name] = zf
	}
	if b, ok, err := idx.small("byteorder", 16); err != nil {
		return nil, err
	} else if ok && strings.TrimSpace(string(b)) != "little" {
		return nil, fmt.Errorf("%w: byteorder %q (only little-endian is supported)", ErrUnsupportedPickle, b)
	}
	if b, ok, err := idx.small("version", 16); err != nil {
		return nil, err
	} else if ok {
		if v := strings.TrimSpace(string(b)); v != "1" && v != "2" && v != "3" {
			return nil, fmt.Errorf("%w: archive version %q (supported: 1 to 3)", ErrUnsupportedPickle, v)
		}
	}
	pkl, ok, err := idx.small("data.pkl", maxPickleSize)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, corruptf("no %sdata.pkl record", idx.prefix)
	}
	obj, err := unpickle(pkl)
	if err != nil {
		return nil, err
	}
	d, ok := obj.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("%w: the pickle holds a %s, not a state dict", ErrUnsupportedPickle, pyType(obj))
	}
	seen := map[string]bool{}
	if err := idx.flatten("", d, seen, map[*pyDict]bool{}, 0); err != nil {
		return nil, err
	}
	if len(idx.entries) == 0 {
		return nil, fmt.Errorf("%w: the state dict holds no tensors", ErrTensorMismatch)
	}
	// Check every tensor's storage record and extent now, so that listing
	// a file validates it fully.
	for _, e := range idx.entries {
		if _, _, err := idx.storageRecord(e); err != nil {
			return nil, err
		}
	}
	sort.Slice(idx.entries, func(i, j int) bool { return idx.entries[i].name < idx.entries[j].name })
	return idx, nil
}

// small reads a whole small record, checking its CRC.
func (idx *tbIndex) small(name string, limit int64) ([]byte, bool, error) {
	zf := idx.files[idx.prefix+name]
	if zf == nil {
		return nil, false, nil
	}
	if zf.UncompressedSize64 > uint64(limit) {
		return nil, true, corruptf("record %q has %d bytes, more than %d", zf.Name, zf.UncompressedSize64, limit)
	}
	b, err := readRecord(zf)
	return b, true, err
}

func readRecord(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, corruptf("record %q: %v", zf.Name, err)
	}
	defer rc.Close()
	b := make([]byte, 0, min(zf.UncompressedSize64, 1<<26))
	b, err = readAllInto(b, rc, int64(zf.UncompressedSize64))
	if err != nil {
		return nil, corruptf("record %q: %v", zf.Name, err)
	}
	return b, nil
}

// readAllInto reads r to EOF (so that the zip reader verifies the CRC),
// refusing more than n bytes.
func readAllInto(b []byte, r io.Reader, n int64) ([]byte, error) {
	lr := io.LimitReader(r, n+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if int64(len(b)) > n {
			return nil, fmt.Errorf("more data than the %d bytes declared", n)
		}
		if err == io.EOF {
			if int64(len(b)) != n {
				return nil, fmt.Errorf("%d bytes, %d declared", len(b), n)
			}
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// flatten lists the tensors of a (possibly nested) dict. A dict reached
// twice (shared or cyclic, possible through the memo) is an error, which
// also bounds the work on hostile input.
func (idx *tbIndex) flatten(prefix string, d *pyDict, seen map[string]bool, visited map[*pyDict]bool, depth int) error {
	if depth > 8 {
		return fmt.Errorf("%w: dicts nested too deeply", ErrUnsupportedPickle)
	}
	if visited[d] {
		return fmt.Errorf("%w: a dict is reachable twice (under %q)", ErrUnsupportedPickle, strings.TrimSuffix(prefix, "."))
	}
	visited[d] = true
	for _, k := range d.keys {
		v := d.vals[k]
		ks, isStr := k.(string)
		switch v := v.(type) {
		case *torchTensor:
			if !isStr {
				return fmt.Errorf("%w: tensor under a key of type %s", ErrUnsupportedPickle, pyType(k))
			}
			name := prefix + ks
			if seen[name] {
				return fmt.Errorf("%w: tensor name %q appears twice", ErrCorrupt, name)
			}
			seen[name] = true
			idx.entries = append(idx.entries, tbEntry{name, v})
		case *pyDict:
			if isStr {
				if err := idx.flatten(prefix+ks+".", v, seen, visited, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// storageRecord validates a tensor against its storage record and returns
// the record and the storage's element size.
func (idx *tbIndex) storageRecord(e tbEntry) (*zip.File, int, error) {
	t := e.t
	st, ok := torchStorageTypes[t.storage.typ]
	if !ok {
		return nil, 0, fmt.Errorf("tensor %q: %w: torch.%s", e.name, ErrUnsupportedDType, t.storage.typ)
	}
	zf := idx.files[idx.prefix+"data/"+t.storage.key]
	if zf == nil {
		return nil, 0, fmt.Errorf("tensor %q: %w", e.name, corruptf("no record %sdata/%s", idx.prefix, t.storage.key))
	}
	if t.storage.numel > math.MaxInt64/int64(st.size) || zf.UncompressedSize64 != uint64(t.storage.numel*int64(st.size)) {
		return nil, 0, fmt.Errorf("tensor %q: %w", e.name, corruptf("record %q has %d bytes, storage of %d × %d bytes declared", zf.Name, zf.UncompressedSize64, t.storage.numel, st.size))
	}
	shape := make([]int, len(t.shape))
	for i, d := range t.shape {
		if d > math.MaxInt32 {
			return nil, 0, fmt.Errorf("tensor %q: %w", e.name, corruptf("size %v", t.shape))
		}
		shape[i] = int(d)
	}
	n, ok := numel(shape)
	if !ok {
		return nil, 0, fmt.Errorf("tensor %q: %w", e.name, corruptf("size %v is too large", t.shape))
	}
	// A view may not hold more elements than its storage (an expanded,
	// stride-0 view would let a tiny file demand any amount of memory).
	if int64(n) > t.storage.numel {
		return nil, 0, fmt.Errorf("tensor %q: %w", e.name, corruptf("view of %d elements (size %v, stride %v) is larger than its storage of %d; broadcast views are not supported", n, t.shape, t.stride, t.storage.numel))
	}
	if n > 0 {
		// Highest element index the view touches.
		last := t.offset
		for i, d := range t.shape {
			if t.stride[i] > math.MaxInt64/4/d || last > math.MaxInt64/4 {
				return nil, 0, fmt.Errorf("tensor %q: %w", e.name, corruptf("stride %v out of range", t.stride))
			}
			last += (d - 1) * t.stride[i]
		}
		if last >= t.storage.numel {
			return nil, 0, fmt.Errorf("tensor %q: %w", e.name, corruptf("view (offset %d, size %v, stride %v) runs past its storage of %d elements", t.offset, t.shape, t.stride, t.storage.numel))
		}
	}
	return zf, st.size, nil
}

// load reads the named tensors. Storage records shared by several tensors
// are read once.
func (idx *tbIndex) load(names []string) (map[string]*Tensor, error) {
	byName := map[string]tbEntry{}
	for _, e := range idx.entries {
		byName[e.name] = e
	}
	files := idx.files
	// Group by storage so that each record is read once, then dropped.
	sorted := append([]string(nil), names...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := byName[sorted[i]], byName[sorted[j]]
		if a.t == nil || b.t == nil {
			return sorted[i] < sorted[j]
		}
		if a.t.storage.key != b.t.storage.key {
			return a.t.storage.key < b.t.storage.key
		}
		return sorted[i] < sorted[j]
	})
	out := make(map[string]*Tensor, len(names))
	var (
		curKey string
		cur    []byte
		err    error
	)
	for _, name := range sorted {
		e, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("pytorch checkpoint %s: no tensor %q", idx.path, name)
		}
		st := torchStorageTypes[e.t.storage.typ]
		if !st.ok {
			return nil, fmt.Errorf("pytorch checkpoint %s: tensor %q: %w: torch.%s (supported: Float, Half, BFloat16)", idx.path, name, ErrUnsupportedDType, e.t.storage.typ)
		}
		if _, _, err := idx.storageRecord(e); err != nil {
			return nil, fmt.Errorf("pytorch checkpoint %s: %w", idx.path, err)
		}
		if st.dtype == F32 && littleEndian && e.t.storage.key != curKey && wholeStorage(e.t) {
			// The common case (one contiguous F32 tensor per storage):
			// read the record straight into the tensor's memory.
			zf := files[idx.prefix+"data/"+e.t.storage.key]
			data := make([]float32, e.t.storage.numel)
			if err := readRecordInto(zf, float32Bytes(data)); err != nil {
				return nil, fmt.Errorf("pytorch checkpoint %s: tensor %q: %w", idx.path, name, err)
			}
			shape := make([]int, len(e.t.shape))
			for i, d := range e.t.shape {
				shape[i] = int(d)
			}
			out[name] = &Tensor{Name: name, Shape: shape, Data: data}
			continue
		}
		if cur == nil || e.t.storage.key != curKey {
			zf := files[idx.prefix+"data/"+e.t.storage.key]
			if zf == nil {
				return nil, fmt.Errorf("pytorch checkpoint %s: tensor %q: %w", idx.path, name, corruptf("no storage record %q", e.t.storage.key))
			}
			if cur, err = readRecord(zf); err != nil {
				return nil, fmt.Errorf("pytorch checkpoint %s: tensor %q: %w", idx.path, name, err)
			}
			curKey = e.t.storage.key
		}
		out[name] = gather(name, e.t, cur, st.dtype)
	}
	return out, nil
}

// wholeStorage reports whether t is a contiguous view of its entire storage.
func wholeStorage(t *torchTensor) bool {
	if t.offset != 0 {
		return false
	}
	want := int64(1)
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.stride[i] != want {
			return false
		}
		want *= t.shape[i]
	}
	return want == t.storage.numel
}

// readRecordInto reads a record of exactly len(dst) bytes into dst and on
// to EOF, so that the zip reader verifies its CRC.
func readRecordInto(zf *zip.File, dst []byte) error {
	if zf.UncompressedSize64 != uint64(len(dst)) {
		return corruptf("record %q has %d bytes, want %d", zf.Name, zf.UncompressedSize64, len(dst))
	}
	rc, err := zf.Open()
	if err != nil {
		return corruptf("record %q: %v", zf.Name, err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, dst); err != nil {
		return corruptf("record %q: %v", zf.Name, err)
	}
	var one [1]byte
	if n, err := rc.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("more data than the %d bytes declared", len(dst))
		}
		return corruptf("record %q: %v", zf.Name, err)
	}
	return nil
}

// gather copies a (possibly strided) view out of raw storage bytes.
func gather(name string, t *torchTensor, raw []byte, dt DType) *Tensor {
	shape := make([]int, len(t.shape))
	for i, d := range t.shape {
		shape[i] = int(d)
	}
	n, _ := numel(shape)
	data := make([]float32, n)
	es := dt.Size()
	// Contiguous (C order, ignoring size-1 dimensions)?
	contiguous := true
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.stride[i] != want {
			contiguous = false
			break
		}
		want *= t.shape[i]
	}
	if n == 0 {
		return &Tensor{Name: name, Shape: shape, Data: data}
	}
	if contiguous {
		off := int(t.offset) * es
		decodeElems(data, raw[off:off+n*es], dt)
		return &Tensor{Name: name, Shape: shape, Data: data}
	}
	idx := make([]int64, len(shape))
	one := make([]float32, 1)
	for i := range data {
		pos := t.offset
		for d := range idx {
			pos += idx[d] * t.stride[d]
		}
		off := int(pos) * es
		decodeElems(one, raw[off:off+es], dt)
		data[i] = one[0]
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return &Tensor{Name: name, Shape: shape, Data: data}
}

// WriteTorchBin writes tensors as float32 in the format torch.save uses for
// a state dict (zip of pickle, torch >= 1.6), which torch.load (including
// weights_only=True) and ReadTorchBin read: records archive/data.pkl (an
// OrderedDict of _rebuild_tensor_v2 calls, pickle protocol 2),
// archive/byteorder, archive/data/<i> (one contiguous storage per tensor,
// 64-byte aligned as torch does) and archive/version ("3"). Tensors are
// stored in name order; the file is written atomically.
func WriteTorchBin(path string, tensors []*Tensor) error {
	return WriteTorchBinDType(path, tensors, F32)
}

// WriteTorchBinDType is WriteTorchBin with the storage dtype chosen (F32,
// F16 or BF16; the latter two rounded to nearest even).
func WriteTorchBinDType(path string, tensors []*Tensor, dtype DType) error {
	if !dtype.valid() {
		return fmt.Errorf("pytorch checkpoint %s: %w: %v", path, ErrUnsupportedDType, dtype)
	}
	ts, err := sortedTensors(tensors)
	if err != nil {
		return fmt.Errorf("pytorch checkpoint %s: %w", path, err)
	}
	pkl := torchPickle(ts, dtype)
	return atomicfile.Write(path, func(f io.Writer) error {
		cw := &countWriter{w: bufio.NewWriterSize(f, 1<<20)}
		zw := zip.NewWriter(cw)
		var buf []byte
		add := func(name string, size int64, write func(w io.Writer) error) error {
			// Compute the CRC first (a second pass over the data) so that the
			// local header carries sizes and no data descriptor is needed.
			h := crc32.NewIEEE()
			if err := write(h); err != nil {
				return err
			}
			if err := zw.Flush(); err != nil {
				return err
			}
			full := "archive/" + name
			// Pad the local header with an extra field ("FB", as torch) so
			// that the data starts on a 64-byte boundary.
			hdrEnd := cw.n + 30 + int64(len(full)) + 4
			pad := (64 - hdrEnd%64) % 64
			extra := make([]byte, 4+pad)
			copy(extra, "FB")
			binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
			for i := 4; i < len(extra); i++ {
				extra[i] = 'Z'
			}
			w, err := zw.CreateRaw(&zip.FileHeader{
				Name: full, Method: zip.Store, Extra: extra, CRC32: h.Sum32(),
				CompressedSize64: uint64(size), UncompressedSize64: uint64(size),
			})
			if err != nil {
				return err
			}
			return write(w)
		}
		bytesRecord := func(b []byte) func(w io.Writer) error {
			return func(w io.Writer) error { _, err := w.Write(b); return err }
		}
		if err := add("data.pkl", int64(len(pkl)), bytesRecord(pkl)); err != nil {
			return err
		}
		if err := add("byteorder", 6, bytesRecord([]byte("little"))); err != nil {
			return err
		}
		for i, t := range ts {
			t := t
			err := add(fmt.Sprintf("data/%d", i), int64(len(t.Data)*dtype.Size()), func(w io.Writer) error {
				var err error
				buf, err = writeElems(w, t.Data, dtype, buf)
				return err
			})
			if err != nil {
				return err
			}
		}
		if err := add("version", 2, bytesRecord([]byte("3\n"))); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		return cw.w.(*bufio.Writer).Flush()
	})
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pickleWriter emits pickle protocol 2 opcodes.
type pickleWriter struct{ bytes.Buffer }

func (p *pickleWriter) op(b ...byte) { p.Write(b) }

func (p *pickleWriter) global(module, name string) {
	p.WriteByte('c')
	p.WriteString(module + "\n" + name + "\n")
}

func (p *pickleWriter) str(s string) {
	p.WriteByte('X')
	p.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.WriteString(s)
}

func (p *pickleWriter) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.op('K', byte(v))
	case v >= 0 && v < 1<<16:
		p.op('M', byte(v), byte(v>>8))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.WriteByte('J')
		p.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	default:
		p.op(0x8a, 8)
		p.Write(binary.LittleEndian.AppendUint64(nil, uint64(v)))
	}
}

func (p *pickleWriter) intTuple(xs []int64) {
	if len(xs) == 0 {
		p.op(')')
		return
	}
	p.op('(')
	for _, x := range xs {
		p.int(x)
	}
	p.op('t')
}

// torchPickle builds data.pkl for tensors stored one per record, record i
// holding tensor i.
func torchPickle(ts []*Tensor, dtype DType) []byte {
	storage := map[DType]string{F32: "FloatStorage", F16: "HalfStorage", BF16: "BFloat16Storage"}[dtype]
	var p pickleWriter
	p.op(0x80, 2)
	p.global("collections", "OrderedDict")
	p.op(')', 'R')
	const batch = 1000 // as pickle batches SETITEMS
	for i, t := range ts {
		if i%batch == 0 {
			p.op('(')
		}
		p.str(t.Name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op('(')
		// persistent id ('storage', torch.XStorage, key, 'cpu', numel)
		p.op('(')
		p.str("storage")
		p.global("torch", storage)
		p.str(fmt.Sprint(i))
		p.str("cpu")
		p.int(int64(len(t.Data)))
		p.op('t', 'Q')
		p.int(0) // storage offset
		shape := make([]int64, len(t.Shape))
		stride := make([]int64, len(t.Shape))
		s := int64(1)
		for d := len(t.Shape) - 1; d >= 0; d-- {
			shape[d] = int64(t.Shape[d])
			stride[d] = s
			s *= int64(t.Shape[d])
		}
		p.intTuple(shape)
		p.intTuple(stride)
		p.op(0x89) // requires_grad False
		p.global("collections", "OrderedDict")
		p.op(')', 'R') // backward_hooks
		p.op('t', 'R')
		if i%batch == batch-1 || i == len(ts)-1 {
			p.op('u')
		}
	}
	p.op('.')
	return p.Bytes()
}
