package vector

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"unsafe"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// A float file holds the float32 vectors of a codes-only index beside it,
// for an exact re-rank that reads them through a memory map instead of the
// heap (AttachFloats): only the pages of the candidates re-scored are ever
// read, and they live in the page cache, not in the process's heap.
//
// Layout (little-endian):
//
//	header  64 bytes: "CTVF", version u32 (1), dim u32, 0 u32, n u64,
//	        ids section length u64, zero padding
//	floats  n × dim float32 rows (row i is the vector of ids[i]); they
//	        start at byte 64, so the mapped rows are aligned
//	ids     n × (uvarint length, bytes)
//	trailer CRC-32C of header and ids u32, CRC-32C of the floats u32, "CTVE"
//
// Opening checks the header, the size, the ids and their checksum, which
// is cheap; the floats' checksum needs a full read (3 GB at 1M × 768), so
// it is checked when the file is written (WriteFloatFile reads nothing
// back, but computes it from the data it writes) and on demand by Verify
// (bench scale and tests call it); a flipped byte in the floats is caught
// there, not by OpenFloatFile.

const (
	floatFileMagic   = "CTVF"
	floatFileEnd     = "CTVE"
	floatFileVersion = 1
	floatFileHeader  = 64
	floatFileTrailer = 12
)

// WriteFloatFile writes ids and their vectors (n×dim, row-major) as a
// float file at path (temporary file, then rename).
func WriteFloatFile(path string, dim int, ids []string, vecs []float32) error {
	if dim <= 0 || len(vecs) != len(ids)*dim {
		return fmt.Errorf("vector: float file: %d ids, %d floats, dim %d: %w", len(ids), len(vecs), dim, ErrDimension)
	}
	return writeFloatFile(path, dim, ids, func(i int) ([]float32, error) { return vecs[i*dim : (i+1)*dim], nil })
}

// WriteFloatFile writes the float file of the codes-only index x, with its
// vectors in x's own order (list after list), so that AttachFloats needs
// no id lookup: vec returns the float vector of an id (dim floats; an
// error names an id it does not know). Opening and attaching such a file
// is the fast path of a large index (about 0.1 s at 1M vectors, against a
// second or more for a file in another order).
func (x *IVF) WriteFloatFile(path string, vec func(id string) ([]float32, error)) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ids := make([]string, 0, x.n)
	for l := range x.lists {
		ids = append(ids, x.lists[l].ids...)
	}
	return writeFloatFile(path, x.dim, ids, func(i int) ([]float32, error) {
		v, err := vec(ids[i])
		if err == nil && len(v) != x.dim {
			err = fmt.Errorf("vector: float file: id %q: %d floats, want %d: %w", ids[i], len(v), x.dim, ErrDimension)
		}
		return v, err
	})
}

// writeFloatFile writes a float file whose row i is row(i), for the ids.
// An error of row fails the write (nothing is left at path).
func writeFloatFile(path string, dim int, ids []string, row func(i int) ([]float32, error)) error {
	var idsLen int
	var tmp [binary.MaxVarintLen64]byte
	for _, id := range ids {
		idsLen += binary.PutUvarint(tmp[:], uint64(len(id))) + len(id)
	}
	hdr := make([]byte, floatFileHeader)
	copy(hdr, floatFileMagic)
	binary.LittleEndian.PutUint32(hdr[4:], floatFileVersion)
	binary.LittleEndian.PutUint32(hdr[8:], uint32(dim))
	binary.LittleEndian.PutUint64(hdr[16:], uint64(len(ids)))
	binary.LittleEndian.PutUint64(hdr[24:], uint64(idsLen))
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		meta := crc32.Update(0, castagnoli, hdr)
		if _, err := bw.Write(hdr); err != nil {
			return err
		}
		var fsum uint32
		buf := make([]byte, 0, 1<<16)
		for i := 0; i < len(ids); {
			buf = buf[:0]
			// Whole rows while they fit, and at least one.
			for ; i < len(ids) && (len(buf) == 0 || len(buf)+4*dim <= cap(buf)); i++ {
				r, err := row(i)
				if err != nil {
					return err
				}
				for _, v := range r {
					buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				}
			}
			fsum = crc32.Update(fsum, castagnoli, buf)
			if _, err := bw.Write(buf); err != nil {
				return err
			}
		}
		for _, id := range ids {
			n := binary.PutUvarint(tmp[:], uint64(len(id)))
			meta = crc32.Update(meta, castagnoli, tmp[:n])
			meta = crc32.Update(meta, castagnoli, []byte(id))
			bw.Write(tmp[:n])
			if _, err := bw.WriteString(id); err != nil {
				return err
			}
		}
		var tr [floatFileTrailer]byte
		binary.LittleEndian.PutUint32(tr[0:], meta)
		binary.LittleEndian.PutUint32(tr[4:], fsum)
		copy(tr[8:], floatFileEnd)
		if _, err := bw.Write(tr[:]); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// FloatFile is an open, memory-mapped float file.
type FloatFile struct {
	path string
	data []byte    // the whole file, mapped read-only
	vecs []float32 // n×dim, over data
	dim  int
	ids  []string
	fsum uint32
}

// OpenFloatFile maps the float file at path and checks its header, size,
// ids and their checksum (not the floats': see Verify).
func OpenFloatFile(path string) (*FloatFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("vector: float file %s: %s: %w", path, fmt.Sprintf(format, a...), ErrCorrupt)
	}
	if size < floatFileHeader+floatFileTrailer {
		return nil, bad("%d bytes, too short", size)
	}
	hdr := make([]byte, floatFileHeader)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("vector: float file %s: %w", path, err)
	}
	if !littleEndian {
		return nil, fmt.Errorf("vector: float file %s: mapped rows need a little-endian machine", path)
	}
	if string(hdr[:4]) != floatFileMagic {
		return nil, bad("not a float file")
	}
	if v := binary.LittleEndian.Uint32(hdr[4:]); v != floatFileVersion {
		return nil, bad("version %d (this build reads %d)", v, floatFileVersion)
	}
	dim := int64(binary.LittleEndian.Uint32(hdr[8:]))
	n := binary.LittleEndian.Uint64(hdr[16:])
	idsLen := binary.LittleEndian.Uint64(hdr[24:])
	if dim <= 0 || dim > maxDim || n > uint64(size) || idsLen > uint64(size) {
		return nil, bad("dim %d, %d rows, ids %d bytes", dim, n, idsLen)
	}
	floatBytes := int64(n) * dim * 4
	if want := floatFileHeader + floatBytes + int64(idsLen) + floatFileTrailer; floatBytes/4/dim != int64(n) || want != size {
		return nil, bad("%d bytes, want %d for %d rows of %d", size, want, n, dim)
	}
	tail := make([]byte, int(idsLen)+floatFileTrailer)
	if _, err := f.ReadAt(tail, floatFileHeader+floatBytes); err != nil {
		return nil, fmt.Errorf("vector: float file %s: %w", path, err)
	}
	tr := tail[idsLen:]
	if string(tr[8:]) != floatFileEnd {
		return nil, bad("no end marker")
	}
	meta := crc32.Update(crc32.Update(0, castagnoli, hdr), castagnoli, tail[:idsLen])
	if meta != binary.LittleEndian.Uint32(tr[0:]) {
		return nil, bad("header or ids checksum mismatch")
	}
	// The ids are substrings of one string holding the whole section
	// (one allocation rather than one an id).
	ids := make([]string, 0, n)
	blob := string(tail[:idsLen])
	for off := 0; off < len(blob); {
		l, k := binary.Uvarint(tail[off:idsLen])
		if k <= 0 || l > uint64(len(blob)-off-k) {
			return nil, bad("id %d: bad length", len(ids))
		}
		ids = append(ids, blob[off+k:off+k+int(l)])
		off += k + int(l)
	}
	if uint64(len(ids)) != n {
		return nil, bad("%d ids for %d rows", len(ids), n)
	}
	data, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("vector: float file %s: mmap: %w", path, err)
	}
	ff := &FloatFile{path: path, data: data, dim: int(dim), ids: ids, fsum: binary.LittleEndian.Uint32(tr[4:])}
	if n > 0 {
		ff.vecs = unsafe.Slice((*float32)(unsafe.Pointer(&data[floatFileHeader])), int(n)*int(dim))
	}
	return ff, nil
}

// Dim returns the dimension of the vectors.
func (f *FloatFile) Dim() int { return f.dim }

// Len returns the number of vectors.
func (f *FloatFile) Len() int { return len(f.ids) }

// IDs returns the ids, row by row (not to be modified).
func (f *FloatFile) IDs() []string { return f.ids }

// Row returns the mapped vector of row i (not to be modified).
func (f *FloatFile) Row(i int) []float32 { return f.vecs[i*f.dim : (i+1)*f.dim] }

// Verify reads every float and checks their checksum: a full read of the
// file, for when its bytes may have changed since it was written.
func (f *FloatFile) Verify() error {
	if f.data == nil {
		return errors.New("vector: float file closed")
	}
	n := int64(len(f.ids)) * int64(f.dim) * 4
	if crc32.Checksum(f.data[floatFileHeader:floatFileHeader+n], castagnoli) != f.fsum {
		return fmt.Errorf("vector: float file %s: floats checksum mismatch: %w", f.path, ErrCorrupt)
	}
	return nil
}

// Close unmaps the file. An index it is attached to must not be searched
// afterwards.
func (f *FloatFile) Close() error {
	if f.data == nil {
		return nil
	}
	err := unmapFile(f.data)
	f.data, f.vecs = nil, nil
	return err
}

// AttachFloats makes a codes-only IVF index (WithCodesOnly) re-rank its
// best candidates exactly (SetRerank; DefaultRerankFactor·k by default)
// from the mapped rows of f instead of returning approximate scores. Every
// id of the index must be in f, with f's dimension; rows of f the index
// does not hold are ignored. For Cosine the rows are normalised as they
// are read. The index keeps f (and an int32 row number per vector): Remove
// keeps them in step, Add detaches f (the new vectors have no row in it),
// and f must stay open while the index is searched.
func (x *IVF) AttachFloats(f *FloatFile) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.o.codesOnly {
		return fmt.Errorf("vector: AttachFloats: the index keeps its floats (not codes only): %w", ErrInvalid)
	}
	if f.Dim() != x.dim {
		return fmt.Errorf("vector: AttachFloats: float file of dim %d, index of dim %d: %w", f.Dim(), x.dim, ErrDimension)
	}
	ext := make([][]int32, len(x.lists))
	if !x.sameOrder(f, ext) {
		row := make(map[string]int32, len(f.ids))
		for i, id := range f.ids {
			row[id] = int32(i)
		}
		for l := range x.lists {
			ext[l] = make([]int32, len(x.lists[l].ids))
			for j, id := range x.lists[l].ids {
				r, ok := row[id]
				if !ok {
					return fmt.Errorf("vector: AttachFloats: id %q is not in %s: %w", id, f.path, ErrInvalid)
				}
				ext[l][j] = r
			}
		}
	}
	for l := range x.lists {
		x.lists[l].ext = ext[l]
	}
	x.ext = f
	return nil
}

// detachFloats drops the attached float file (under the write lock).
// sameOrder reports whether f holds exactly x's ids in x's order, list
// after list (as IVF.WriteFloatFile writes them), and if so fills ext with
// the rows (no map needed).
func (x *IVF) sameOrder(f *FloatFile, ext [][]int32) bool {
	if len(f.ids) != x.n {
		return false
	}
	r := 0
	for l := range x.lists {
		for _, id := range x.lists[l].ids {
			if f.ids[r] != id {
				return false
			}
			r++
		}
	}
	all := make([]int32, x.n)
	for i := range all {
		all[i] = int32(i)
	}
	r = 0
	for l := range x.lists {
		n := len(x.lists[l].ids)
		ext[l] = all[r : r+n : r+n]
		r += n
	}
	return true
}

func (x *IVF) detachFloats() {
	x.ext = nil
	for l := range x.lists {
		x.lists[l].ext = nil
	}
}

// Floats returns the attached float file, or nil.
func (x *IVF) Floats() *FloatFile {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.ext
}

// exactRow returns the float vector of row off of list l for the exact
// re-rank: the list's own floats, else the attached file's row (nil when
// neither exists). For Cosine a mapped row is normalised into buf.
func (x *IVF) exactRow(l *ivfList, off int, buf []float32) []float32 {
	d := x.dim
	if l.vecs != nil {
		return l.vecs[off*d : (off+1)*d]
	}
	r := x.ext.Row(int(l.ext[off]))
	if x.o.metric != Cosine {
		return r
	}
	copy(buf, r)
	normalizeRows(buf[:d], d)
	return buf[:d]
}

// Vectors calls fn with each list's float vectors (row-major) and their
// ids, under the read lock, for exports; it returns false without calling
// fn when the index keeps no floats (codes only).
func (x *IVF) Vectors(fn func(vecs []float32, ids []string)) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.o.codesOnly {
		return false
	}
	for l := range x.lists {
		if len(x.lists[l].ids) > 0 {
			fn(x.lists[l].vecs, x.lists[l].ids)
		}
	}
	return true
}

// DropFloatFileCache asks the kernel to drop the float file at path from
// the page cache (its clean pages: a file just written and synced, as
// WriteFloatFile leaves it), so that the pages resident afterwards are the
// ones searches read: a cold start, for benchmarks that measure the
// re-rank's working set. A hint: where it is not supported it does nothing.
func DropFloatFileCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return dropCache(f)
}
