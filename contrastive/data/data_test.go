package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wordTok is a test tokenizer: one id per whitespace-separated word, from
// a hash of the word.
type wordTok struct {
	vocab int
	ids   int // ids are hash % ids (vocab when 0)
	calls atomic.Int64
}

func (w *wordTok) Tokenize(text string) []int32 {
	w.calls.Add(1)
	var ids []int32
	for _, f := range strings.Fields(text) {
		h := fnv.New32a()
		h.Write([]byte(f))
		m := w.ids
		if m == 0 {
			m = w.vocab
		}
		ids = append(ids, int32(h.Sum32()%uint32(m)))
	}
	return ids
}

func (w *wordTok) VocabSize() int { return w.vocab }

func writeFile(t *testing.T, path, content string, gz bool) {
	t.Helper()
	var b []byte
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(content))
		zw.Close()
		b = buf.Bytes()
	} else {
		b = []byte(content)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func docsOf(t *testing.T, path string) []string {
	t.Helper()
	var docs []string
	if err := ReadDocuments(path, func(d string) error { docs = append(docs, d); return nil }); err != nil {
		t.Fatal(err)
	}
	return docs
}

func TestReadFormats(t *testing.T) {
	dir := t.TempDir()
	beir := filepath.Join(dir, "beir")
	os.Mkdir(beir, 0o755)
	writeFile(t, filepath.Join(beir, "corpus.jsonl.gz"),
		`{"_id":"1","title":"Title A","text":"body a"}`+"\n"+
			`{"_id":"2","title":"","text":"body b"}`+"\n\n"+
			`{"_id":"3","text":"body c","metadata":{}}`+"\r\n", true)
	writeFile(t, filepath.Join(beir, "queries.jsonl"), `{"_id":"q","text":"not corpus"}`+"\n", false)
	if got, want := docsOf(t, beir), []string{"Title A body a", "body b", "body c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("BEIR folder: %q, want %q", got, want)
	}
	var titled [][2]string
	if err := ReadTitled(beir, func(title, text string) error { titled = append(titled, [2]string{title, text}); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := [][2]string{{"Title A", "body a"}, {"", "body b"}, {"", "body c"}}; !reflect.DeepEqual(titled, want) {
		t.Fatalf("BEIR folder, titled: %q, want %q", titled, want)
	}

	plain := filepath.Join(dir, "plain")
	os.Mkdir(plain, 0o755)
	writeFile(t, filepath.Join(plain, "b.txt"), "line one\n\n  \nline two", false)
	writeFile(t, filepath.Join(plain, "a.jsonl"), `{"text":"json doc"}`+"\n", false)
	writeFile(t, filepath.Join(plain, "c.txt.gz"), "zipped line\n", true)
	writeFile(t, filepath.Join(plain, "ignored.csv"), "x,y\n", false)
	if got, want := docsOf(t, plain), []string{"json doc", "line one", "line two", "zipped line"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("plain folder: %q, want %q", got, want)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	writeFile(t, bad, `{"text":"ok"}`+"\n"+`{"title":"no text"}`+"\n", false)
	err := ReadDocuments(bad, func(string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") || !strings.Contains(err.Error(), `"text"`) {
		t.Fatalf("missing text field: %v", err)
	}
	writeFile(t, bad, `{"text":"ok"}`+"\n"+`{"text": 3}`+"\n", false)
	if err := ReadDocuments(bad, func(string) error { return nil }); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("non-string text: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	if err := ReadDocuments(empty, func(string) error { return nil }); !errors.Is(err, ErrNoDocuments) {
		t.Fatalf("empty folder: %v", err)
	}
}

// TestBuildAndCache: the parallel build equals a sequential tokenisation in
// document order; the cache is used when valid and rebuilt when stale or
// corrupt.
func TestBuildAndCache(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "corpus.txt")
	var sb strings.Builder
	for i := 0; i < 3000; i++ {
		for j := 0; j < 1+i%17; j++ {
			sb.WriteString("w")
			sb.WriteString(string(rune('a' + (i*7+j)%26)))
			sb.WriteString(string(rune('a' + (i+j*3)%26)))
			sb.WriteString(" ")
		}
		sb.WriteString("\n")
	}
	// Big enough for several tokenising batches.
	content := strings.Repeat(sb.String(), 8)
	writeFile(t, src, content, false)
	tok := &wordTok{vocab: 30522}
	want := tok.Tokenize(content)

	opt := BuildOptions{VocabID: [32]byte{1}, Workers: 2, Quiet: true}
	s, info, err := Build(src, tok, opt)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cache != CacheMissing || info.WriteErr != nil || info.CachePath != src+".ctok" {
		t.Fatalf("first build: %+v", info)
	}
	check := func(s *Stream, what string) {
		t.Helper()
		if s.Len() != len(want) || s.Width() != 2 {
			t.Fatalf("%s: %d tokens of width %d, want %d of width 2", what, s.Len(), s.Width(), len(want))
		}
		got := make([]int32, s.Len())
		s.Read(got, 0)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: stream differs from sequential tokenisation", what)
		}
	}
	check(s, "built")

	tok.calls.Store(0)
	s, info, err = Build(src, tok, opt)
	if err != nil || info.Cache != CacheHit || tok.calls.Load() != 0 {
		t.Fatalf("second build: %+v, %d tokenizer calls, %v", info, tok.calls.Load(), err)
	}
	check(s, "cached")

	// Another tokenizer: stale.
	opt2 := opt
	opt2.VocabID[0] = 2
	if _, info, err = Build(src, tok, opt2); err != nil || info.Cache != CacheStale {
		t.Fatalf("other vocab: %+v %v", info, err)
	}
	// Back to the first tokenizer (the cache now holds the second's).
	if _, info, _ = Build(src, tok, opt); info.Cache != CacheStale {
		t.Fatalf("rebuilt for vocab 1: %+v", info)
	}

	// A damaged payload byte: corrupt, rebuilt, still right.
	b, _ := os.ReadFile(src + ".ctok")
	b[len(b)-3] ^= 0x40
	os.WriteFile(src+".ctok", b, 0o644)
	s, info, err = Build(src, tok, opt)
	if err != nil || info.Cache != CacheCorrupt {
		t.Fatalf("damaged cache: %+v %v", info, err)
	}
	check(s, "rebuilt after damage")
	// A truncated cache too.
	b, _ = os.ReadFile(src + ".ctok")
	os.WriteFile(src+".ctok", b[:len(b)-2], 0o644)
	if _, info, _ = Build(src, tok, opt); info.Cache != CacheCorrupt {
		t.Fatalf("truncated cache: %+v", info)
	}

	// Changed data (same size, new mtime): stale.
	later := time.Now().Add(time.Hour)
	os.Chtimes(src, later, later)
	if _, info, _ = Build(src, tok, opt); info.Cache != CacheStale {
		t.Fatalf("touched source: %+v", info)
	}

	// No cache.
	if _, info, _ = Build(src, tok, BuildOptions{CachePath: "-", Quiet: true}); info.Cache != CacheDisabled {
		t.Fatalf("disabled cache: %+v", info)
	}
	// Unwritable cache location: the stream is still returned.
	s, info, err = Build(src, tok, BuildOptions{CachePath: filepath.Join(dir, "no", "such", "dir", "c.ctok"), Quiet: true})
	if err != nil || info.WriteErr == nil {
		t.Fatalf("unwritable cache: %+v %v", info, err)
	}
	check(s, "uncached")
}

func TestWideStream(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "c.jsonl")
	writeFile(t, src, `{"text":"alpha beta gamma delta"}`+"\n", false)
	tok := &wordTok{vocab: 250002}
	s, _, err := Build(src, tok, BuildOptions{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Width() != 4 || s.Len() != 4 {
		t.Fatalf("width %d len %d", s.Width(), s.Len())
	}
	want := tok.Tokenize("alpha beta gamma delta")
	if s2, info, _ := Build(src, tok, BuildOptions{Quiet: true}); info.Cache != CacheHit || s2.At(3) != want[3] || s.At(0) != want[0] {
		t.Fatalf("wide cache: %+v", info)
	}
	if _, _, err := Build(src, &wordTok{vocab: 10, ids: 1000}, BuildOptions{CachePath: "-", Quiet: true}); err == nil {
		t.Fatal("ids outside the vocabulary accepted")
	}
}

// seqStream has token i = i (ids identify positions).
func seqStream(n int) *Stream {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(i)
	}
	return NewStream(ids, 1<<16)
}

func TestSamplerViews(t *testing.T) {
	const n = 50000
	s := seqStream(n)
	cfg := DefaultCrop()
	cfg.CLS, cfg.SEP = 60001, 60002
	sm, err := NewSampler(s, cfg, 42)
	if err != nil {
		t.Fatal(err)
	}
	var lenSum, kept, cropped float64
	pairs := 2000
	for p := 0; p < pairs; p++ {
		off := sm.Offset() // of the epoch this pair comes from
		q, k := sm.NextPair()
		for _, v := range [][]int32{q, k} {
			if v[0] != cfg.CLS || v[len(v)-1] != cfg.SEP {
				t.Fatalf("view without [CLS] … [SEP]: %v", v)
			}
			body := v[1 : len(v)-1]
			lenSum += float64(len(body))
			if len(body) == 0 {
				continue
			}
			// Increasing positions within one chunk of the epoch's grid.
			chunk := (int(body[0]) - off) / cfg.ChunkLen
			for i, id := range body {
				if i > 0 && id <= body[i-1] {
					t.Fatalf("view not in stream order: %v", body)
				}
				if (int(id)-off)/cfg.ChunkLen != chunk || int(id) < off {
					t.Fatalf("view crosses a chunk boundary (offset %d): %v", off, body)
				}
			}
			span := float64(body[len(body)-1]-body[0]) + 1
			if span > 0.5*256 {
				t.Fatalf("view spans %g tokens, more than the largest crop", span)
			}
			kept += float64(len(body))
			cropped += span
		}
	}
	// Mean crop length ≈ 256·0.275 = 70.4 before deletion; 90% survive.
	mean := lenSum / float64(2*pairs)
	if math.Abs(mean-0.9*70.4) > 3 {
		t.Fatalf("mean view length %g, want about %g", mean, 0.9*70.4)
	}
	if r := kept / cropped; r < 0.87 || r > 0.93 {
		t.Fatalf("kept %g of spanned tokens, want about 0.9", r)
	}
}

func TestSamplerEpochs(t *testing.T) {
	const n = 10*64 + 40
	cfg := CropConfig{ChunkLen: 64, RatioMin: 1, RatioMax: 1, CLS: 65000, SEP: 65001}
	sm, err := NewSampler(seqStream(n), cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int]bool{}
	for e := 0; e < 6; e++ {
		chunks, off := sm.ChunksPerEpoch(), sm.Offset()
		if want := (n - off) / 64; chunks != want || off >= 64 || sm.Epoch() != e || sm.Position() != 0 {
			t.Fatalf("epoch %d (reported %d, position %d): offset %d, %d chunks, want %d", e, sm.Epoch(), sm.Position(), off, chunks, want)
		}
		offsets[off] = true
		seen := map[int32]bool{}
		for i := 0; i < chunks; i++ {
			q, k := sm.NextPair()
			if len(q) != 66 || !reflect.DeepEqual(q, k) {
				t.Fatalf("ratio 1, no deletion: views %d/%d tokens", len(q), len(k))
			}
			if (int(q[1])-off)%64 != 0 || int(q[1]) < off {
				t.Fatalf("chunk starts at %d, offset %d", q[1], off)
			}
			if seen[q[1]] {
				t.Fatalf("epoch %d visits chunk %d twice", e, q[1])
			}
			seen[q[1]] = true
		}
	}
	if len(offsets) < 2 {
		t.Fatalf("the offset never changed over 6 epochs: %v", offsets)
	}
	if _, err := NewSampler(seqStream(63), cfg, 1); !errors.Is(err, ErrShortStream) {
		t.Fatalf("short stream: %v", err)
	}
	// A stream of exactly one chunk works (offset 0).
	one, err := NewSampler(seqStream(64), cfg, 1)
	if err != nil || one.ChunksPerEpoch() != 1 || one.Offset() != 0 {
		t.Fatalf("one-chunk stream: %v", err)
	}
}

func mustMarshal(t *testing.T, sm *Sampler) []byte {
	t.Helper()
	b, err := sm.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSamplerResume: a sampler restored from a saved state produces the
// same batches as one that ran straight through, across epoch boundaries.
func TestSamplerResume(t *testing.T) {
	s := seqStream(3000)
	cfg := DefaultCrop()
	cfg.ChunkLen = 100
	straight, _ := NewSampler(s, cfg, 99)
	var want []Batch
	for i := 0; i < 12; i++ {
		want = append(want, straight.Next(7)) // 84 pairs, about 3 epochs
	}
	for _, stop := range []int{0, 1, 4, 5, 11} {
		a, _ := NewSampler(s, cfg, 99)
		for i := 0; i < stop; i++ {
			a.Next(7)
		}
		state := mustMarshal(t, a)
		b, _ := NewSampler(s, cfg, 12345) // another seed: the state decides
		if err := b.UnmarshalBinary(state); err != nil {
			t.Fatal(err)
		}
		for i := stop; i < 12; i++ {
			if got := b.Next(7); !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("resumed after %d batches: batch %d differs", stop, i)
			}
		}
	}
	// Another seed gives other batches.
	c, _ := NewSampler(s, cfg, 100)
	if reflect.DeepEqual(c.Next(7), want[0]) {
		t.Fatal("seeds 99 and 100 gave the same batch")
	}
	// A state for another stream, or a damaged one, is refused.
	other, _ := NewSampler(seqStream(2000), cfg, 99)
	state := mustMarshal(t, straight)
	if err := other.UnmarshalBinary(state); !errors.Is(err, ErrBadSamplerState) {
		t.Fatalf("state for another stream: %v", err)
	}
	if err := straight.UnmarshalBinary(state[:len(state)-1]); err == nil {
		t.Fatal("truncated state accepted")
	}
}

func TestPackAndWrap(t *testing.T) {
	v := Pack([][]int32{{101, 5, 6, 102}, {101, 102}, {101, 7, 102}})
	wantIDs := []int32{101, 5, 6, 102, 101, 102, 0, 0, 101, 7, 102, 0}
	wantMask := []int32{1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0}
	if v.B != 3 || v.S != 4 || !reflect.DeepEqual(v.IDs, wantIDs) || !reflect.DeepEqual(v.Mask, wantMask) {
		t.Fatalf("Pack: %+v", v)
	}
	if got := Wrap([]int32{1, 2, 3, 4}, 101, 102, 4); !reflect.DeepEqual(got, []int32{101, 1, 2, 102}) {
		t.Fatalf("Wrap with limit: %v", got)
	}
	if got := Wrap([]int32{1, 2}, 101, 102, 0); !reflect.DeepEqual(got, []int32{101, 1, 2, 102}) {
		t.Fatalf("Wrap without limit: %v", got)
	}
	if got := Wrap([]int32{1, 2}, 101, 102, 1); !reflect.DeepEqual(got, []int32{101, 102}) {
		t.Fatalf("Wrap with limit 1: %v", got)
	}
}

func TestCropMinimumLength(t *testing.T) {
	// A 10-token chunk at ratio 0.05 gives int(0.5) = 0: at least 1 token.
	cfg := CropConfig{ChunkLen: 10, RatioMin: 0.05, RatioMax: 0.05, CLS: 1, SEP: 2}
	sm, _ := NewSampler(seqStream(100), cfg, 3)
	for i := 0; i < 50; i++ {
		q, k := sm.NextPair()
		if len(q) != 3 || len(k) != 3 {
			t.Fatalf("views %v %v, want one token each", q, k)
		}
	}
}
