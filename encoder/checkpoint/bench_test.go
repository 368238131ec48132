package checkpoint

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// bertBase returns random tensors with bert-base shapes (110M parameters).
func bertBase(b *testing.B) (*BertConfig, []*Tensor) {
	cfg := DefaultBertConfig()
	rng := rand.New(rand.NewSource(1))
	var ts []*Tensor
	for _, p := range cfg.Params() {
		n, _ := numel(p.Shape)
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64()) * 0.02
		}
		ts = append(ts, &Tensor{Name: p.Name, Shape: p.Shape, Data: d})
	}
	return cfg, ts
}

// BenchmarkLoadDirBertBase measures LoadDir on a bert-base folder (438 MB
// of F32) in each weight format. Compare with torch.load on the same file:
//
//	go test -run '^$' -bench LoadDirBertBase -benchtime 3x ./encoder/checkpoint
func BenchmarkLoadDirBertBase(b *testing.B) {
	cfg, ts := bertBase(b)
	for _, format := range []string{"safetensors", "torchbin"} {
		dir := filepath.Join(b.TempDir(), "m")
		if err := WriteHFDir(dir, cfg, ts, F32, ""); err != nil {
			b.Fatal(err)
		}
		if format == "torchbin" {
			if err := WriteTorchBin(filepath.Join(dir, TorchBinFile), ts); err != nil {
				b.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, SafetensorsFile)); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(format, func(b *testing.B) {
			b.SetBytes(int64(110e6 * 4))
			for i := 0; i < b.N; i++ {
				if _, _, err := LoadDir(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteBertBase measures writing bert-base in each format.
func BenchmarkWriteBertBase(b *testing.B) {
	_, ts := bertBase(b)
	dir := b.TempDir()
	b.Run("safetensors", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := WriteSafetensors(filepath.Join(dir, "m.safetensors"), ts, F32, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("torchbin", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := WriteTorchBin(filepath.Join(dir, "m.bin"), ts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
