package encoder

import (
	"fmt"
	"math/rand/v2"

	"github.com/contriever-go/contriever/encoder/checkpoint"
)

// NamedConfig returns a named model configuration with bert-base-uncased's
// vocabulary (30522) and 512 positions: "base" (12 layers, hidden 768,
// 12 heads, FFN 3072), "small" (4 layers, 256, 4 heads, 1024) or "tiny"
// (2 layers, 128, 2 heads, 512).
func NamedConfig(name string) (*checkpoint.BertConfig, error) {
	c := checkpoint.DefaultBertConfig()
	switch name {
	case "base":
	case "small":
		c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.IntermediateSize = 4, 256, 4, 1024
	case "tiny":
		c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.IntermediateSize = 2, 128, 2, 512
	default:
		return nil, fmt.Errorf("encoder: unknown config %q (want base, small or tiny)", name)
	}
	return c, nil
}

// ForwardFLOPs returns the multiply-add FLOPs (2 per MAC) of one forward
// pass over a B×T batch, counting the linear layers and the two attention
// products, as the PyTorch anchor script does.
func ForwardFLOPs(c *checkpoint.BertConfig, B, T int) float64 {
	h, i, l := float64(c.HiddenSize), float64(c.IntermediateSize), float64(c.NumHiddenLayers)
	tok := float64(B * T)
	linear := 2 * tok * (4*h*h + 2*h*i)
	attn := 2 * 2 * float64(B) * float64(T) * float64(T) * h
	return l * (linear + attn)
}

// RandomBatch returns a B×T batch without padding whose ids are uniform
// in [1000, vocab), as the PyTorch anchor benchmark draws them.
func RandomBatch(c *checkpoint.BertConfig, B, T int, seed uint64) *Batch {
	r := rand.New(rand.NewPCG(seed, 1))
	b := &Batch{B: B, T: T, IDs: make([]int32, B*T), Mask: make([]int32, B*T)}
	lo := min(1000, c.VocabSize-1)
	for i := range b.IDs {
		b.IDs[i] = int32(lo + r.IntN(c.VocabSize-lo))
		b.Mask[i] = 1
	}
	return b
}
