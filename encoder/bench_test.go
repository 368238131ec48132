package encoder

import (
	"testing"
)

// BenchmarkForwardBase32x128 times the BERT-base forward pass (random
// weights) over 32 sequences of 128 tokens, with mean pooling, as the
// PyTorch anchor (REFERENCE.md §6: 4.41 seq/s on 2 threads). Run with
// -cpu 2 to match the anchor's threads.
func BenchmarkForwardBase32x128(b *testing.B) {
	benchForward(b, "base", 32, 128, F32)
}

// BenchmarkForwardPrecisionBase32x128 is BenchmarkForwardBase32x128 at
// each precision of the linear layers (the weights prepared beforehand).
func BenchmarkForwardPrecisionBase32x128(b *testing.B) {
	for _, p := range Precisions {
		b.Run(p.String(), func(b *testing.B) { benchForward(b, "base", 32, 128, p) })
	}
}

// BenchmarkForwardSmall32x128 is the same for the small config (anchor:
// 64 seq/s).
func BenchmarkForwardSmall32x128(b *testing.B) {
	benchForward(b, "small", 32, 128, F32)
}

func benchForward(b *testing.B, name string, B, T int, p Precision) {
	if testing.Short() {
		b.Skip("large model benchmark skipped under -short")
	}
	cfg, err := NamedConfig(name)
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewRandom(cfg, 0, false)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Prepare(p); err != nil {
		b.Fatal(err)
	}
	batch := RandomBatch(cfg, B, T, 1)
	a := m.NewActivations(B, T, false, false)
	pooled := make([]float32, B*cfg.HiddenSize)
	run := func() {
		last, err := m.Forward(a, batch, ForwardOptions{Precision: p})
		if err != nil {
			b.Fatal(err)
		}
		Pool(pooled, last, batch.Mask, B, T, cfg.HiddenSize, PoolMean, false)
	}
	run() // warm up: page in the buffers
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(B)/sec, "seq/s")
	b.ReportMetric(ForwardFLOPs(cfg, B, T)/sec/1e9, "GFLOP/s")
}
