package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// maxSafetensorsHeader bounds the JSON header, as the reference
// implementation does (100 MB).
const maxSafetensorsHeader = 100 << 20

// stEntry is one tensor of a safetensors header.
type stEntry struct {
	name       string
	dtype      DType
	dtypeName  string
	shape      []int
	begin, end int64 // relative to the start of the data section
}

// stIndex is a parsed and validated safetensors header.
type stIndex struct {
	path     string // for error messages
	r        io.ReaderAt
	closer   io.Closer // nil for in-memory input
	dataOff  int64     // absolute file offset of the data section
	entries  []stEntry
	metadata map[string]string
}

// ReadSafetensors reads every tensor of a .safetensors file, converting F16
// and BF16 to float32. The file is checked strictly: a sane header length,
// valid JSON without duplicate names, offsets that tile the data section
// exactly (in range, no overlap, no hole, nothing after), and byte sizes equal
// to prod(shape) times the dtype size. A tensor of any dtype other than F32,
// F16 or BF16 is an error naming it. The __metadata__ entry is ignored (see
// ReadSafetensorsMetadata).
func ReadSafetensors(path string) (map[string]*Tensor, error) {
	idx, err := openSafetensors(path)
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

// ReadSafetensorsMetadata returns the string-to-string __metadata__ map of a
// .safetensors file (nil when absent), after validating the header as
// ReadSafetensors does, without reading tensor data.
func ReadSafetensorsMetadata(path string) (map[string]string, error) {
	idx, err := openSafetensors(path)
	if err != nil {
		return nil, err
	}
	idx.close()
	return idx.metadata, nil
}

// openSafetensors opens and validates a file; the caller closes the index.
func openSafetensors(path string) (*stIndex, error) {
	idx, f, err := openParsed(path, "safetensors", parseSafetensorsHeader)
	if err != nil {
		return nil, err
	}
	idx.path, idx.closer = path, f
	return idx, nil
}

func (idx *stIndex) close() {
	if idx.closer != nil {
		idx.closer.Close()
	}
}

// openParsed opens path and parses it with parse (given the file and its
// size); on success the caller owns the file. Errors are prefixed with
// what (the format) and the path.
func openParsed[T any](path, what string, parse func(io.ReaderAt, int64) (T, error)) (T, *os.File, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, nil, fmt.Errorf("%s: %w", what, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return zero, nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	idx, err := parse(f, st.Size())
	if err != nil {
		f.Close()
		return zero, nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return idx, f, nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// parseSafetensorsHeader reads and validates the header of a file of the
// given size.
func parseSafetensorsHeader(r io.ReaderAt, size int64) (*stIndex, error) {
	var lenBuf [8]byte
	if size < 8 {
		return nil, corruptf("file of %d bytes is too short for the 8-byte header length", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, corruptf("reading header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxSafetensorsHeader {
		return nil, corruptf("header length %d exceeds %d bytes", n, maxSafetensorsHeader)
	}
	if int64(n) > size-8 {
		return nil, corruptf("header length %d runs past the end of the %d-byte file (truncated?)", n, size)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, corruptf("reading header: %v", err)
	}
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, corruptf("header does not start with '{'")
	}
	idx := &stIndex{r: r, dataOff: 8 + int64(n)}
	raw, err := decodeObject(hdr)
	if err != nil {
		return nil, corruptf("header JSON: %v", err)
	}
	dataSize := size - idx.dataOff
	for _, kv := range raw {
		if kv.key == "__metadata__" {
			var md map[string]string
			if err := json.Unmarshal(kv.val, &md); err != nil {
				return nil, corruptf("__metadata__ must map strings to strings: %v", err)
			}
			idx.metadata = md
			continue
		}
		e, err := parseEntry(kv.key, kv.val)
		if err != nil {
			return nil, err
		}
		idx.entries = append(idx.entries, e)
	}
	// Offsets must tile [0, dataSize) exactly.
	order := make([]stEntry, len(idx.entries))
	copy(order, idx.entries)
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].begin != order[j].begin {
			return order[i].begin < order[j].begin
		}
		return order[i].end < order[j].end
	})
	var pos int64
	for _, e := range order {
		if e.begin != pos {
			if e.begin < pos {
				return nil, corruptf("tensor %q: data_offsets [%d, %d] overlap the previous tensor (ends at %d)", e.name, e.begin, e.end, pos)
			}
			return nil, corruptf("tensor %q: data_offsets [%d, %d] leave a hole after offset %d", e.name, e.begin, e.end, pos)
		}
		if e.end > dataSize {
			return nil, corruptf("tensor %q: data_offsets [%d, %d] run past the %d-byte data section (truncated?)", e.name, e.begin, e.end, dataSize)
		}
		pos = e.end
	}
	if pos != dataSize {
		return nil, corruptf("data section has %d bytes but tensors cover %d", dataSize, pos)
	}
	sort.Slice(idx.entries, func(i, j int) bool { return idx.entries[i].name < idx.entries[j].name })
	return idx, nil
}

type rawKV struct {
	key string
	val json.RawMessage
}

// decodeObject decodes a JSON object keeping key order and rejecting
// duplicate keys and trailing content (whitespace excepted).
func decodeObject(b []byte) ([]rawKV, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("expected an object")
	}
	seen := map[string]bool{}
	var out []rawKV
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("expected a key")
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("value of %q: %w", key, err)
		}
		out = append(out, rawKV{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("content after the header object")
	}
	return out, nil
}

func parseEntry(name string, val json.RawMessage) (stEntry, error) {
	var info struct {
		Dtype       *string   `json:"dtype"`
		Shape       *[]int64  `json:"shape"`
		DataOffsets *[]uint64 `json:"data_offsets"`
	}
	e := stEntry{name: name}
	if err := json.Unmarshal(val, &info); err != nil {
		return e, corruptf("tensor %q: %v", name, err)
	}
	if info.Dtype == nil || info.Shape == nil || info.DataOffsets == nil {
		return e, corruptf("tensor %q: entry needs dtype, shape and data_offsets", name)
	}
	e.dtypeName = *info.Dtype
	dt, err := ParseDType(e.dtypeName)
	if err != nil {
		return e, fmt.Errorf("tensor %q: %w", name, err)
	}
	e.dtype = dt
	e.shape = make([]int, len(*info.Shape))
	for i, d := range *info.Shape {
		if d < 0 || d > math.MaxInt32 {
			return e, corruptf("tensor %q: invalid dimension %d in shape %v", name, d, *info.Shape)
		}
		e.shape[i] = int(d)
	}
	n, ok := numel(e.shape)
	if !ok {
		return e, corruptf("tensor %q: shape %v is too large", name, e.shape)
	}
	off := *info.DataOffsets
	if len(off) != 2 {
		return e, corruptf("tensor %q: data_offsets must have 2 values, has %d", name, len(off))
	}
	if off[0] > off[1] || off[1] > math.MaxInt64/2 {
		return e, corruptf("tensor %q: invalid data_offsets [%d, %d]", name, off[0], off[1])
	}
	e.begin, e.end = int64(off[0]), int64(off[1])
	if want := int64(n) * int64(dt.Size()); e.end-e.begin != want {
		return e, corruptf("tensor %q: %s%v needs %d bytes, data_offsets [%d, %d] give %d", name, dt, e.shape, want, e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}

// load reads the named tensors (which must be in the index).
func (idx *stIndex) load(names []string) (map[string]*Tensor, error) {
	byName := make(map[string]*stEntry, len(idx.entries))
	for i := range idx.entries {
		byName[idx.entries[i].name] = &idx.entries[i]
	}
	out := make(map[string]*Tensor, len(names))
	var buf []byte
	for _, name := range names {
		e := byName[name]
		if e == nil {
			return nil, fmt.Errorf("safetensors %s: no tensor %q", idx.path, name)
		}
		nb := int(e.end - e.begin)
		if e.dtype == F32 && littleEndian {
			// Read straight into the tensor's memory.
			data := make([]float32, nb/4)
			if _, err := idx.r.ReadAt(float32Bytes(data), idx.dataOff+e.begin); err != nil {
				return nil, fmt.Errorf("safetensors %s: tensor %q: %w", idx.path, name, corruptf("reading data: %v", err))
			}
			out[name] = &Tensor{Name: name, Shape: append([]int{}, e.shape...), Data: data}
			continue
		}
		if cap(buf) < nb {
			buf = make([]byte, nb)
		}
		buf = buf[:nb]
		if _, err := idx.r.ReadAt(buf, idx.dataOff+e.begin); err != nil {
			return nil, fmt.Errorf("safetensors %s: tensor %q: %w", idx.path, name, corruptf("reading data: %v", err))
		}
		data := make([]float32, nb/e.dtype.Size())
		decodeElems(data, buf, e.dtype)
		out[name] = &Tensor{Name: name, Shape: append([]int{}, e.shape...), Data: data}
	}
	return out, nil
}

// decodeElems converts little-endian elements of dtype dt in src to dst
// (len(src) == len(dst)*dt.Size()).
func decodeElems(dst []float32, src []byte, dt DType) {
	switch dt {
	case F32:
		if littleEndian {
			copy(float32Bytes(dst), src)
			return
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	default:
		panic("checkpoint: decodeElems with invalid dtype")
	}
}

// encodeElems appends src converted to little-endian dtype dt to dst.
func encodeElems(dst []byte, src []float32, dt DType) []byte {
	switch dt {
	case F32:
		for _, v := range src {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
		}
	case F16:
		for _, v := range src {
			dst = binary.LittleEndian.AppendUint16(dst, Float32ToF16(v))
		}
	case BF16:
		for _, v := range src {
			dst = binary.LittleEndian.AppendUint16(dst, Float32ToBF16(v))
		}
	default:
		panic("checkpoint: encodeElems with invalid dtype")
	}
	return dst
}

// writeElems writes src as dtype dt to w in chunks.
func writeElems(w io.Writer, src []float32, dt DType, buf []byte) ([]byte, error) {
	const chunk = 1 << 16
	for len(src) > 0 {
		n := min(chunk, len(src))
		buf = encodeElems(buf[:0], src[:n], dt)
		if _, err := w.Write(buf); err != nil {
			return buf, err
		}
		src = src[n:]
	}
	return buf, nil
}

// sortedTensors validates tensors and returns them sorted by name, rejecting
// duplicates.
func sortedTensors(tensors []*Tensor) ([]*Tensor, error) {
	ts := make([]*Tensor, len(tensors))
	copy(ts, tensors)
	for _, t := range ts {
		if err := t.check(); err != nil {
			return nil, err
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	for i := 1; i < len(ts); i++ {
		if ts[i].Name == ts[i-1].Name {
			return nil, fmt.Errorf("duplicate tensor name %q", ts[i].Name)
		}
	}
	return ts, nil
}

// WriteSafetensors writes tensors to a .safetensors file, converting them to
// dtype (F16 and BF16 round to nearest even). Tensors are laid out in name
// order, the header lists __metadata__ (when non-empty) and the tensors, and
// it is padded with spaces so that the data section starts at a multiple of
// 8 bytes. The file is written to a temporary file and renamed into place.
func WriteSafetensors(path string, tensors []*Tensor, dtype DType, metadata map[string]string) error {
	if !dtype.valid() {
		return fmt.Errorf("safetensors %s: %w: %v", path, ErrUnsupportedDType, dtype)
	}
	ts, err := sortedTensors(tensors)
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	hdr, err := safetensorsHeader(ts, dtype, metadata)
	if err != nil {
		return fmt.Errorf("safetensors %s: %w", path, err)
	}
	return atomicfile.Write(path, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		var lenBuf [8]byte
		binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
		w.Write(lenBuf[:])
		w.Write(hdr)
		var buf []byte
		for _, t := range ts {
			if buf, err = writeElems(w, t.Data, dtype, buf); err != nil {
				return err
			}
		}
		return w.Flush()
	})
}

func safetensorsHeader(ts []*Tensor, dtype DType, metadata map[string]string) ([]byte, error) {
	type entry struct {
		Dtype       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		b.WriteString(`"__metadata__":`)
		if err := enc.Encode(metadata); err != nil { // maps encode in sorted key order
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		first = false
	}
	var off int64
	for _, t := range ts {
		if t.Name == "__metadata__" {
			return nil, fmt.Errorf("tensor name %q is reserved", t.Name)
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		if err := enc.Encode(t.Name); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1)
		b.WriteByte(':')
		n := int64(len(t.Data)) * int64(dtype.Size())
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		if err := enc.Encode(entry{dtype.String(), shape, [2]int64{off, off + n}}); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1)
		off += n
	}
	b.WriteByte('}')
	if pad := (8 - b.Len()%8) % 8; pad > 0 {
		b.WriteString(strings.Repeat(" ", pad))
	}
	return b.Bytes(), nil
}
