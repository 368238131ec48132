package nn

import "math"

// LayerNormForward normalises each of the N rows of inp [N, C] over its C
// values and applies the affine weight and bias [C]:
// out = (x - mean) * rstd * weight + bias with rstd = 1/sqrt(var + eps) and
// the biased variance, as torch.nn.LayerNorm. It saves mean [N] and rstd
// [N] for LayerNormBackward (either may be nil when no backward follows).
// Statistics are accumulated in float64.
func LayerNormForward(out, mean, rstd, inp, weight, bias []float32, N, C int, eps float32) {
	parallelFor(N, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			x := inp[r*C : r*C+C]
			var s float64
			for _, v := range x {
				s += float64(v)
			}
			m := s / float64(C)
			var vs float64
			for _, v := range x {
				d := float64(v) - m
				vs += d * d
			}
			rs := 1 / math.Sqrt(vs/float64(C)+float64(eps))
			m32, rs32 := float32(m), float32(rs)
			o := out[r*C : r*C+C]
			for i, v := range x {
				o[i] = (v-m32)*rs32*weight[i] + bias[i]
			}
			if mean != nil {
				mean[r] = m32
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
