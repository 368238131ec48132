package encoder

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/internal/fixture"
)

// FuzzOpenModelDir loads a whole model folder built from fuzzed files
// (config.json, the weights as model.safetensors or pytorch_model.bin,
// vocab.txt): Open returns an Encoder or an error, never panics, and an
// Encoder it returns encodes a text into finite vectors of its dimension.
// Seeded with the tiny-bert fixture in both weight formats.
func FuzzOpenModelDir(f *testing.F) {
	src := fixture.Shared(f, "fixtures", "tiny-bert")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	cfg, st, vocab := read(checkpoint.ConfigFile), read(checkpoint.SafetensorsFile), read(checkpoint.VocabFile)
	f.Add(cfg, st, vocab, false)
	ts, err := checkpoint.ReadSafetensors(filepath.Join(src, checkpoint.SafetensorsFile))
	if err != nil {
		f.Fatal(err)
	}
	p := filepath.Join(f.TempDir(), checkpoint.TorchBinFile)
	if err := checkpoint.WriteTorchBin(p, checkpoint.Sorted(ts)); err != nil {
		f.Fatal(err)
	}
	tb, _ := os.ReadFile(p)
	f.Add(cfg, tb, vocab, true)
	f.Add([]byte(`{"vocab_size": 1000, "hidden_size": 32, "num_hidden_layers": 262144, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}`), st, vocab, false)
	f.Fuzz(func(t *testing.T, cfg, weights, vocab []byte, torch bool) {
		dir := t.TempDir()
		name := checkpoint.SafetensorsFile
		if torch {
			name = checkpoint.TorchBinFile
		}
		for n, b := range map[string][]byte{checkpoint.ConfigFile: cfg, name: weights, checkpoint.VocabFile: vocab} {
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		enc, err := Open(dir, Options{MaxLength: 16, BatchSize: 2})
		if err != nil {
			return
		}
		defer enc.Release()
		v, err := enc.Encode(context.Background(), []string{"dense retrieval", "a"})
		if err != nil {
			return
		}
		if len(v) != 2*enc.Dim() {
			t.Fatalf("%d values for 2 texts of dimension %d", len(v), enc.Dim())
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("value %d is %v", i, x)
			}
		}
	})
}
