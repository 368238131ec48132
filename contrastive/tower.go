package contrastive

import (
	"fmt"
	"strings"

	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/internal/nn"
)

// Tower is one trainable pass of a BERT encoder: a training forward that
// keeps every activation (and, in training mode, the dropout masks), then
// Contriever's mean pooling; and the matching backward, which turns the
// gradient of the loss with respect to the pooled embeddings into
// gradients of every encoder parameter, summed into Grad.
//
// Several towers may share one Model and one Grad: in-batch training
// embeds queries and keys with two towers over the same weights, and both
// backward passes add into the same gradient. A tower's buffers are sized
// for batches of at most maxB×maxT tokens.
type Tower struct {
	// Model holds the weights; Grad, a model of the same layout (from
	// Model.ZeroLike), receives the gradients. The pooler gets none.
	Model, Grad *encoder.Model

	acts  *encoder.Activations
	batch encoder.Batch
	train bool
	emb   []float32

	// backward scratch, N = maxB·maxT rows
	dOut, dIn, dRes, dA, dCtx, dTmp []float32 // [N, H]
	dQKV                            []float32 // [N, 3H]
	dGelu, dInter                   []float32 // [N, I]
}

// NewTower returns a tower over model (weights) and grad (gradients) for
// batches up to maxB×maxT. dropout allocates the dropout masks, needed
// for training-mode forwards (Contriever trains with dropout on).
func NewTower(model, grad *encoder.Model, maxB, maxT int, dropout bool) *Tower {
	cfg := model.Config
	H, I := cfg.HiddenSize, cfg.IntermediateSize
	N := maxB * maxT
	f := func(n int) []float32 { return make([]float32, n) }
	return &Tower{
		Model: model, Grad: grad,
		acts: model.NewActivations(maxB, maxT, true, dropout),
		emb:  f(maxB * H),
		dOut: f(N * H), dIn: f(N * H), dRes: f(N * H), dA: f(N * H), dCtx: f(N * H), dTmp: f(N * H),
		dQKV:  f(N * 3 * H),
		dGelu: f(N * I), dInter: f(N * I),
	}
}

// Embed runs the forward over b (training mode with dropout when
// opt.Train) and returns the mean-pooled embeddings [B, H], which stay
// valid until the tower's next Embed. The activations are kept for
// Backward.
func (t *Tower) Embed(b *encoder.Batch, opt encoder.ForwardOptions) ([]float32, error) {
	hidden, err := t.Model.Forward(t.acts, b, opt)
	if err != nil {
		return nil, err
	}
	t.batch, t.train = *b, opt.Train
	H := t.Model.Config.HiddenSize
	emb := t.emb[:b.B*H]
	nn.MeanPoolForward(emb, hidden, b.Mask, b.B, b.T, H)
	return emb, nil
}

// Backward adds into Grad the gradient of the loss given dEmb [B, H], its
// gradient with respect to the embeddings of the latest Embed. The
// tower's Model must not have changed since that Embed.
func (t *Tower) Backward(dEmb []float32) error {
	if t.Grad == nil {
		return fmt.Errorf("contrastive: tower has no gradient model")
	}
	m, g, a, b := t.Model, t.Grad, t.acts, &t.batch
	cfg := m.Config
	B, T, H, I := b.B, b.T, cfg.HiddenSize, cfg.IntermediateSize
	N := B * T
	if B == 0 || len(dEmb) != B*H {
		return fmt.Errorf("contrastive: Backward with %d gradient values for a %d×%d batch", len(dEmb), B, H)
	}
	pHid, pAttn := float32(0), float32(0)
	if t.train {
		pHid, pAttn = float32(cfg.HiddenDropoutProb), float32(cfg.AttentionProbsDropoutProb)
	}
	dOut := t.dOut[:N*H]
	clear(dOut)
	nn.MeanPoolBackward(dOut, dEmb, b.Mask, B, T, H)

	d := nn.AttentionDims{B: B, T: T, NH: cfg.NumAttentionHeads, HS: cfg.HeadDim()}
	dIn, dRes, dA, dCtx, dTmp := t.dIn[:N*H], t.dRes[:N*H], t.dA[:N*H], t.dCtx[:N*H], t.dTmp[:N*H]
	dQKV := t.dQKV[:N*3*H]
	dGelu, dInter := t.dGelu[:N*I], t.dInter[:N*I]
	for l := len(m.Layers) - 1; l >= 0; l-- {
		W, G, L := &m.Layers[l], &g.Layers[l], &a.Layers[l]
		// Out = LN2(Res2), Res2 = dropout(OutDense) + A
		clear(dRes)
		nn.LayerNormBackward(dRes, G.OutLNW, G.OutLNB, dOut, L.Res2[:N*H], W.OutLNW, L.LN2Mean[:N], L.LN2Rstd[:N], N, H)
		copy(dA, dRes) // residual branch
		dDense := dRes
		if a.Dropout {
			clear(dTmp)
			nn.DropoutBackward(dTmp, dRes, L.Drop2[:N*H], pHid)
			dDense = dTmp
		}
		// OutDense = Gelu·W2ᵀ + b2; Gelu = gelu(Inter); Inter = A·W1ᵀ + b1
		clear(dGelu)
		nn.LinearBackward(dGelu, G.OutW, G.OutB, dDense, L.Gelu[:N*I], W.OutW, N, I, H)
		clear(dInter)
		nn.GeluBackward(dInter, L.Inter[:N*I], dGelu)
		nn.LinearBackward(dA, G.InterW, G.InterB, dInter, L.A[:N*H], W.InterW, N, H, I)
		// A = LN1(Res1), Res1 = dropout(AttnDense) + In
		clear(dRes)
		nn.LayerNormBackward(dRes, G.AttnLNW, G.AttnLNB, dA, L.Res1[:N*H], W.AttnLNW, L.LN1Mean[:N], L.LN1Rstd[:N], N, H)
		copy(dIn, dRes) // residual branch
		dDense = dRes
		if a.Dropout {
			clear(dTmp)
			nn.DropoutBackward(dTmp, dRes, L.Drop1[:N*H], pHid)
			dDense = dTmp
		}
		// AttnDense = Ctx·Woᵀ + bo; Ctx = attention(QKV); QKV = In·Wqkvᵀ + b
		clear(dCtx)
		nn.LinearBackward(dCtx, G.AttnOutW, G.AttnOutB, dDense, L.Ctx[:N*H], W.AttnOutW, N, H, H)
		clear(dQKV)
		var adrop []uint8
		if L.AttnDrop != nil {
			adrop = L.AttnDrop[:B*d.NH*T*T]
		}
		nn.AttentionBackward(dQKV, dCtx, L.QKV[:N*3*H], L.Probs[:B*d.NH*T*T], adrop, d, pAttn)
		nn.LinearBackward(dIn, G.QKVW, G.QKVB, dQKV, L.In[:N*H], W.QKVW, N, H, 3*H)
		dOut, dIn = dIn, dOut
	}
	// Hidden0 = dropout(LN(Emb)), Emb = word[ids] + type[types] + pos
	dLN := dOut
	if a.Dropout {
		clear(dTmp)
		nn.DropoutBackward(dTmp, dOut, a.EmbDrop[:N*H], pHid)
		dLN = dTmp
	}
	dEmb2 := dIn
	clear(dEmb2)
	nn.LayerNormBackward(dEmb2, g.EmbLNW, g.EmbLNB, dLN, a.Emb[:N*H], m.EmbLNW, a.EmbMean[:N], a.EmbRstd[:N], N, H)
	nn.EmbeddingBackward(g.WordEmb, dEmb2, b.IDs, H)
	if b.TypeIDs != nil {
		nn.EmbeddingBackward(g.TypeEmb, dEmb2, b.TypeIDs, H)
	} else {
		row := g.TypeEmb[:H]
		for n := 0; n < N; n++ {
			for i, v := range dEmb2[n*H : n*H+H] {
				row[i] += v
			}
		}
	}
	nn.PositionEmbeddingBackward(g.PosEmb, dEmb2, B, T, H)
	return nil
}

// TrainableParams pairs the parameters of model with their gradient
// buffers in grad (same layout) for the optimiser, in HF naming. The
// pooler (not trained by Contriever) gets a nil gradient, so AdamW leaves
// it untouched.
func TrainableParams(model, grad *encoder.Model) []optim.Param {
	mp, gp := model.Params(), grad.Params()
	ps := make([]optim.Param, len(mp))
	for i, p := range mp {
		ps[i] = optim.Param{Name: p.Name, Data: p.Data}
		if !strings.HasPrefix(p.Name, "pooler.") {
			ps[i].Grad = gp[i].Data
		}
	}
	return ps
}

// EncoderWeights returns the part of a model's flat buffer that Contriever
// trains (everything but the pooler), for Momentum.
func EncoderWeights(m *encoder.Model) []float32 { return m.Flat()[:m.EncoderParams()] }
