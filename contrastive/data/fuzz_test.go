package data

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadJSONL: any bytes in a .jsonl file give documents or an error,
// never a panic.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"_id":"1","title":"t","text":"x"}` + "\n"))
	f.Add([]byte(`{"text":null}`))
	f.Add([]byte("\x1f\x8b\x08garbage"))
	f.Add([]byte(`{"title":5,"text":"a"}` + "\r\n\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, name := range []string{"c.jsonl", "c.txt"} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_ = ReadDocuments(p, func(string) error { return nil })
		}
	})
}

// FuzzReadCache: a damaged cache file is rejected (or, if it happens to be
// valid, read in full), never a panic.
func FuzzReadCache(f *testing.F) {
	dir := f.TempDir()
	h := cacheHeader{width: 2, vocabID: [32]byte{9}}
	p := filepath.Join(dir, "seed.ctok")
	if err := writeCache(p, h, NewStream([]int32{1, 2, 3}, 100)); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	f.Add(good)
	f.Add(good[:headerSize])
	f.Add([]byte("CTOKSTRM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		q := filepath.Join(dir, "fuzz.ctok")
		if err := os.WriteFile(q, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if s, err := readCache(q, h); err == nil && s.Len() != (len(b)-headerSize)/2 {
			t.Fatalf("accepted cache of %d bytes with %d tokens", len(b), s.Len())
		}
	})
}

// FuzzSamplerState: UnmarshalBinary rejects or accepts without panicking,
// and an accepted state yields batches.
func FuzzSamplerState(f *testing.F) {
	s := seqStream(1000)
	cfg := DefaultCrop()
	cfg.ChunkLen = 64
	sm, _ := NewSampler(s, cfg, 1)
	sm.Next(5)
	good, _ := sm.MarshalBinary()
	f.Add(good)
	f.Add(good[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		x, _ := NewSampler(s, cfg, 1)
		if x.UnmarshalBinary(b) == nil {
			x.Next(20)
		}
	})
}
