package contrastive

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func sampleState() *State {
	r := rand.New(rand.NewPCG(1, 2))
	q := NewQueue(8, 4, r)
	q.Enqueue([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	pcg := rand.NewPCG(3, 4)
	pcg.Uint64()
	rs, _ := pcg.MarshalBinary()
	return &State{
		Step:      1234,
		Config:    []byte(`{"objective":"moco","batch":64}`),
		Model:     []Tensor{{Name: "embeddings.word_embeddings.weight", Shape: []int{3, 2}, Data: []float32{1, -2, 3.5, 0, -0, 1e-30}}, {Name: "scalar", Shape: []int{}, Data: []float32{7}}},
		Momentum:  []Tensor{{Name: "encoder.layer.0.attention.self.query.bias", Shape: []int{2}, Data: []float32{0.25, -0.5}}},
		Optimizer: []byte("opaque optimiser state"),
		Queue:     q,
		Sampler:   []byte{1, 2, 3},
		RNG:       map[string][]byte{"dropout": rs, "queue": {9}},
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.bin")
	want := sampleState()
	if err := SaveState(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
	// The restored generator continues the saved one.
	a, b := &rand.PCG{}, rand.NewPCG(3, 4)
	b.Uint64()
	if err := a.UnmarshalBinary(got.RNG["dropout"]); err != nil || a.Uint64() != b.Uint64() {
		t.Fatalf("restored RNG does not continue: %v", err)
	}
	// An in-batch state without momentum or queue.
	small := &State{Step: 1, RNG: map[string][]byte{}}
	if err := SaveState(p, small); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadState(p); err != nil || got.Queue != nil || got.Momentum != nil || got.Step != 1 {
		t.Fatalf("small state: %+v %v", got, err)
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files in the folder after saving", len(ents))
	}
}

// TestStateCorruption flips every byte of a saved state in turn, and cuts
// it at every length: each damaged file is refused with ErrCorrupt (or
// ErrStateVersion for the version field).
func TestStateCorruption(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.bin")
	if err := SaveState(p, sampleState()); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	bad := filepath.Join(dir, "bad.bin")
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		os.WriteFile(bad, b, 0o644)
		_, err := LoadState(bad)
		if !errors.Is(err, ErrCorrupt) && !(i >= 8 && i < 12 && errors.Is(err, ErrStateVersion)) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for n := 0; n < len(good); n++ {
		os.WriteFile(bad, good[:n], 0o644)
		if _, err := LoadState(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
	os.WriteFile(bad, append(bytes.Clone(good), 0), 0o644)
	if _, err := LoadState(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func FuzzLoadState(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.bin")
	if err := SaveState(p, sampleState()); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	f.Add(good)
	f.Add(good[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		q := filepath.Join(dir, "fuzz.bin")
		os.WriteFile(q, b, 0o644)
		_, _ = LoadState(q)
	})
}
