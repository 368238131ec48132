package contrastive

import "github.com/contriever-go/contriever/encoder"

// InitScales rescales parts of a freshly initialised model so that it
// starts close to a bag of word embeddings, for training from scratch.
//
// A randomly initialised BERT scrambles its input: every block adds a
// random function of all tokens to the residual stream, so mean-pooled
// outputs of a new model retrieve at chance (SciFact nDCG@10 ≈ 0.003),
// while mean-pooled random word embeddings alone already match words
// (≈ 0.12). Scaling each block's output projections (attention.output.dense
// and output.dense) by Residual makes every block start near the identity
// (0: exactly, the block's LayerNorm then only re-normalises), as in
// Fixup / ReZero-style initialisations; scaling the position and
// token-type embeddings by Position keeps them from swamping the word
// signal. Training then starts from lexical matching. No pretrained
// weights or labels are involved.
type InitScales struct {
	Residual float32 // multiplies attention.output.dense and output.dense weights
	Position float32 // multiplies position and token-type embeddings
}

// Apply rescales m's weights in place.
func (s InitScales) Apply(m *encoder.Model) {
	scale := func(x []float32, a float32) {
		if a == 1 {
			return
		}
		for i := range x {
			x[i] *= a
		}
	}
	for i := range m.Layers {
		L := &m.Layers[i]
		scale(L.AttnOutW, s.Residual)
		scale(L.OutW, s.Residual)
	}
	scale(m.PosEmb, s.Position)
	scale(m.TypeEmb, s.Position)
}
