// Package optim holds the optimisation side of contrastive training: AdamW
// exactly as torch.optim.AdamW computes it, Contriever's learning-rate
// schedules (linear warmup from 0, then linear decay, cosine decay or a
// constant rate) and gradient accumulation over micro-batches. It works on
// a list of named float32 parameters, each with its own gradient buffer,
// so pre-training and fine-tuning share it.
package optim

import (
	"fmt"
	"math"
)

// Param is one trainable tensor: its values and the gradient buffer the
// backward pass sums into. A nil Grad means the tensor receives no
// gradient (BERT's pooler in Contriever); the optimiser then leaves it
// untouched, weight decay included, as torch does for p.grad == None.
type Param struct {
	Name string
	Data []float32
	Grad []float32
}

// ZeroGrads sets every gradient buffer to 0.
func ZeroGrads(ps []Param) {
	for _, p := range ps {
		clear(p.Grad)
	}
}

// ScaleGrads multiplies every gradient by s.
func ScaleGrads(ps []Param, s float32) {
	for _, p := range ps {
		for i := range p.Grad {
			p.Grad[i] *= s
		}
	}
}

// AddGrads adds src's gradients into dst's (for example those of a second
// replica working on another part of the batch). The lists must match name
// by name.
func AddGrads(dst, src []Param) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("optim: AddGrads over %d and %d params", len(dst), len(src)))
	}
	for i, d := range dst {
		s := src[i]
		if d.Name != s.Name || len(d.Grad) != len(s.Grad) {
			panic(fmt.Sprintf("optim: AddGrads param %d: %s[%d] vs %s[%d]", i, d.Name, len(d.Grad), s.Name, len(s.Grad)))
		}
		for j, v := range s.Grad {
			d.Grad[j] += v
		}
	}
}

// GradNorm returns the L2 norm of all gradients together, in float64.
func GradNorm(ps []Param) float64 {
	var ss float64
	for _, p := range ps {
		for _, v := range p.Grad {
			ss += float64(v) * float64(v)
		}
	}
	return math.Sqrt(ss)
}

// ClipGradNorm scales the gradients so that their joint L2 norm is at most
// maxNorm, as torch.nn.utils.clip_grad_norm_ does (coefficient
// maxNorm/(norm+1e-6), applied only when below 1), and returns the norm
// before clipping.
func ClipGradNorm(ps []Param, maxNorm float64) float64 {
	n := GradNorm(ps)
	if c := maxNorm / (n + 1e-6); c < 1 {
		ScaleGrads(ps, float32(c))
	}
	return n
}

// Accumulator sums gradients over K micro-batches before an optimiser
// step: the backward pass of each micro-batch adds its gradient (of that
// micro-batch's mean loss) into the Grad buffers, and the K-th call to
// Micro scales the sums by 1/K, so the step sees the gradient of the mean
// loss over all K micro-batches.
//
// With in-batch negatives, accumulation enlarges the batch the optimiser
// averages over but not the number of negatives each query sees; MoCo's
// queue is the way to more negatives.
type Accumulator struct {
	k, n int
}

// NewAccumulator returns an Accumulator over k ≥ 1 micro-batches.
func NewAccumulator(k int) *Accumulator {
	if k < 1 {
		panic(fmt.Sprintf("optim: NewAccumulator(%d)", k))
	}
	return &Accumulator{k: k}
}

// K is the number of micro-batches per optimiser step.
func (a *Accumulator) K() int { return a.k }

// Pending is the number of micro-batches summed since the last step.
func (a *Accumulator) Pending() int { return a.n }

// Micro records one micro-batch whose gradients have been summed into ps.
// On the K-th it scales the gradients by 1/K, resets its count and returns
// true: the caller then steps the optimiser and zeroes the gradients.
func (a *Accumulator) Micro(ps []Param) bool {
	a.n++
	if a.n < a.k {
		return false
	}
	a.n = 0
	if a.k > 1 {
		ScaleGrads(ps, float32(1/float64(a.k)))
	}
	return true
}
