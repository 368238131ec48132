package nn

import "math"

// MeanPoolForward computes Contriever's mean pooling: out[b] [C] is the
// mean of hidden[b, t] over the positions t with mask[b, t] = 1 ([CLS] and
// [SEP] included), for hidden [B, T, C] and mask [B, T]. A row without any
// unmasked position gives zeros. Sums are accumulated in float64.
func MeanPoolForward(out, hidden []float32, mask []int32, B, T, C int) {
	parallelFor(B, 1, func(lo, hi int) {
		acc := make([]float64, C)
		for b := lo; b < hi; b++ {
			clear(acc)
			n := 0
			for t := 0; t < T; t++ {
				if mask[b*T+t] == 0 {
					continue
				}
				n++
				for i, v := range hidden[(b*T+t)*C : (b*T+t)*C+C] {
					acc[i] += float64(v)
				}
			}
			o := out[b*C : b*C+C]
			for i := range o {
				if n > 0 {
					o[i] = float32(acc[i] / float64(n))
				} else {
					o[i] = 0
				}
			}
		}
	})
}

// MeanPoolBackward accumulates dhidden[b, t] += dout[b]/n_b for the
// positions with mask 1, n_b being their count.
func MeanPoolBackward(dhidden, dout []float32, mask []int32, B, T, C int) {
	for b := 0; b < B; b++ {
		n := 0
		for t := 0; t < T; t++ {
			if mask[b*T+t] != 0 {
				n++
			}
		}
		if n == 0 {
			continue
		}
		inv := 1 / float32(n)
		g := dout[b*C : b*C+C]
		for t := 0; t < T; t++ {
			if mask[b*T+t] == 0 {
				continue
			}
			d := dhidden[(b*T+t)*C : (b*T+t)*C+C]
			for i, v := range g {
				d[i] += v * inv
			}
		}
	}
}

// CLSPoolForward copies hidden[b, 0] (the [CLS] position) into out[b] for
// hidden [B, T, C].
func CLSPoolForward(out, hidden []float32, B, T, C int) {
	for b := 0; b < B; b++ {
		copy(out[b*C:b*C+C], hidden[b*T*C:b*T*C+C])
	}
}

// CLSPoolBackward accumulates dhidden[b, 0] += dout[b].
func CLSPoolBackward(dhidden, dout []float32, B, T, C int) {
	for b := 0; b < B; b++ {
		d := dhidden[b*T*C : b*T*C+C]
		for i, v := range dout[b*C : b*C+C] {
			d[i] += v
		}
	}
}

// L2NormEps is the floor of the norm in L2NormalizeForward, as
// torch.nn.functional.normalize.
const L2NormEps = 1e-12

// L2NormalizeForward scales each row of inp [N, C] to unit Euclidean norm,
// out = x / max(‖x‖, L2NormEps), saving the norms ‖x‖ [N] (may be nil).
// out may alias inp.
func L2NormalizeForward(out, norms, inp []float32, N, C int) {
	for r := 0; r < N; r++ {
		x := inp[r*C : r*C+C]
		var s float64
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		nrm := math.Sqrt(s)
		if norms != nil {
			norms[r] = float32(nrm)
		}
		inv := float32(1 / max(nrm, L2NormEps))
		o := out[r*C : r*C+C]
		for i, v := range x {
			o[i] = v * inv
		}
	}
}

// L2NormalizeBackward accumulates dinp += (dout - y·(y·dout))/‖x‖ for the
// forward output y = out and the saved norms. Rows whose norm was below
// L2NormEps were only scaled, and get dout/L2NormEps.
func L2NormalizeBackward(dinp, dout, out, norms []float32, N, C int) {
	for r := 0; r < N; r++ {
		y := out[r*C : r*C+C]
		g := dout[r*C : r*C+C]
		d := dinp[r*C : r*C+C]
		nrm := float64(norms[r])
		if nrm <= L2NormEps {
			for i, v := range g {
				d[i] += float32(float64(v) / L2NormEps)
			}
			continue
		}
		var dot float64
		for i, v := range g {
			dot += float64(v) * float64(y[i])
		}
		inv := 1 / nrm
		for i, v := range g {
			d[i] += float32((float64(v) - float64(y[i])*dot) * inv)
		}
	}
}
