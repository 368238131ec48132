package nn

import (
	"math"
	"slices"

	"github.com/contriever-go/contriever/internal/blas32"
)

// MaskMin is the additive attention mask value of HF for a padding key:
// (1 - mask)·finfo(float32).min.
const MaskMin = -math.MaxFloat32

// AttentionDims gives the shape of a multi-head self-attention call:
// B sequences of T positions, NH heads of HS values each (C = NH·HS).
type AttentionDims struct {
	B, T, NH, HS int
}

// C returns the model width NH·HS.
func (d AttentionDims) C() int { return d.NH * d.HS }

// AttentionForward runs multi-head scaled dot-product self-attention as
// HF's BertSelfAttention. qkv [B, T, 3C] holds for each position the query
// (columns [0, C)), key ([C, 2C)) and value ([2C, 3C)) projections, head h
// in columns h·HS..h·HS+HS of each; mask [B, T] is the attention mask (1 =
// real token, 0 = padding), added to the scores as (1-mask)·MaskMin;
// out [B, T, C] receives the merged heads.
//
// probs [B, NH, T, T] receives the softmax probabilities (before dropout),
// which AttentionBackward needs. With dropP > 0 dropout is applied to the
// probabilities before they multiply V, with masks from seed (element
// index ((b·NH+h)·T+i)·T+j of DropoutMask), saved as 0/1 in dropMask
// [B, NH, T, T]; with dropP = 0, dropMask may be nil. probs may be nil
// when no backward pass follows (inference): the probabilities then live
// in per-goroutine scratch space.
func AttentionForward(out, probs []float32, dropMask []uint8, qkv []float32, mask []int32, d AttentionDims, dropP float32, seed uint64) {
	B, T, NH, HS := d.B, d.T, d.NH, d.HS
	C := NH * HS
	C3 := 3 * C
	alpha := float32(1 / math.Sqrt(float64(HS)))
	scratch := make([][]float32, Workers())
	pscratch := make([][]float32, Workers())
	thr := dropThreshold(dropP)
	scale := float32(1)
	if dropP > 0 {
		scale = 1 / (1 - dropP)
	}
	parallelItems(B*NH, func(w, bh int) {
		b, h := bh/NH, bh%NH
		base := b * T * C3
		q := qkv[base+h*HS:]
		k := qkv[base+C+h*HS:]
		v := qkv[base+2*C+h*HS:]
		var p []float32
		if probs != nil {
			p = probs[bh*T*T : (bh+1)*T*T]
		} else {
			if pscratch[w] == nil {
				pscratch[w] = make([]float32, T*T)
			}
			p = pscratch[w]
		}
		blas32.SgemmSmall(true, T, T, HS, alpha, q, C3, k, C3, p, T)
		m := mask[b*T : b*T+T]
		if !slices.Contains(m, 0) {
			m = nil // no padding: nothing to add
		}
		for i := 0; i < T; i++ {
			softmaxRow(p[i*T:i*T+T], m)
		}
		use := p
		if dropP > 0 {
			if scratch[w] == nil {
				scratch[w] = make([]float32, T*T)
			}
			use = scratch[w]
			dm := dropMask[bh*T*T : (bh+1)*T*T]
			off := uint64(bh * T * T)
			for i, pv := range p {
				if dropped(seed, off+uint64(i), thr) {
					dm[i] = 0
					use[i] = 0
				} else {
					dm[i] = 1
					use[i] = pv * scale
				}
			}
		}
		blas32.SgemmSmall(false, T, HS, T, 1, use, T, v, C3, out[b*T*C+h*HS:], C)
	})
}

// softmaxRow adds the additive mask to the scores s (m nil: no padding)
// and replaces them by their softmax.
func softmaxRow(s []float32, m []int32) {
	if m != nil {
		m = m[:len(s)]
		for j := range s {
			if m[j] == 0 {
				s[j] += MaskMin
			}
		}
	}
	sum := expSubSum(s, maxOf(s))
	blas32.Scale(float32(1/sum), s)
}

// maxOf returns the largest value of s (−MaxFloat32 when empty), with the
// AVX2 kernel where the CPU has it (scores hold no NaN).
func maxOf(s []float32) float32 {
	n8 := 0
	m := float32(-math.MaxFloat32)
	if useAVX2 {
		n8 = len(s) &^ 7
		if n8 > 0 {
			m = maxAVX2(s[:n8])
		}
	}
	return max(m, maxOfGo(s[n8:]))
}

// maxOfGo is maxOf in Go, with four independent running maxima.
func maxOfGo(s []float32) float32 {
	m0, m1, m2, m3 := float32(-math.MaxFloat32), float32(-math.MaxFloat32), float32(-math.MaxFloat32), float32(-math.MaxFloat32)
	j := 0
	for ; j+4 <= len(s); j += 4 {
		x := s[j : j+4 : j+4]
		m0, m1, m2, m3 = max(m0, x[0]), max(m1, x[1]), max(m2, x[2]), max(m3, x[3])
	}
	for ; j < len(s); j++ {
		m0 = max(m0, s[j])
	}
	return max(m0, m1, m2, m3)
}

// expSubSum replaces s[j] by exp(s[j] - mx) and returns their sum, with
// the AVX2 kernel where the CPU has it (relative error of a few ulp;
// exactly 0 below float32's normal range, as masked keys need).
func expSubSum(s []float32, mx float32) float64 {
	n8 := 0
	var sum float64
	if useAVX2 {
		n8 = len(s) &^ 7
		if n8 > 0 {
			sum = float64(expSubSumAVX2(s[:n8], mx))
		}
	}
	for j := n8; j < len(s); j++ {
		e := float32(math.Exp(float64(s[j] - mx)))
		s[j] = e
		sum += float64(e)
	}
	return sum
}

// AttentionBackward accumulates into dqkv [B, T, 3C] the gradient of
// AttentionForward given dout [B, T, C], the forward's qkv, the saved
// probs and, when dropP > 0, the saved dropMask.
func AttentionBackward(dqkv, dout, qkv, probs []float32, dropMask []uint8, d AttentionDims, dropP float32) {
	B, T, NH, HS := d.B, d.T, d.NH, d.HS
	C := NH * HS
	C3 := 3 * C
	alpha := float32(1 / math.Sqrt(float64(HS)))
	scale := float32(1)
	if dropP > 0 {
		scale = 1 / (1 - dropP)
	}
	type buf struct{ dp, pd []float32 }
	bufs := make([]buf, Workers())
	parallelItems(B*NH, func(w, bh int) {
		if bufs[w].dp == nil {
			bufs[w] = buf{make([]float32, T*T), make([]float32, T*T)}
		}
		dp, pd := bufs[w].dp, bufs[w].pd
		b, h := bh/NH, bh%NH
		base := b * T * C3
		q := qkv[base+h*HS:]
		k := qkv[base+C+h*HS:]
		v := qkv[base+2*C+h*HS:]
		dq := dqkv[base+h*HS:]
		dk := dqkv[base+C+h*HS:]
		dv := dqkv[base+2*C+h*HS:]
		g := dout[b*T*C+h*HS:]
		p := probs[bh*T*T : (bh+1)*T*T]
		used := p
		if dropP > 0 {
			dm := dropMask[bh*T*T : (bh+1)*T*T]
			for i, pv := range p {
				pd[i] = pv * scale * float32(dm[i])
			}
			used = pd
		}
		// dV += Pdᵀ·dOut; dPd = dOut·Vᵀ
		sgemmSerial(true, false, T, HS, T, 1, used, T, g, C, 1, dv, C3)
		sgemmSerial(false, true, T, T, HS, 1, g, C, v, C3, 0, dp, T)
		if dropP > 0 {
			dm := dropMask[bh*T*T : (bh+1)*T*T]
			for i := range dp {
				dp[i] *= scale * float32(dm[i])
			}
		}
		// softmax backward: dS = P ∘ (dP - rowsum(P ∘ dP))
		for i := 0; i < T; i++ {
			pr, dr := p[i*T:i*T+T], dp[i*T:i*T+T]
			var s float64
			for j, pv := range pr {
				s += float64(pv * dr[j])
			}
			s32 := float32(s)
			for j, pv := range pr {
				dr[j] = pv * (dr[j] - s32)
			}
		}
		// dQ += α·dS·K; dK += α·dSᵀ·Q
		sgemmSerial(false, false, T, HS, T, alpha, dp, T, k, C3, 1, dq, C3)
		sgemmSerial(true, false, T, HS, T, alpha, dp, T, q, C3, 1, dk, C3)
	})
}
