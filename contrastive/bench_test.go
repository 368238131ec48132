package contrastive

import (
	"math/rand/v2"
	"testing"

	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/encoder"
)

// BenchmarkTrainStepSmall64x128 is the speed case: one training
// step of the `small` config (4 layers, hidden 256, 4 heads, FFN 1024,
// vocab 30522) on 64 sequences of 128 tokens: forward with dropout, mean
// pooling, backward through the whole model, AdamW. Compare with the
// PyTorch anchor of REFERENCE.md §6 (2.47 s/step on this machine kind).
func BenchmarkTrainStepSmall64x128(b *testing.B) {
	cfg, err := encoder.NamedConfig("small")
	if err != nil {
		b.Fatal(err)
	}
	m, err := encoder.NewRandom(cfg, 1, false)
	if err != nil {
		b.Fatal(err)
	}
	const B, T = 64, 128
	batch := encoder.RandomBatch(cfg, B, T, 2)
	grad := m.ZeroLike()
	tw := NewTower(m, grad, B, T, true)
	params := TrainableParams(m, grad)
	opt := optim.NewAdamW(params, optim.DefaultAdamW())
	r := rand.New(rand.NewPCG(1, 1))
	demb := make([]float32, B*cfg.HiddenSize)
	for i := range demb {
		demb[i] = float32(r.NormFloat64() * 1e-3)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		optim.ZeroGrads(params)
		if _, err := tw.Embed(batch, encoder.ForwardOptions{Train: true, Seed: uint64(i)}); err != nil {
			b.Fatal(err)
		}
		if err := tw.Backward(demb); err != nil {
			b.Fatal(err)
		}
		opt.Step(1e-4)
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "seq/s")
}
