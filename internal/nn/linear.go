package nn

import "github.com/contriever-go/contriever/internal/blas32"

// sgemm is the (parallel) matrix product the linear layers use.
var sgemm = blas32.Sgemm

// sgemmSerial is the single-threaded product used inside loops that are
// already spread over the cores (attention heads).
var sgemmSerial = blas32.SgemmSerial

// LinearForward computes out = inp·weightᵀ + bias for inp [N, C], weight
// [OC, C] (torch's Linear layout, [out_features, in_features]) and bias
// [OC] (nil for none), giving out [N, OC].
func LinearForward(out, inp, weight, bias []float32, N, C, OC int) {
	sgemm(false, true, N, OC, C, 1, inp, C, weight, C, 0, out, OC)
	if bias != nil {
		AddBias(out, bias, N, OC)
	}
}

// AddBias adds bias [OC] to every row of out [N, OC].
func AddBias(out, bias []float32, N, OC int) {
	parallelFor(N, 256, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o := out[r*OC : r*OC+OC]
			for i, b := range bias {
				o[i] += b
			}
		}
	})
}

// LinearBackward accumulates the gradients of LinearForward:
// dinp [N, C] += dout·weight, dweight [OC, C] += doutᵀ·inp and
// dbias [OC] += the column sums of dout. Any of the three may be nil.
func LinearBackward(dinp, dweight, dbias, dout, inp, weight []float32, N, C, OC int) {
	if dinp != nil {
		sgemm(false, false, N, C, OC, 1, dout, OC, weight, C, 1, dinp, C)
	}
	if dweight != nil {
		sgemm(true, false, OC, C, N, 1, dout, OC, inp, C, 1, dweight, C)
	}
	if dbias != nil {
		parallelFor(OC, 128, func(lo, hi int) {
			for r := 0; r < N; r++ {
				g := dout[r*OC : r*OC+OC]
				for i := lo; i < hi; i++ {
					dbias[i] += g[i]
				}
			}
		})
	}
}
