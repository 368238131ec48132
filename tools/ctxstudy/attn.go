package main

import (
	"math"
	"math/rand/v2"

	"github.com/contriever-go/contriever/internal/blas32"
	"github.com/contriever-go/contriever/internal/nn"
)

// attnBranch is a one-layer transformer as the contextual branch (--attn):
//
//	h₀ = emb[id_t] + pos[t]
//	h₁ = h₀ + Wo·Attention(LN₁(h₀))        (NH heads over the text)
//	h₂ = h₁ + W₂·GELU(W₁·LN₂(h₁))          (FF = 4C)
//	u  = Σ_t x_t + Wout · mean_t LN_f(h₂)
//
// x_t the fixed rows of the text's tokens. emb (V×C) starts as a fixed
// random projection of the rows over their rms and is trained with the
// rest; Wout starts at zero, so step 0 is the static model. Every layer's
// forward and backward are internal/nn's (checked there against PyTorch).
type attnBranch struct {
	d, C, NH, FF, Tmax int
	w                  []float32 // frozen rows V×d

	emb, pos               []float32 // V×C, Tmax×C
	ln1w, ln1b, ln2w, ln2b []float32 // C
	lnfw, lnfb             []float32 // C
	Wqkv, bqkv, Wo, bo     []float32 // 3C×C, 3C, C×C, C
	W1, b1, W2, b2         []float32 // FF×C, FF, C×FF, C
	Wout                   []float32 // d×C
	gEmb, gPos             []float32
	gln1w, gln1b, gln2w    []float32
	gln2b, glnfw, glnfb    []float32
	gWqkv, gbqkv, gWo, gbo []float32
	gW1, gb1, gW2, gb2     []float32
	gWout                  []float32
}

// newAttnBranch returns the branch of width C with NH heads over the
// rows w (V×d) of rms entry rms; weights drawn from rng (std 0.02, as
// BERT), layer norms at identity, Wout zero.
func newAttnBranch(w []float32, d int, rms float32, C, NH int, rng *rand.Rand) *attnBranch {
	V := len(w) / d
	a := &attnBranch{d: d, C: C, NH: NH, FF: 4 * C, Tmax: 512, w: w}
	normal := func(n int, std float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
		return x
	}
	ones := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
		}
		return x
	}
	R := normal(d*C, 1/math.Sqrt(float64(d)))
	a.emb = make([]float32, V*C)
	blas32.Sgemm(false, false, V, C, d, 1/rms, w, d, R, C, 0, a.emb, C)
	a.pos = normal(a.Tmax*C, 0.02)
	a.ln1w, a.ln1b, a.ln2w, a.ln2b, a.lnfw, a.lnfb = ones(C), make([]float32, C), ones(C), make([]float32, C), ones(C), make([]float32, C)
	a.Wqkv, a.bqkv = normal(3*C*C, 0.02), make([]float32, 3*C)
	a.Wo, a.bo = normal(C*C, 0.02), make([]float32, C)
	a.W1, a.b1 = normal(a.FF*C, 0.02), make([]float32, a.FF)
	a.W2, a.b2 = normal(C*a.FF, 0.02), make([]float32, C)
	a.Wout = make([]float32, d*C)
	a.gEmb, a.gPos = make([]float32, len(a.emb)), make([]float32, len(a.pos))
	a.gln1w, a.gln1b, a.gln2w, a.gln2b, a.glnfw, a.glnfb = make([]float32, C), make([]float32, C), make([]float32, C), make([]float32, C), make([]float32, C), make([]float32, C)
	a.gWqkv, a.gbqkv, a.gWo, a.gbo = make([]float32, len(a.Wqkv)), make([]float32, 3*C), make([]float32, len(a.Wo)), make([]float32, C)
	a.gW1, a.gb1, a.gW2, a.gb2 = make([]float32, len(a.W1)), make([]float32, a.FF), make([]float32, len(a.W2)), make([]float32, C)
	a.gWout = make([]float32, len(a.Wout))
	return a
}

func (a *attnBranch) params() []param {
	return []param{
		{"emb", a.emb, a.gEmb}, {"pos", a.pos, a.gPos},
		{"ln1w", a.ln1w, a.gln1w}, {"ln1b", a.ln1b, a.gln1b},
		{"Wqkv", a.Wqkv, a.gWqkv}, {"bqkv", a.bqkv, a.gbqkv}, {"Wo", a.Wo, a.gWo}, {"bo", a.bo, a.gbo},
		{"ln2w", a.ln2w, a.gln2w}, {"ln2b", a.ln2b, a.gln2b},
		{"W1", a.W1, a.gW1}, {"b1", a.b1, a.gb1}, {"W2", a.W2, a.gW2}, {"b2", a.b2, a.gb2},
		{"lnfw", a.lnfw, a.glnfw}, {"lnfb", a.lnfb, a.glnfb}, {"Wout", a.Wout, a.gWout},
	}
}

// attnCache holds a forward pass's activations for backward.
type attnCache struct {
	n, T                     int
	ids                      []int32
	mask                     []int32
	H0, A1, QKV, Att, probs  []float32
	H1, A2, F1, G, H2, A3, P []float32
	m1, r1, m2, r2, mf, rf   []float32
}

const lnEps = 1e-5

// forward computes the unnormalised vectors U (n×d) of texts (each at
// most Tmax tokens).
func (a *attnBranch) forward(texts [][]int32) ([]float32, any) {
	n, C, d := len(texts), a.C, a.d
	T := 1
	for _, t := range texts {
		T = max(T, min(len(t), a.Tmax))
	}
	N := n * T
	c := &attnCache{n: n, T: T, ids: make([]int32, N), mask: make([]int32, N)}
	U := make([]float32, n*d)
	for i, t := range texts {
		t = t[:min(len(t), a.Tmax)]
		for j, id := range t {
			c.ids[i*T+j], c.mask[i*T+j] = id, 1
			blas32.Axpy(1, a.w[int(id)*d:(int(id)+1)*d], U[i*d:(i+1)*d])
		}
	}
	buf := func(k int) []float32 { return make([]float32, N*k) }
	c.H0 = buf(C)
	nn.EmbeddingForward(c.H0, c.ids, a.emb, C, false)
	nn.PositionEmbeddingForward(c.H0, a.pos, n, T, C)
	c.A1, c.m1, c.r1 = buf(C), make([]float32, N), make([]float32, N)
	nn.LayerNormForward(c.A1, c.m1, c.r1, c.H0, a.ln1w, a.ln1b, N, C, lnEps)
	c.QKV = buf(3 * C)
	nn.LinearForward(c.QKV, c.A1, a.Wqkv, a.bqkv, N, C, 3*C)
	c.Att, c.probs = buf(C), make([]float32, n*a.NH*T*T)
	nn.AttentionForward(c.Att, c.probs, nil, c.QKV, c.mask, a.dims(n, T), 0, 0)
	O := buf(C)
	nn.LinearForward(O, c.Att, a.Wo, a.bo, N, C, C)
	c.H1 = buf(C)
	nn.ResidualForward(c.H1, c.H0, O)
	c.A2, c.m2, c.r2 = buf(C), make([]float32, N), make([]float32, N)
	nn.LayerNormForward(c.A2, c.m2, c.r2, c.H1, a.ln2w, a.ln2b, N, C, lnEps)
	c.F1, c.G = buf(a.FF), buf(a.FF)
	nn.LinearForward(c.F1, c.A2, a.W1, a.b1, N, C, a.FF)
	nn.GeluForward(c.G, c.F1)
	F2 := buf(C)
	nn.LinearForward(F2, c.G, a.W2, a.b2, N, a.FF, C)
	c.H2 = buf(C)
	nn.ResidualForward(c.H2, c.H1, F2)
	c.A3, c.mf, c.rf = buf(C), make([]float32, N), make([]float32, N)
	nn.LayerNormForward(c.A3, c.mf, c.rf, c.H2, a.lnfw, a.lnfb, N, C, lnEps)
	c.P = make([]float32, n*C)
	nn.MeanPoolForward(c.P, c.A3, c.mask, n, T, C)
	blas32.Sgemm(false, true, n, d, C, 1, c.P, C, a.Wout, C, 1, U, d) // U += P·Woutᵀ
	return U, c
}

func (a *attnBranch) dims(n, T int) nn.AttentionDims {
	return nn.AttentionDims{B: n, T: T, NH: a.NH, HS: a.C / a.NH}
}

// backward accumulates the parameters' gradients from gU (n×d, dL/dU).
func (a *attnBranch) backward(cc any, gU []float32) {
	c := cc.(*attnCache)
	n, T, C, d := c.n, c.T, a.C, a.d
	N := n * T
	buf := func(k int) []float32 { return make([]float32, N*k) }
	gP := make([]float32, n*C)
	nn.LinearBackward(gP, a.gWout, nil, gU, c.P, a.Wout, n, C, d)
	gA3 := buf(C)
	nn.MeanPoolBackward(gA3, gP, c.mask, n, T, C)
	gH2 := buf(C)
	nn.LayerNormBackward(gH2, a.glnfw, a.glnfb, gA3, c.H2, a.lnfw, c.mf, c.rf, N, C)
	gH1 := append([]float32(nil), gH2...) // the residual; gH2 is also dF2
	gG := buf(a.FF)
	nn.LinearBackward(gG, a.gW2, a.gb2, gH2, c.G, a.W2, N, a.FF, C)
	gF1 := buf(a.FF)
	nn.GeluBackward(gF1, c.F1, gG)
	gA2 := buf(C)
	nn.LinearBackward(gA2, a.gW1, a.gb1, gF1, c.A2, a.W1, N, C, a.FF)
	nn.LayerNormBackward(gH1, a.gln2w, a.gln2b, gA2, c.H1, a.ln2w, c.m2, c.r2, N, C)
	gH0 := append([]float32(nil), gH1...) // the residual; gH1 is also dO
	gAtt := buf(C)
	nn.LinearBackward(gAtt, a.gWo, a.gbo, gH1, c.Att, a.Wo, N, C, C)
	gQKV := buf(3 * C)
	nn.AttentionBackward(gQKV, gAtt, c.QKV, c.probs, nil, a.dims(n, T), 0)
	gA1 := buf(C)
	nn.LinearBackward(gA1, a.gWqkv, a.gbqkv, gQKV, c.A1, a.Wqkv, N, C, 3*C)
	nn.LayerNormBackward(gH0, a.gln1w, a.gln1b, gA1, c.H0, a.ln1w, c.m1, c.r1, N, C)
	nn.PositionEmbeddingBackward(a.gPos, gH0, n, T, C)
	nn.EmbeddingBackward(a.gEmb, gH0, c.ids, C)
}
