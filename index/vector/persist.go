package vector

import (
	"bufio"
	"bytes"
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

// File format (all integers little-endian), versions 1 to 3:
//
//	header, 64 bytes:
//	  0  magic "CVECIDX\n"
//	  8  version u32 (1; 2 for an SQ8 IVF index keeping its floats; 3 for
//	     a PQ or codes-only IVF index)
//	 12  kind u8 (1 flat, 2 ivf), metric u8, flags u16 (bit 0: trained,
//	     bit 1: SQ8, versions 2 and 3; bit 2: PQ, bit 3: codes only,
//	     version 3 only)
//	 16  dim u32, 20 nlist u32 (0 for flat)
//	 24  count u64 (stored vectors)
//	 32  nprobe u32, 36 k-means iterations u32
//	 40  k-means seed u64
//	 48  max points per centroid u32
//	 52  versions 1, 2: number of sections u32; version 3: number of
//	     sections u16, then PQ sub-quantisers u16 (0 without PQ)
//	 56  version 1: reserved u32 (0); versions 2, 3: re-rank depth u32
//	 60  CRC32C of bytes 0..60
//	sections, each starting at a multiple of 64 bytes:
//	  0  tag [4]byte, 4 payload length u64, 12 CRC32C of the payload u32,
//	 16  CRC32C of bytes 0..16 u32, 20..32 reserved (0)
//	 32  payload, then zero padding to the next multiple of 64
//
// Sections: flat "IDS ", "VECS"; ivf "CENT" (if trained), "SQ8R" (if SQ8
// and trained), "PQCB" (if PQ and trained), "LSIZ", "IDS ", "CODE"
// (version 3), "VECS" (unless codes only). PQCB holds the M codebooks of
// 256 centroids of dim/M floats, sub-space after sub-space (256·dim
// float32); CODE the codes of the vectors in the order of VECS (dim bytes
// a vector for SQ8, M for PQ). IDS holds count u32 byte lengths
// then the ids' bytes; VECS the vectors as float32 (for IVF list after
// list); CENT nlist×dim float32; SQ8R the quantiser's per-dimension min
// then scale (2×dim float32); LSIZ nlist u64 list sizes. The SQ8 codes are
// not stored: they are a function of VECS and SQ8R and are recomputed at
// load. Indexes without SQ8 are written as version 1, so older readers
// still read them. Every byte of the file is covered by a checksum or must
// be zero, and the file must end after the last section, so any flipped
// byte or truncation is reported as ErrCorrupt.

const (
	magic       = "CVECIDX\n"
	fileVersion = 3 // the newest version this build reads and writes
	headerSize  = 64
	secHdrSize  = 32
	align       = 64
	kindFlat    = 1
	kindIVF     = 2
	flagTrained = 1
	flagSQ8     = 2
	flagPQ      = 4
	flagCodes   = 8
	maxDim      = 1 << 20
	maxNList    = 1 << 24
)

var (
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
	littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	le           = binary.LittleEndian
)

type header struct {
	version      uint32
	kind, metric uint8
	flags        uint16
	dim, nlist   uint32
	count        uint64
	nprobe       uint32
	iters        uint32
	seed         uint64
	maxPer       uint32
	nsec         uint32
	rerank       uint32 // versions 2 and 3
	pqM          uint16 // version 3 only
}

func (h *header) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	le.PutUint32(b[8:], h.version)
	b[12], b[13] = h.kind, h.metric
	le.PutUint16(b[14:], h.flags)
	le.PutUint32(b[16:], h.dim)
	le.PutUint32(b[20:], h.nlist)
	le.PutUint64(b[24:], h.count)
	le.PutUint32(b[32:], h.nprobe)
	le.PutUint32(b[36:], h.iters)
	le.PutUint64(b[40:], h.seed)
	le.PutUint32(b[48:], h.maxPer)
	if h.version >= 3 {
		le.PutUint16(b[52:], uint16(h.nsec))
		le.PutUint16(b[54:], h.pqM)
	} else {
		le.PutUint32(b[52:], h.nsec)
	}
	le.PutUint32(b[56:], h.rerank)
	le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

// f32bytes views v's memory as bytes (no copy).
func f32bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)
}

// section is one section to write: its payload is the concatenation of
// parts (float32 parts are written in little-endian order).
type section struct {
	tag   string
	bytes [][]byte
	f32s  [][]float32
}

func (s *section) length() uint64 {
	var n uint64
	for _, b := range s.bytes {
		n += uint64(len(b))
	}
	for _, f := range s.f32s {
		n += 4 * uint64(len(f))
	}
	return n
}

func (s *section) crc() uint32 {
	var c uint32
	for _, b := range s.bytes {
		c = crc32.Update(c, castagnoli, b)
	}
	for _, f := range s.f32s {
		if littleEndian {
			c = crc32.Update(c, castagnoli, f32bytes(f))
		} else {
			c = crc32.Update(c, castagnoli, leFloats(f))
		}
	}
	return c
}

func leFloats(f []float32) []byte {
	b := make([]byte, 4*len(f))
	for i, v := range f {
		le.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func (s *section) write(w io.Writer) error {
	n := s.length()
	h := make([]byte, secHdrSize)
	copy(h, s.tag)
	le.PutUint64(h[4:], n)
	le.PutUint32(h[12:], s.crc())
	le.PutUint32(h[16:], crc32.Checksum(h[:16], castagnoli))
	if _, err := w.Write(h); err != nil {
		return err
	}
	for _, b := range s.bytes {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	for _, f := range s.f32s {
		b := f32bytes(f)
		if !littleEndian {
			b = leFloats(f)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if pad := padding(n); pad > 0 {
		_, err := w.Write(make([]byte, pad))
		return err
	}
	return nil
}

// padding returns the zero bytes after a payload of n bytes (the section
// header is 32 bytes, sections start 64-aligned).
func padding(n uint64) uint64 {
	end := (secHdrSize + n) % align
	if end == 0 {
		return 0
	}
	return align - end
}

// encodeIDs returns the IDS payload: len(ids) u32 lengths then the bytes.
func encodeIDs(ids [][]string) ([]byte, []byte) {
	var n, total int
	for _, l := range ids {
		n += len(l)
		for _, id := range l {
			total += len(id)
		}
	}
	lens := make([]byte, 4*n)
	blob := make([]byte, 0, total)
	i := 0
	for _, l := range ids {
		for _, id := range l {
			le.PutUint32(lens[4*i:], uint32(len(id)))
			blob = append(blob, id...)
			i++
		}
	}
	return lens, blob
}

// writeFile writes header and sections to path atomically (package
// atomicfile: a temporary file in the same folder, fsynced, renamed over
// path, the folder fsynced).
func writeFile(path string, h header, secs []section) error {
	h.nsec = uint32(len(secs))
	err := atomicfile.Write(path, func(w io.Writer) error {
		if _, err := w.Write(h.encode()); err != nil {
			return err
		}
		for i := range secs {
			if err := secs[i].write(w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vector: save: %w", err)
	}
	return nil
}

// Save writes the index to path (see the file format above); it runs
// concurrently with searches.
func (f *Flat) Save(path string) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	lens, blob := encodeIDs([][]string{f.ids})
	h := header{version: 1, kind: kindFlat, metric: uint8(f.o.metric), dim: uint32(f.dim), count: uint64(len(f.ids))}
	return writeFile(path, h, []section{
		{tag: "IDS ", bytes: [][]byte{lens, blob}},
		{tag: "VECS", f32s: [][]float32{f.vecs}},
	})
}

// Save writes the index to path (see the file format above); it runs
// concurrently with searches.
func (x *IVF) Save(path string) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	h := header{version: 1, kind: kindIVF, metric: uint8(x.o.metric), dim: uint32(x.dim), nlist: uint32(x.nlist),
		count: uint64(x.n), nprobe: uint32(x.NProbe()), iters: uint32(x.o.iters), seed: x.o.seed,
		maxPer: uint32(x.o.maxPerCentr)}
	if x.o.sq8 {
		h.version, h.rerank = 2, uint32(x.Rerank())
		h.flags |= flagSQ8
	}
	v3 := x.o.pqM > 0 || x.o.codesOnly
	if v3 {
		h.version, h.rerank, h.pqM = 3, uint32(x.Rerank()), uint16(x.o.pqM)
		if x.o.pqM > 0 {
			h.flags |= flagPQ
		}
		if x.o.codesOnly {
			h.flags |= flagCodes
		}
	}
	var secs []section
	if x.cents != nil {
		h.flags |= flagTrained
		secs = append(secs, section{tag: "CENT", f32s: [][]float32{x.cents}})
		if x.sq != nil {
			secs = append(secs, section{tag: "SQ8R", f32s: [][]float32{x.sq.min, x.sq.scale}})
		}
		if x.pq != nil {
			secs = append(secs, section{tag: "PQCB", f32s: [][]float32{x.pq.cb}})
		}
	}
	sizes := make([]byte, 8*x.nlist)
	ids := make([][]string, x.nlist)
	vecs := make([][]float32, x.nlist)
	codes := make([][]byte, x.nlist)
	for i, l := range x.lists {
		le.PutUint64(sizes[8*i:], uint64(len(l.ids)))
		ids[i] = l.ids
		vecs[i] = l.vecs
		codes[i] = l.codes
	}
	lens, blob := encodeIDs(ids)
	secs = append(secs,
		section{tag: "LSIZ", bytes: [][]byte{sizes}},
		section{tag: "IDS ", bytes: [][]byte{lens, blob}})
	if v3 {
		secs = append(secs, section{tag: "CODE", bytes: codes})
	}
	if !x.o.codesOnly {
		secs = append(secs, section{tag: "VECS", f32s: vecs})
	}
	return writeFile(path, h, secs)
}

// reader reads an index file of known size, checking every section.
type reader struct {
	r    *bufio.Reader
	name string
	left uint64 // bytes not yet read
	sec  int    // sections read
	nsec int
}

func (r *reader) corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, r.name, fmt.Sprintf(format, a...))
}

func (r *reader) readFull(b []byte, what string) error {
	if uint64(len(b)) > r.left {
		return r.corrupt("truncated in %s (need %d bytes, %d left)", what, len(b), r.left)
	}
	if _, err := io.ReadFull(r.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return r.corrupt("truncated in %s", what)
		}
		return fmt.Errorf("vector: read %s: %w", r.name, err)
	}
	r.left -= uint64(len(b))
	return nil
}

// next reads the header of the next section, which must have the given
// tag and a payload of want bytes (want < 0: any length up to what is
// left). It returns the payload length and its checksum.
func (r *reader) next(tag string, want int64) (uint64, uint32, error) {
	if r.sec >= r.nsec {
		return 0, 0, r.corrupt("section %q missing (header lists %d sections)", tag, r.nsec)
	}
	r.sec++
	h := make([]byte, secHdrSize)
	if err := r.readFull(h, "section header "+tag); err != nil {
		return 0, 0, err
	}
	if crc32.Checksum(h[:16], castagnoli) != le.Uint32(h[16:]) {
		return 0, 0, r.corrupt("section header %q: checksum mismatch", tag)
	}
	if string(h[:4]) != tag {
		return 0, 0, r.corrupt("expected section %q, found %q", tag, h[:4])
	}
	for _, c := range h[20:] {
		if c != 0 {
			return 0, 0, r.corrupt("section %q: reserved bytes not zero", tag)
		}
	}
	n := le.Uint64(h[4:])
	if n > r.left || (want >= 0 && n != uint64(want)) {
		return 0, 0, r.corrupt("section %q: length %d (expected %d, %d bytes left)", tag, n, want, r.left)
	}
	return n, le.Uint32(h[12:]), nil
}

// payload reads a section payload of n bytes into b (len n) and checks it.
func (r *reader) payload(tag string, b []byte, crc uint32) error {
	if err := r.readFull(b, "section "+tag); err != nil {
		return err
	}
	if crc32.Checksum(b, castagnoli) != crc {
		return r.corrupt("section %q: checksum mismatch", tag)
	}
	return r.pad(tag, uint64(len(b)))
}

func (r *reader) pad(tag string, n uint64) error {
	p := padding(n)
	if p == 0 {
		return nil
	}
	b := make([]byte, p)
	if err := r.readFull(b, "padding of "+tag); err != nil {
		return err
	}
	for _, c := range b {
		if c != 0 {
			return r.corrupt("section %q: padding not zero", tag)
		}
	}
	return nil
}

// floats reads a float32 section of n values straight into a new slice.
func (r *reader) floats(tag string, n uint64) ([]float32, error) {
	ln, crc, err := r.next(tag, int64(4*n))
	if err != nil {
		return nil, err
	}
	v := make([]float32, ln/4)
	b := f32bytes(v)
	if err := r.payload(tag, b, crc); err != nil {
		return nil, err
	}
	if !littleEndian {
		for i := range v {
			v[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	}
	return v, nil
}

// ids reads the IDS section for count ids.
func (r *reader) ids(count uint64) ([]string, error) {
	if 4*count > r.left {
		return nil, r.corrupt("count %d exceeds the file size", count)
	}
	ln, crc, err := r.next("IDS ", -1)
	if err != nil {
		return nil, err
	}
	if ln < 4*count {
		return nil, r.corrupt("section \"IDS \": length %d too small for %d ids", ln, count)
	}
	b := make([]byte, ln)
	if err := r.payload("IDS ", b, crc); err != nil {
		return nil, err
	}
	blob := string(b[4*count:])
	ids := make([]string, count)
	off := uint64(0)
	for i := range ids {
		l := uint64(le.Uint32(b[4*i:]))
		if l == 0 || off+l > uint64(len(blob)) {
			return nil, r.corrupt("id %d: bad length %d", i, l)
		}
		ids[i] = blob[off : off+l]
		off += l
	}
	if off != uint64(len(blob)) {
		return nil, r.corrupt("ids: %d trailing bytes", uint64(len(blob))-off)
	}
	return ids, nil
}

func (r *reader) header() (header, error) {
	var h header
	b := make([]byte, headerSize)
	if err := r.readFull(b, "header"); err != nil {
		return h, err
	}
	if string(b[:8]) != magic {
		return h, r.corrupt("not a vector index (bad magic)")
	}
	if crc32.Checksum(b[:60], castagnoli) != le.Uint32(b[60:]) {
		return h, r.corrupt("header checksum mismatch")
	}
	v := le.Uint32(b[8:])
	if v < 1 || v > fileVersion {
		return h, r.corrupt("unsupported version %d (this build reads 1 to %d)", v, fileVersion)
	}
	h = header{version: v, kind: b[12], metric: b[13], flags: le.Uint16(b[14:]), dim: le.Uint32(b[16:]),
		nlist: le.Uint32(b[20:]), count: le.Uint64(b[24:]), nprobe: le.Uint32(b[32:]),
		iters: le.Uint32(b[36:]), seed: le.Uint64(b[40:]), maxPer: le.Uint32(b[48:]), nsec: le.Uint32(b[52:]),
		rerank: le.Uint32(b[56:])}
	if v >= 3 {
		h.nsec, h.pqM = uint32(le.Uint16(b[52:])), le.Uint16(b[54:])
	}
	if v == 1 && h.rerank != 0 {
		return h, r.corrupt("reserved header bytes not zero")
	}
	// Version 3 is written exactly for PQ or codes-only IVF indexes,
	// version 2 for the other SQ8 IVF indexes, version 1 for the rest.
	sq, pqf, codes := h.flags&flagSQ8 != 0, h.flags&flagPQ != 0, h.flags&flagCodes != 0
	want := uint32(1)
	switch {
	case h.kind == kindIVF && (pqf || codes):
		want = 3
	case h.kind == kindIVF && sq:
		want = 2
	}
	if v != want || (sq && pqf) || (codes && !sq && !pqf) {
		return h, r.corrupt("version %d with flags %#x for index kind %d", v, h.flags, h.kind)
	}
	if pqf != (h.pqM != 0) || (pqf && (uint32(h.pqM) > h.dim || h.dim%uint32(h.pqM) != 0)) {
		return h, r.corrupt("bad PQ sub-quantiser count %d for dimension %d", h.pqM, h.dim)
	}
	if h.rerank > math.MaxInt32 {
		return h, r.corrupt("bad re-rank depth %d", h.rerank)
	}
	if h.metric != uint8(InnerProduct) && h.metric != uint8(Cosine) {
		return h, r.corrupt("unknown metric %d", h.metric)
	}
	if h.dim == 0 || h.dim > maxDim {
		return h, r.corrupt("bad dimension %d", h.dim)
	}
	// Every vector takes at least its id's length (4 bytes), its code and,
	// unless codes only, its floats.
	per := 4 * uint64(h.dim)
	switch {
	case codes && pqf:
		per = 4 + uint64(h.pqM)
	case codes:
		per = 4 + uint64(h.dim)
	}
	if h.count > r.left/per {
		return h, r.corrupt("count %d × %d bytes exceeds the file size", h.count, per)
	}
	switch h.kind {
	case kindFlat:
		if h.nlist != 0 || h.flags != 0 || h.nsec != 2 {
			return h, r.corrupt("bad flat header")
		}
	case kindIVF:
		want := uint32(3) // LSIZ, IDS, VECS
		if v == 3 {
			want = 3 // LSIZ, IDS, CODE
			if !codes {
				want++ // VECS
			}
		}
		if h.flags&flagTrained != 0 {
			want++ // CENT
			if sq || pqf {
				want++ // SQ8R or PQCB
			}
		}
		if h.nlist == 0 || h.nlist > maxNList || h.flags&^(flagTrained|flagSQ8|flagPQ|flagCodes) != 0 || h.nsec != want ||
			h.iters > math.MaxInt32 || h.maxPer > math.MaxInt32 || h.nprobe == 0 || h.nprobe > h.nlist {
			return h, r.corrupt("bad ivf header")
		}
		if h.flags&flagTrained == 0 && h.count != 0 {
			return h, r.corrupt("untrained ivf index with %d vectors", h.count)
		}
	default:
		return h, r.corrupt("unknown index kind %d", h.kind)
	}
	// Every size the header declares must fit in the file before anything
	// is allocated from it (an IVF header alone can name 2^24 lists).
	if need := h.minBodySize(); need > r.left {
		return h, r.corrupt("header declares sections of at least %d bytes, the file has %d after the header", need, r.left)
	}
	r.nsec = int(h.nsec)
	return h, nil
}

// minBodySize returns the fewest bytes the sections a checked header
// declares can take (ids count at least one byte each). The bounds on dim,
// nlist and count checked before keep it from overflowing.
func (h *header) minBodySize() uint64 {
	sec := func(n uint64) uint64 { return secHdrSize + n + padding(n) }
	count, dim := h.count, uint64(h.dim)
	n := sec(4*count + count) // IDS
	switch {
	case h.flags&flagCodes == 0:
		n += sec(4 * count * dim) // VECS
	case h.flags&flagPQ != 0:
		n += sec(count * uint64(h.pqM)) // CODE (codes only: PQ codes)
	default:
		n += sec(count * dim) // CODE (codes only: SQ8 codes)
	}
	if h.kind == kindIVF {
		n += sec(8 * uint64(h.nlist)) // LSIZ
		if h.flags&flagTrained != 0 {
			n += sec(4 * uint64(h.nlist) * dim) // CENT
			if h.flags&flagSQ8 != 0 {
				n += sec(8 * dim) // SQ8R
			}
		}
	}
	return n
}

// Load reads an index written by Flat.Save or IVF.Save and returns a *Flat
// or an *IVF. A truncated, altered or foreign file gives an error wrapping
// ErrCorrupt. Loaded indexes use WithWorkers' default.
func Load(path string) (Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vector: load: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vector: load: %w", err)
	}
	return decode(f, uint64(st.Size()), path)
}

// LoadFlat is Load for a file that must hold a Flat index.
func LoadFlat(path string) (*Flat, error) {
	ix, err := Load(path)
	if err != nil {
		return nil, err
	}
	f, ok := ix.(*Flat)
	if !ok {
		return nil, fmt.Errorf("vector: %s holds a %T, not a flat index", path, ix)
	}
	return f, nil
}

// LoadIVF is Load for a file that must hold an IVF index.
func LoadIVF(path string) (*IVF, error) {
	ix, err := Load(path)
	if err != nil {
		return nil, err
	}
	x, ok := ix.(*IVF)
	if !ok {
		return nil, fmt.Errorf("vector: %s holds a %T, not an IVF index", path, ix)
	}
	return x, nil
}

// Decode reads an index from the bytes of a saved file (as Load).
func Decode(data []byte) (Index, error) {
	return decode(bytes.NewReader(data), uint64(len(data)), "index data")
}

func decode(rd io.Reader, size uint64, name string) (Index, error) {
	r := &reader{r: bufio.NewReaderSize(rd, int(min(1<<20, size+16))), name: name, left: size}
	h, err := r.header()
	if err != nil {
		return nil, err
	}
	d := int(h.dim)
	var ix Index
	switch h.kind {
	case kindFlat:
		ids, err := r.ids(h.count)
		if err != nil {
			return nil, err
		}
		vecs, err := r.floats("VECS", h.count*uint64(h.dim))
		if err != nil {
			return nil, err
		}
		f := &Flat{dim: d, o: defaultOptions(), ids: ids, vecs: vecs, pos: make(map[string]int, len(ids))}
		f.o.metric = Metric(h.metric)
		for i, id := range ids {
			if _, dup := f.pos[id]; dup {
				return nil, r.corrupt("duplicate id %q", id)
			}
			f.pos[id] = i
		}
		ix = f
	case kindIVF:
		nl := int(h.nlist)
		x := &IVF{dim: d, nlist: nl, o: defaultOptions(), lists: make([]ivfList, nl), n: int(h.count)}
		x.o.metric = Metric(h.metric)
		x.o.iters, x.o.seed, x.o.maxPerCentr = int(h.iters), h.seed, int(h.maxPer)
		x.SetNProbe(int(h.nprobe))
		x.o.sq8 = h.flags&flagSQ8 != 0
		x.o.pqM = int(h.pqM)
		x.o.codesOnly = h.flags&flagCodes != 0
		x.SetRerank(int(h.rerank))
		if h.flags&flagTrained != 0 {
			cents, err := r.floats("CENT", uint64(nl)*uint64(h.dim))
			if err != nil {
				return nil, err
			}
			x.setCentroids(cents)
			if x.o.sq8 {
				rg, err := r.floats("SQ8R", 2*uint64(h.dim))
				if err != nil {
					return nil, err
				}
				x.sq = &sq8{min: rg[:d:d], scale: rg[d:]}
				if err := x.sq.check(); err != nil {
					return nil, r.corrupt("section \"SQ8R\": %v", err)
				}
			}
			if x.o.pqM > 0 {
				cb, err := r.floats("PQCB", pqKSub*uint64(h.dim))
				if err != nil {
					return nil, err
				}
				x.pq = newPQ(x.o.pqM, d/x.o.pqM, cb)
				if err := x.pq.check(); err != nil {
					return nil, r.corrupt("section \"PQCB\": %v", err)
				}
			}
		}
		ln, crc, err := r.next("LSIZ", int64(8*nl))
		if err != nil {
			return nil, err
		}
		sb := make([]byte, ln)
		if err := r.payload("LSIZ", sb, crc); err != nil {
			return nil, err
		}
		sizes := make([]int, nl)
		var total uint64
		for i := range sizes {
			s := le.Uint64(sb[8*i:])
			if s > h.count || total+s > h.count {
				return nil, r.corrupt("list sizes exceed count %d", h.count)
			}
			total += s
			sizes[i] = int(s)
		}
		if total != h.count {
			return nil, r.corrupt("list sizes sum to %d, count is %d", total, h.count)
		}
		ids, err := r.ids(h.count)
		if err != nil {
			return nil, err
		}
		cs := x.codeSize()
		var codes []uint8
		if h.version == 3 {
			ln, crc, err := r.next("CODE", int64(h.count*uint64(cs)))
			if err != nil {
				return nil, err
			}
			codes = make([]uint8, ln)
			if err := r.payload("CODE", codes, crc); err != nil {
				return nil, err
			}
		}
		var vecs []float32
		if !x.o.codesOnly {
			vecs, err = r.floats("VECS", h.count*uint64(h.dim))
			if err != nil {
				return nil, err
			}
		}
		if x.sq != nil && codes == nil {
			codes = make([]uint8, len(vecs))
			parallel(int(h.count), x.o.nworkers(), func(_, lo, hi int) {
				x.sq.encode(codes[lo*d:hi*d], vecs[lo*d:hi*d])
			})
		}
		if dup, ok := checkUniqueIDs(ids); !ok {
			return nil, r.corrupt("duplicate id %q", dup)
		}
		off := 0
		for l, s := range sizes {
			// Full slice expressions: an append to one list reallocates it
			// rather than overwriting the next list.
			x.lists[l] = ivfList{ids: ids[off : off+s : off+s]}
			if vecs != nil {
				x.lists[l].vecs = vecs[off*d : (off+s)*d : (off+s)*d]
			}
			if codes != nil {
				x.lists[l].codes = codes[off*cs : (off+s)*cs : (off+s)*cs]
			}
			off += s
		}
		ix = x
	}
	if r.left != 0 {
		return nil, r.corrupt("%d unexpected bytes after the last section", r.left)
	}
	return ix, nil
}
