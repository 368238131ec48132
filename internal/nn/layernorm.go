package nn

import (
	"math"

	"github.com/contriever-go/contriever/internal/blas32"
)

// LayerNormForward normalises each of the N rows of inp [N, C] over its C
// values and applies the affine weight and bias [C]:
// out = (x - mean) * rstd * weight + bias with rstd = 1/sqrt(var + eps) and
// the biased variance, as torch.nn.LayerNorm. It saves mean [N] and rstd
// [N] for LayerNormBackward (either may be nil when no backward follows).
//
// The row sums run in the float32 SIMD kernels of internal/blas32 with a
// corrected two-pass scheme: a first mean m0 from Sum(x), the deviations
// d = x - m0 written into out, then Sum(d) and Dot(d, d) give the mean
// m0 + Sum(d)/C and the variance Dot(d, d)/C - (Sum(d)/C)² (combined in
// float64). The residual Sum(d) removes the rounding of the first mean, so
// rows with a large offset and a small spread (mean 1e3, std 1e-2) keep
// float32 accuracy; the results agree with a float64 accumulation up to
// float32 rounding (TestLayerNormForwardMatchesFloat64).
func LayerNormForward(out, mean, rstd, inp, weight, bias []float32, N, C int, eps float32) {
	weight, bias = weight[:C], bias[:C]
	parallelFor(N, 64, func(lo, hi int) {
		invC := 1 / float64(C)
		for r := lo; r < hi; r++ {
			x := inp[r*C : r*C+C]
			o := out[r*C : r*C+C]
			m0 := float32(float64(blas32.Sum(x)) * invC)
			for i, v := range x {
				o[i] = v - m0
			}
			dm := float64(blas32.Sum(o)) * invC
			vr := float64(blas32.Dot(o, o))*invC - dm*dm
			if vr < 0 {
				vr = 0
			}
			rs32 := float32(1 / math.Sqrt(vr+float64(eps)))
			d32 := float32(dm)
			w, b := weight[:len(o)], bias[:len(o)]
			for i, v := range o {
				o[i] = (v-d32)*rs32*w[i] + b[i]
			}
			if mean != nil {
				mean[r] = float32(float64(m0) + dm)
			}
			if rstd != nil {
				rstd[r] = rs32
			}
		}
	})
}

// LayerNormBackward accumulates the gradients of LayerNormForward:
// dinp [N, C], dweight [C] and dbias [C] (each may be nil) from dout, the
// forward input inp, weight, and the saved mean and rstd.
func LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd []float32, N, C int) {
	if dinp != nil {
		parallelFor(N, 64, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				x := inp[r*C : r*C+C]
				g := dout[r*C : r*C+C]
				m, rs := mean[r], rstd[r]
				// dnorm = g*w; dx = rstd*(dnorm - mean(dnorm) - xhat*mean(dnorm*xhat))
				var sd, sdx float64
				for i, v := range x {
					dn := g[i] * weight[i]
					sd += float64(dn)
					sdx += float64(dn) * float64((v-m)*rs)
				}
				md, mdx := float32(sd/float64(C)), float32(sdx/float64(C))
				d := dinp[r*C : r*C+C]
				for i, v := range x {
					xhat := (v - m) * rs
					d[i] += rs * (g[i]*weight[i] - md - xhat*mdx)
				}
			}
		})
	}
	if dweight != nil || dbias != nil {
		// Columns are independent: split them so the sums stay race-free.
		parallelFor(C, 64, func(lo, hi int) {
			for r := 0; r < N; r++ {
				x := inp[r*C : r*C+C]
				g := dout[r*C : r*C+C]
				m, rs := mean[r], rstd[r]
				for i := lo; i < hi; i++ {
					if dweight != nil {
						dweight[i] += g[i] * (x[i] - m) * rs
					}
					if dbias != nil {
						dbias[i] += g[i]
					}
				}
			}
		})
	}
}
