package data

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/contriever-go/contriever/document"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/contriever-go/contriever/internal/atomicfile"
	"github.com/contriever-go/contriever/internal/progress"
)

// Tokenizer is what the stream needs from a tokenizer: word-piece ids
// without special tokens, and the vocabulary size (which decides the
// stream's width). encoder/wordpiece's Tokenizer satisfies it. Tokenize
// must be safe for concurrent use.
type Tokenizer interface {
	Tokenize(text string) []int32
	VocabSize() int
}

// Stream is a corpus tokenised into one sequence of token ids, document
// boundaries dropped, stored as uint16 when the vocabulary fits and as
// uint32 otherwise.
type Stream struct {
	u16 []uint16
	u32 []uint32
}

// NewStream builds a stream from ids for a vocabulary of vocabSize tokens.
// It panics if an id is outside [0, vocabSize).
func NewStream(ids []int32, vocabSize int) *Stream {
	b := newBuilder(vocabSize)
	if err := b.add(ids); err != nil {
		panic(err)
	}
	return b.s
}

// Len is the number of tokens.
func (s *Stream) Len() int {
	if s.u32 != nil {
		return len(s.u32)
	}
	return len(s.u16)
}

// Width is the bytes per token: 2 or 4.
func (s *Stream) Width() int {
	if s.u32 != nil {
		return 4
	}
	return 2
}

// At returns token i.
func (s *Stream) At(i int) int32 {
	if s.u32 != nil {
		return int32(s.u32[i])
	}
	return int32(s.u16[i])
}

// Read copies the len(dst) tokens starting at start into dst.
func (s *Stream) Read(dst []int32, start int) {
	if s.u32 != nil {
		for i, v := range s.u32[start : start+len(dst)] {
			dst[i] = int32(v)
		}
		return
	}
	for i, v := range s.u16[start : start+len(dst)] {
		dst[i] = int32(v)
	}
}

type builder struct {
	s     *Stream
	vocab int
}

func newBuilder(vocab int) *builder {
	s := &Stream{}
	if vocab > 1<<16 {
		s.u32 = []uint32{}
	} else {
		s.u16 = []uint16{}
	}
	return &builder{s: s, vocab: vocab}
}

func (b *builder) add(ids []int32) error {
	for _, id := range ids {
		if id < 0 || int(id) >= b.vocab {
			return fmt.Errorf("data: token id %d outside the vocabulary of %d", id, b.vocab)
		}
	}
	if b.s.u32 != nil {
		for _, id := range ids {
			b.s.u32 = append(b.s.u32, uint32(id))
		}
	} else {
		for _, id := range ids {
			b.s.u16 = append(b.s.u16, uint16(id))
		}
	}
	return nil
}

// BuildOptions controls Build.
type BuildOptions struct {
	// VocabID identifies the tokenizer (for example HashFile of its
	// vocab.txt); a cache made with another is stale.
	VocabID [32]byte
	// CachePath is where the cache lives. Empty means next to the data:
	// <file>.ctok for a file, <folder>/tokens.ctok for a folder. "-"
	// disables the cache.
	CachePath string
	// Workers is the number of tokenising goroutines (0: GOMAXPROCS).
	Workers int
	// Quiet silences the progress line.
	Quiet bool
}

// CacheStatus says how Build used the cache.
type CacheStatus string

// Cache outcomes.
const (
	CacheHit      CacheStatus = "hit"      // loaded from the cache
	CacheMissing  CacheStatus = "missing"  // no cache yet: built and written
	CacheStale    CacheStatus = "stale"    // other data or tokenizer: rebuilt
	CacheCorrupt  CacheStatus = "corrupt"  // damaged: rebuilt
	CacheDisabled CacheStatus = "disabled" // CachePath "-"
)

// BuildInfo reports what Build did.
type BuildInfo struct {
	Cache     CacheStatus
	CachePath string
	// WriteErr is set when the stream was built but the cache could not be
	// written (a read-only data folder, for example); the stream is fine.
	WriteErr error
	// Docs is the number of documents tokenised (0 on a cache hit).
	Docs int
}

// HashFile returns the SHA-256 of a file's contents, for BuildOptions.VocabID.
func HashFile(path string) ([32]byte, error) {
	var h [32]byte
	f, err := os.Open(path)
	if err != nil {
		return h, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	d := sha256.New()
	if _, err := io.Copy(d, f); err != nil {
		return h, fmt.Errorf("data: %s: %w", path, err)
	}
	copy(h[:], d.Sum(nil))
	return h, nil
}

// DefaultCachePath is where Build keeps the cache of source path.
func DefaultCachePath(path string) string {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return filepath.Join(path, "tokens.ctok")
	}
	return path + ".ctok"
}

// Build returns the token stream of the source at path, loading it from
// the cache when the cache is valid for these files (names, sizes,
// modification times), this tokenizer (VocabID and vocabulary size) and
// this format version, and otherwise tokenising in parallel and writing a
// new cache atomically.
func Build(path string, tok Tokenizer, opt BuildOptions) (*Stream, BuildInfo, error) {
	files, err := SourceFiles(path)
	if err != nil {
		return nil, BuildInfo{}, err
	}
	fp, err := fingerprint(files)
	if err != nil {
		return nil, BuildInfo{}, err
	}
	info := BuildInfo{Cache: CacheDisabled}
	width := 2
	if tok.VocabSize() > 1<<16 {
		width = 4
	}
	h := cacheHeader{width: uint32(width), vocabID: opt.VocabID, source: fp}
	binary.LittleEndian.PutUint64(h.vocabID[24:], h.vocabID64()^uint64(tok.VocabSize()))
	if opt.CachePath != "-" {
		info.CachePath = opt.CachePath
		if info.CachePath == "" {
			info.CachePath = DefaultCachePath(path)
		}
		s, err := readCache(info.CachePath, h)
		switch {
		case err == nil:
			info.Cache = CacheHit
			return s, info, nil
		case errors.Is(err, os.ErrNotExist):
			info.Cache = CacheMissing
		case errors.Is(err, errStale):
			info.Cache = CacheStale
		default:
			info.Cache = CacheCorrupt
		}
	}
	s, docs, err := tokenize(files, tok, opt)
	if err != nil {
		return nil, info, err
	}
	info.Docs = docs
	if opt.CachePath != "-" {
		info.WriteErr = writeCache(info.CachePath, h, s)
	}
	return s, info, nil
}

// fingerprint hashes the names, sizes and modification times of the files.
func fingerprint(files []string) ([32]byte, error) {
	d := sha256.New()
	fmt.Fprintf(d, "contriever-go token stream v%d\n", cacheVersion)
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return [32]byte{}, fmt.Errorf("data: %w", err)
		}
		fmt.Fprintf(d, "%s\x00%d\x00%d\n", filepath.Base(f), st.Size(), st.ModTime().UnixNano())
	}
	var h [32]byte
	copy(h[:], d.Sum(nil))
	return h, nil
}

type tokJob struct {
	seq  int
	docs []string
}

type tokResult struct {
	seq int
	ids []int32
}

// tokenize reads the documents in order, tokenises batches of them on
// opt.Workers goroutines and appends the results in document order.
func tokenize(files []string, tok Tokenizer, opt BuildOptions) (*Stream, int, error) {
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan tokJob, 2*workers)
	results := make(chan tokResult, 2*workers)
	bar := progress.New("tokenise", 0, "docs", opt.Quiet)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var ids []int32
				for _, d := range j.docs {
					ids = append(ids, tok.Tokenize(d)...)
				}
				results <- tokResult{j.seq, ids}
				bar.Add(int64(len(j.docs)))
			}
		}()
	}
	var readErr error
	docs := 0
	go func() {
		defer close(jobs)
		const batchBytes = 256 << 10
		seq, size := 0, 0
		var batch []string
		for _, f := range files {
			readErr = readFile(f, func(title, text string) error {
				doc := document.Passage(title, text)
				docs++
				batch = append(batch, doc)
				size += len(doc)
				if size >= batchBytes {
					jobs <- tokJob{seq, batch}
					seq++
					batch, size = nil, 0
				}
				return nil
			})
			if readErr != nil {
				return
			}
		}
		if len(batch) > 0 {
			jobs <- tokJob{seq, batch}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	b := newBuilder(tok.VocabSize())
	pending := map[int][]int32{}
	next := 0
	var addErr error
	for r := range results {
		pending[r.seq] = r.ids
		for ids, ok := pending[next]; ok; ids, ok = pending[next] {
			delete(pending, next)
			next++
			if addErr == nil {
				addErr = b.add(ids)
			}
		}
	}
	bar.Finish()
	if readErr != nil {
		return nil, 0, readErr
	}
	if addErr != nil {
		return nil, 0, addErr
	}
	return b.s, docs, nil
}

// The cache file: a 96-byte header, then the ids little-endian.
//
//	0   magic "CTOKSTRM"
//	8   version uint32
//	12  width uint32 (2 or 4)
//	16  vocabulary id [32]byte (its last 8 bytes mixed with the vocab size)
//	48  source fingerprint [32]byte
//	80  token count uint64
//	88  CRC-32C of the ids uint32
//	92  CRC-32C of bytes 0..91 uint32
const (
	cacheMagic   = "CTOKSTRM"
	cacheVersion = 1
	headerSize   = 96
)

var (
	errStale   = errors.New("data: token cache is stale")
	errCorrupt = errors.New("data: token cache is corrupt")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

type cacheHeader struct {
	width   uint32
	vocabID [32]byte
	source  [32]byte
	count   uint64
	crc     uint32
}

func (h *cacheHeader) vocabID64() uint64 { return binary.LittleEndian.Uint64(h.vocabID[24:]) }

func (h *cacheHeader) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, cacheMagic)
	binary.LittleEndian.PutUint32(b[8:], cacheVersion)
	binary.LittleEndian.PutUint32(b[12:], h.width)
	copy(b[16:48], h.vocabID[:])
	copy(b[48:80], h.source[:])
	binary.LittleEndian.PutUint64(b[80:], h.count)
	binary.LittleEndian.PutUint32(b[88:], h.crc)
	binary.LittleEndian.PutUint32(b[92:], crc32.Checksum(b[:92], castagnoli))
	return b
}

// readCache loads the cache at path if its header matches want (width,
// vocabulary, source); errStale if it does not, errCorrupt if damaged.
func readCache(path string, want cacheHeader) (*Stream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	hb := make([]byte, headerSize)
	if _, err := io.ReadFull(f, hb); err != nil {
		return nil, fmt.Errorf("%w: %s: short header", errCorrupt, path)
	}
	if string(hb[:8]) != cacheMagic || crc32.Checksum(hb[:92], castagnoli) != binary.LittleEndian.Uint32(hb[92:]) {
		return nil, fmt.Errorf("%w: %s: bad header", errCorrupt, path)
	}
	if binary.LittleEndian.Uint32(hb[8:]) != cacheVersion {
		return nil, fmt.Errorf("%w: %s: format version %d", errStale, path, binary.LittleEndian.Uint32(hb[8:]))
	}
	var h cacheHeader
	h.width = binary.LittleEndian.Uint32(hb[12:])
	copy(h.vocabID[:], hb[16:48])
	copy(h.source[:], hb[48:80])
	h.count = binary.LittleEndian.Uint64(hb[80:])
	h.crc = binary.LittleEndian.Uint32(hb[88:])
	if h.width != want.width || h.vocabID != want.vocabID || h.source != want.source {
		return nil, fmt.Errorf("%w: %s", errStale, path)
	}
	if h.count > uint64(st.Size()) || uint64(st.Size()-headerSize) != h.count*uint64(h.width) {
		return nil, fmt.Errorf("%w: %s: %d bytes for %d tokens", errCorrupt, path, st.Size(), h.count)
	}
	s := &Stream{}
	if h.width == 4 {
		s.u32 = make([]uint32, h.count)
	} else {
		s.u16 = make([]uint16, h.count)
	}
	crc := uint32(0)
	buf := make([]byte, 1<<20)
	br := bufio.NewReaderSize(f, 1<<20)
	done := uint64(0)
	for done < h.count {
		n := min(uint64(len(buf))/uint64(h.width), h.count-done)
		chunk := buf[:n*uint64(h.width)]
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errCorrupt, path, err)
		}
		crc = crc32.Update(crc, castagnoli, chunk)
		for i := uint64(0); i < n; i++ {
			if h.width == 4 {
				s.u32[done+i] = binary.LittleEndian.Uint32(chunk[4*i:])
			} else {
				s.u16[done+i] = binary.LittleEndian.Uint16(chunk[2*i:])
			}
		}
		done += n
	}
	if crc != h.crc {
		return nil, fmt.Errorf("%w: %s: checksum mismatch", errCorrupt, path)
	}
	return s, nil
}

// writeCache writes s to path through a temporary file and a rename.
func writeCache(path string, h cacheHeader, s *Stream) (err error) {
	n := s.Len()
	payload := make([]byte, n*s.Width())
	for i := 0; i < n; i++ {
		if s.u32 != nil {
			binary.LittleEndian.PutUint32(payload[4*i:], s.u32[i])
		} else {
			binary.LittleEndian.PutUint16(payload[2*i:], s.u16[i])
		}
	}
	h.count = uint64(n)
	h.crc = crc32.Checksum(payload, castagnoli)
	return atomicfile.Write(path, func(w io.Writer) error {
		if _, err := w.Write(h.encode()); err != nil {
			return err
		}
		_, err := w.Write(payload)
		return err
	})
}
