package encoder

import (
	"fmt"
	"math"

	"github.com/contriever-go/contriever/internal/nn"
)

// Batch is a padded batch of B token sequences of length T, flattened
// row-major: IDs, TypeIDs and Mask are [B*T]. TypeIDs may be nil (all
// zero). Mask is the attention mask, 1 for real tokens and 0 for padding.
type Batch struct {
	B, T    int
	IDs     []int32
	TypeIDs []int32
	Mask    []int32
}

// LayerActs holds the activations of one transformer layer that the
// backward passes need, N = B·T, C = hidden, I = intermediate:
//
//	QKV  = In·[Wq;Wk;Wv]ᵀ + b                      [N, 3C]   (nn.LinearForward)
//	Ctx  = attention(QKV, mask) with Probs, AttnDrop [N, C]   (nn.AttentionForward)
//	AttnDense = Ctx·Woᵀ + bo                        [N, C]
//	Res1 = dropout(AttnDense; Drop1) + In           [N, C]
//	A    = LayerNorm(Res1; LN1Mean, LN1Rstd)        [N, C]
//	Inter = A·W1ᵀ + b1                              [N, I]
//	Gelu = gelu(Inter)                              [N, I]
//	OutDense = Gelu·W2ᵀ + b2                        [N, C]
//	Res2 = dropout(OutDense; Drop2) + A             [N, C]
//	Out  = LayerNorm(Res2; LN2Mean, LN2Rstd)        [N, C]
//
// Without dropout the masks are nil, and Res1/Res2 are computed in place
// in AttnDense/OutDense (the same slices). When activations are not kept,
// all layers share one set of buffers.
type LayerActs struct {
	In                 []float32 // layer input (the previous layer's Out)
	QKV                []float32
	Probs              []float32 // [B, NH, T, T] softmax before dropout; nil when not kept
	AttnDrop           []uint8   // attention-probability dropout mask, [B, NH, T, T]
	Ctx                []float32
	AttnDense          []float32
	Drop1              []uint8 // dropout mask on AttnDense, [N, C]
	Res1               []float32
	LN1Mean, LN1Rstd   []float32 // [N]
	A                  []float32
	Inter              []float32
	Gelu               []float32
	OutDense           []float32
	Drop2              []uint8 // dropout mask on OutDense, [N, C]
	Res2               []float32
	LN2Mean, LN2Rstd   []float32 // [N]
	Out                []float32
	dropAttn, dropHide float32
}

// Activations are the buffers of a forward pass over batches of at most
// MaxB sequences of at most MaxT tokens. Reuse them across batches.
//
// The embedding stage is Emb = word[IDs] + type[TypeIDs] + pos[0..T),
// EmbLN = LayerNorm(Emb; EmbMean, EmbRstd), Hidden0 = dropout(EmbLN;
// EmbDrop) (Hidden0 is EmbLN without dropout), then Layers[l].In is
// Hidden0 for l = 0 and Layers[l-1].Out after. Only the first B·T rows of
// each buffer are valid after Forward on a B×T batch.
type Activations struct {
	MaxB, MaxT int
	Keep       bool // per-layer activations kept for the backward pass
	Dropout    bool // buffers for dropout masks allocated

	H                int // hidden size
	B, T             int // shape of the last Forward
	Emb              []float32
	EmbMean, EmbRstd []float32
	EmbLN            []float32
	EmbDrop          []uint8
	Hidden0          []float32
	Layers           []LayerActs
	// Pooled [B, H] receives pooling results in Encode; Pooler [B, H]
	// the pooler output.
	Pooled, Pooler []float32
}

// Last returns the last hidden state [B·T·H] of the latest Forward.
func (a *Activations) Last() []float32 {
	n := a.B * a.T * a.H
	if len(a.Layers) == 0 {
		return a.Hidden0[:n]
	}
	return a.Layers[len(a.Layers)-1].Out[:n]
}

// ffnChunkRows bounds the rows of the intermediate (FFN) buffer when
// activations are not kept: 4096 rows is a 32×128 batch in one piece, and
// cuts the [N, 3072] buffer of BERT-base at 32×512 by four.
const ffnChunkRows = 4096

// NewActivations allocates forward buffers for batches up to maxB×maxT.
// keep keeps every layer's activations (and the attention probabilities)
// for a backward pass; otherwise the layers share buffers, and attention
// probabilities live only in per-head scratch space, and the FFN runs in
// row chunks (Inter and Gelu then hold at most ffnChunkRows rows). dropout allocates
// the dropout masks (training); it implies keep.
func (m *Model) NewActivations(maxB, maxT int, keep, dropout bool) *Activations {
	cfg := m.Config
	H, I, NH := cfg.HiddenSize, cfg.IntermediateSize, cfg.NumAttentionHeads
	if dropout {
		keep = true
	}
	N := maxB * maxT
	f := func(n int) []float32 { return make([]float32, n) }
	a := &Activations{MaxB: maxB, MaxT: maxT, Keep: keep, Dropout: dropout, H: H}
	a.EmbLN = f(N * H)
	if keep {
		a.Emb = f(N * H)
	}
	a.EmbMean, a.EmbRstd = f(N), f(N)
	a.Hidden0 = a.EmbLN
	if dropout {
		a.EmbDrop = make([]uint8, N*H)
		a.Hidden0 = f(N * H)
	}
	a.Pooled, a.Pooler = f(maxB*H), f(maxB*H)
	a.Layers = make([]LayerActs, cfg.NumHiddenLayers)
	var shared LayerActs
	for l := range a.Layers {
		L := &a.Layers[l]
		if !keep && l > 0 {
			*L = shared
			L.In = a.Layers[l-1].Out
			L.Out = shared.Out
			continue
		}
		L.QKV, L.Ctx, L.AttnDense = f(N*3*H), f(N*H), f(N*H)
		L.LN1Mean, L.LN1Rstd, L.LN2Mean, L.LN2Rstd = f(N), f(N), f(N), f(N)
		L.A, L.OutDense = f(N*H), f(N*H)
		L.Res1, L.Res2 = L.AttnDense, L.OutDense
		if keep {
			L.Inter = f(N * I)
			L.Probs = f(maxB * NH * maxT * maxT)
			L.Gelu = f(N * I)
		} else {
			L.Inter = f(min(N, ffnChunkRows) * I)
			L.Gelu = L.Inter // in place
			a.Emb = L.Ctx    // the embedding sum is dead before attention
		}
		if dropout {
			L.AttnDrop = make([]uint8, maxB*NH*maxT*maxT)
			L.Drop1, L.Drop2 = make([]uint8, N*H), make([]uint8, N*H)
			L.Res1, L.Res2 = f(N*H), f(N*H)
		}
		L.Out = f(N * H) // without keep, every layer writes this one buffer
		if l == 0 {
			L.In = a.Hidden0
			shared = *L
		} else {
			L.In = a.Layers[l-1].Out
		}
	}
	return a
}

// ForwardOptions control a forward pass. The zero value is inference:
// no dropout.
type ForwardOptions struct {
	// Train applies dropout with the config's probabilities; the
	// activations must have been allocated with dropout.
	Train bool
	// Seed determines the dropout masks (see nn.DropoutMask); each
	// dropout call of the pass derives its own seed from it.
	Seed uint64
	// Precision of the linear layers (F32 by default); a reduced one
	// prepares the weights on first use (see Model.Prepare) and does not
	// train.
	Precision Precision
	// OnLayer, if not nil, is called after each transformer layer l with
	// its output [B·T·H] (valid only during the call), for error reports.
	OnLayer func(l int, out []float32)
}

// DropoutSeed returns the seed of dropout call k of a forward pass with
// base seed s: k = 0 is the embeddings, 3l+1, 3l+2, 3l+3 are layer l's
// attention probabilities, attention output and FFN output.
func DropoutSeed(s uint64, k int) uint64 {
	z := s + uint64(k+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// check validates a batch against the model and the activation sizes.
func (m *Model) check(a *Activations, b *Batch) error {
	cfg := m.Config
	n := b.B * b.T
	switch {
	case b.B <= 0 || b.T <= 0:
		return fmt.Errorf("%w: %d×%d", ErrShape, b.B, b.T)
	case b.B > a.MaxB || b.T > a.MaxT:
		return fmt.Errorf("%w: batch %d×%d exceeds the activations' %d×%d", ErrShape, b.B, b.T, a.MaxB, a.MaxT)
	case b.T > cfg.MaxPositionEmbeddings:
		return fmt.Errorf("%w: sequence length %d exceeds max_position_embeddings %d", ErrShape, b.T, cfg.MaxPositionEmbeddings)
	case len(b.IDs) != n || len(b.Mask) != n || (b.TypeIDs != nil && len(b.TypeIDs) != n):
		return fmt.Errorf("%w: ids/mask/type ids must hold %d values", ErrShape, n)
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= cfg.VocabSize {
			return fmt.Errorf("%w: token id %d at %d outside the vocabulary of %d", ErrShape, id, i, cfg.VocabSize)
		}
	}
	for i, id := range b.TypeIDs {
		if id < 0 || int(id) >= cfg.TypeVocabSize {
			return fmt.Errorf("%w: token type id %d at %d outside type_vocab_size %d", ErrShape, id, i, cfg.TypeVocabSize)
		}
	}
	return nil
}

// Forward runs the encoder over a padded batch and returns the last hidden
// states [B·T·H] (a view into a, valid until its next use). Padded
// positions are computed as HF computes them.
func (m *Model) Forward(a *Activations, b *Batch, opt ForwardOptions) ([]float32, error) {
	if err := m.check(a, b); err != nil {
		return nil, err
	}
	if opt.Train && !a.Dropout {
		return nil, fmt.Errorf("%w: training forward needs activations allocated with dropout", ErrShape)
	}
	if opt.Train && opt.Precision != F32 {
		return nil, fmt.Errorf("encoder: training runs in f32, not %v", opt.Precision)
	}
	prep, err := m.preparedLayers(opt.Precision)
	if err != nil {
		return nil, err
	}
	cfg := m.Config
	B, T, H, I := b.B, b.T, cfg.HiddenSize, cfg.IntermediateSize
	N := B * T
	eps := float32(cfg.LayerNormEps)
	a.B, a.T = B, T
	pHid, pAttn := float32(0), float32(0)
	if opt.Train {
		pHid, pAttn = float32(cfg.HiddenDropoutProb), float32(cfg.AttentionProbsDropoutProb)
	}

	// Embeddings: (word + token_type) + position, as HF sums them.
	emb := a.Emb[:N*H]
	nn.EmbeddingForward(emb, b.IDs, m.WordEmb, H, false)
	if b.TypeIDs != nil {
		nn.EmbeddingForward(emb, b.TypeIDs, m.TypeEmb, H, true)
	} else {
		for t := 0; t < N; t++ {
			row := emb[t*H : t*H+H]
			for i, v := range m.TypeEmb[:H] {
				row[i] += v
			}
		}
	}
	nn.PositionEmbeddingForward(emb, m.PosEmb, B, T, H)
	nn.LayerNormForward(a.EmbLN[:N*H], a.EmbMean[:N], a.EmbRstd[:N], emb, m.EmbLNW, m.EmbLNB, N, H, eps)
	if a.Dropout {
		nn.DropoutForward(a.Hidden0[:N*H], a.EmbDrop[:N*H], a.EmbLN[:N*H], pHid, DropoutSeed(opt.Seed, 0))
	}

	d := nn.AttentionDims{B: B, T: T, NH: cfg.NumAttentionHeads, HS: cfg.HeadDim()}
	// outRow, when not nil, is the previous layer's last residual and
	// layer norm for row i, left to this layer's QKV product to run row by
	// row where it quantises its input (see rowsOp).
	var outRow func(i int)
	for l := range m.Layers {
		W := &m.Layers[l]
		L := &a.Layers[l]
		var P preparedLayer
		if prep != nil {
			P = prep[l]
		}
		in := L.In[:N*H]
		qkv := L.QKV[:N*3*H]
		if outRow != nil {
			lnRow := outRow
			outRow = nil
			P.qkv.(rowsOp).forwardRows(qkv, N, func(i int, _ []float32) []float32 {
				lnRow(i)
				return in[i*H : i*H+H]
			}, W.QKVB)
		} else {
			linearAt(P.qkv, qkv, in, W.QKVW, W.QKVB, N, H, 3*H)
		}
		var probs []float32
		var adrop []uint8
		if L.Probs != nil {
			probs = L.Probs[:B*d.NH*T*T]
		}
		if L.AttnDrop != nil {
			adrop = L.AttnDrop[:B*d.NH*T*T]
		}
		nn.AttentionForward(L.Ctx[:N*H], probs, adrop, qkv, b.Mask, d, pAttn, DropoutSeed(opt.Seed, 3*l+1))
		linearAt(P.attnOut, L.AttnDense[:N*H], L.Ctx[:N*H], W.AttnOutW, W.AttnOutB, N, H, H)
		res1 := L.Res1[:N*H]
		if a.Dropout {
			nn.DropoutForward(res1, L.Drop1[:N*H], L.AttnDense[:N*H], pHid, DropoutSeed(opt.Seed, 3*l+2))
		}
		A := L.A[:N*H]
		// An int8 layer takes its input rows from the step that makes
		// them (without kept activations, at inference): the residual
		// and layer norm of a row, or its GELU, run where the row is
		// quantised, so that the floats are not read again from memory.
		interRows, fuseLN := P.inter.(rowsOp)
		outRows, fuseGelu := P.out.(rowsOp)
		fuseLN = fuseLN && !a.Keep
		fuseGelu = fuseGelu && !a.Keep
		if !fuseLN {
			nn.ResidualForward(res1, res1, in)
			nn.LayerNormForward(A, L.LN1Mean[:N], L.LN1Rstd[:N], res1, W.AttnLNW, W.AttnLNB, N, H, eps)
		}
		// The FFN is row-wise: without kept activations it runs in row
		// chunks through a smaller Inter buffer.
		rows := min(N, len(L.Inter)/I)
		for r0 := 0; r0 < N; r0 += rows {
			n := min(rows, N-r0)
			o := 0
			if a.Keep {
				o = r0
			}
			inter, gelu := L.Inter[o*I:(o+n)*I], L.Gelu[o*I:(o+n)*I]
			if fuseLN {
				interRows.forwardRows(inter, n, func(i int, _ []float32) []float32 {
					i += r0
					x, y := res1[i*H:i*H+H], A[i*H:i*H+H]
					nn.ResidualForward(x, x, in[i*H:i*H+H])
					nn.LayerNormForward(y, L.LN1Mean[i:i+1], L.LN1Rstd[i:i+1], x, W.AttnLNW, W.AttnLNB, 1, H, eps)
					return y
				}, W.InterB)
			} else {
				linearAt(P.inter, inter, A[r0*H:(r0+n)*H], W.InterW, W.InterB, n, H, I)
			}
			if fuseGelu {
				outRows.forwardRows(L.OutDense[r0*H:(r0+n)*H], n, func(i int, scratch []float32) []float32 {
					nn.GeluForward(scratch, inter[i*I:i*I+I])
					return scratch
				}, W.OutB)
			} else {
				nn.GeluForward(gelu, inter)
				linearAt(P.out, L.OutDense[r0*H:(r0+n)*H], gelu, W.OutW, W.OutB, n, I, H)
			}
		}
		res2 := L.Res2[:N*H]
		if a.Dropout {
			nn.DropoutForward(res2, L.Drop2[:N*H], L.OutDense[:N*H], pHid, DropoutSeed(opt.Seed, 3*l+3))
		}
		if prep != nil && l+1 < len(m.Layers) && !a.Keep && opt.OnLayer == nil {
			if _, ok := prep[l+1].qkv.(rowsOp); ok {
				out := L.Out[:N*H]
				outRow = func(i int) {
					x := res2[i*H : i*H+H]
					nn.ResidualForward(x, x, A[i*H:i*H+H])
					nn.LayerNormForward(out[i*H:i*H+H], L.LN2Mean[i:i+1], L.LN2Rstd[i:i+1], x, W.OutLNW, W.OutLNB, 1, H, eps)
				}
				continue
			}
		}
		nn.ResidualForward(res2, res2, A)
		nn.LayerNormForward(L.Out[:N*H], L.LN2Mean[:N], L.LN2Rstd[:N], res2, W.OutLNW, W.OutLNB, N, H, eps)
		if opt.OnLayer != nil {
			opt.OnLayer(l, L.Out[:N*H])
		}
	}
	if len(m.Layers) == 0 {
		return a.Hidden0[:N*H], nil
	}
	return a.Layers[len(m.Layers)-1].Out[:N*H], nil
}

// PoolerForward computes HF's pooler_output tanh(h[:, 0]·Wᵀ + b) [B, H]
// into out from the last hidden states [B, T, H]. It fails if the model
// has no pooler.
func (m *Model) PoolerForward(out, hidden []float32, B, T int) error {
	if !m.hasPool {
		return fmt.Errorf("encoder: the model has no pooler")
	}
	H := m.Config.HiddenSize
	cls := make([]float32, B*H)
	nn.CLSPoolForward(cls, hidden, B, T, H)
	nn.LinearForward(out[:B*H], cls, m.PoolerW, m.PoolerB, B, H, H)
	for i, v := range out[:B*H] {
		out[i] = float32(math.Tanh(float64(v)))
	}
	return nil
}
