//go:build !amd64 || purego

package nn

import "math"

// useAVX2 is false without the amd64 assembly kernels, whose entry points
// fall back to the pure-Go computations here (the dispatch style of
// internal/blas32).
const useAVX2 = false

func geluAVX2(out, in []float32) {
	for i, v := range in {
		out[i] = 0.5 * v * (1 + erf32(v*invSqrt2))
	}
}

func expSubSumAVX2(s []float32, mx float32) float32 {
	var sum float32
	for j := range s {
		e := float32(math.Exp(float64(s[j] - mx)))
		s[j] = e
		sum += e
	}
	return sum
}

func geluBackwardAVX2(dinp, inp, dout []float32) { geluBackwardRef(dinp, inp, dout) }

func lnDevAVX2(o, x []float32, m float32) (s, q float32) { return lnDevGo(o, x, m) }

func lnAffineAVX2(o, w, b []float32, d, rs float32) { lnAffineGo(o, w, b, d, rs) }

func maxAVX2(s []float32) float32 { return maxOfGo(s) }
