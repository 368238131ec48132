package nn

import "github.com/contriever-go/contriever/internal/blas32"

// Dropout draws its masks from a counter-based generator: element i of a
// call with seed s is kept or dropped according to a hash of (s, i) alone.
// The masks are therefore reproducible from the seed, independent of how
// the work is split over goroutines, and a trainer only has to store and
// advance one seed per call to resume bit for bit.

// mix64 is the splitmix64 finaliser.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// dropThreshold returns the 24-bit threshold below which an element is
// dropped with probability p.
func dropThreshold(p float32) uint64 {
	return uint64(float64(p) * (1 << 24))
}

// dropped reports whether element i of the call with the given seed is
// dropped, for threshold thr from dropThreshold.
func dropped(seed, i, thr uint64) bool {
	return mix64(seed+(i+1)*0x9e3779b97f4a7c15)>>40 < thr
}

// DropoutMask reports whether element i of a dropout call with seed and
// probability p is kept: the same decision DropoutForward makes.
func DropoutMask(seed uint64, i int, p float32) bool {
	return !dropped(seed, uint64(i), dropThreshold(p))
}

// DropoutForward computes out = inp·mask/(1-p) with mask[i] ∈ {0, 1} drawn
// with keep probability 1-p from seed (see DropoutMask), saving the mask
// for DropoutBackward. p = 0 copies inp and sets the mask to 1. out may
// alias inp.
func DropoutForward(out []float32, mask []uint8, inp []float32, p float32, seed uint64) {
	if p <= 0 {
		copy(out, inp)
		for i := range mask[:len(inp)] {
			mask[i] = 1
		}
		return
	}
	thr := dropThreshold(p)
	scale := 1 / (1 - p)
	parallelFor(len(inp), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if dropped(seed, uint64(i), thr) {
				mask[i] = 0
				out[i] = 0
			} else {
				mask[i] = 1
				out[i] = inp[i] * scale
			}
		}
	})
}

// DropoutBackward accumulates dinp += dout·mask/(1-p).
func DropoutBackward(dinp, dout []float32, mask []uint8, p float32) {
	scale := float32(1)
	if p > 0 {
		scale = 1 / (1 - p)
	}
	parallelFor(len(dout), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if mask[i] != 0 {
				dinp[i] += dout[i] * scale
			}
		}
	})
}

// ResidualForward computes out = a + b elementwise. out may alias a or b.
// In place (out is a or b) it is blas32.Axpy with alpha 1, vectorised,
// whose fused multiply-add rounds a + 1·b once: the sum, bit for bit.
func ResidualForward(out, a, b []float32) {
	n := len(a)
	if n == 0 {
		return
	}
	out, b = out[:n], b[:n]
	switch {
	case &out[0] == &a[0]:
		parallelFor(n, 1<<15, func(lo, hi int) { blas32.Axpy(1, b[lo:hi], out[lo:hi]) })
	case &out[0] == &b[0]:
		parallelFor(n, 1<<15, func(lo, hi int) { blas32.Axpy(1, a[lo:hi], out[lo:hi]) })
	default:
		parallelFor(n, 1<<15, func(lo, hi int) {
			o, x, y := out[lo:hi], a[lo:hi], b[lo:hi]
			for i := range x {
				o[i] = x[i] + y[i]
			}
		})
	}
}

// ResidualBackward accumulates da += dout and db += dout (either may be
// nil).
func ResidualBackward(da, db, dout []float32) {
	parallelFor(len(dout), 1<<15, func(lo, hi int) {
		g := dout[lo:hi]
		if da != nil {
			d := da[lo:hi]
			for i, v := range g {
				d[i] += v
			}
		}
		if db != nil {
			d := db[lo:hi]
			for i, v := range g {
				d[i] += v
			}
		}
	})
}
