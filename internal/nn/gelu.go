package nn

import "math"

const invSqrt2 = 0.70710678118654752440

// erf32 is a float32 rational approximation of erf (the one Eigen and XLA
// use for float): odd degree-13 over even degree-8 polynomials on [-4, 4],
// ±1 outside, within about 3e-7 absolute of math.Erf.
func erf32(a float32) float32 {
	x := min(max(a, -4), 4)
	x2 := x * x
	p := x2*-2.72614225801306e-10 + 2.77068142495902e-08
	p = x2*p + -2.10102402082508e-06
	p = x2*p + -5.69250639462346e-05
	p = x2*p + -7.34990630326855e-04
	p = x2*p + -2.95459980854025e-03
	p = x2*p + -1.60960333262415e-02
	p *= x
	q := x2*-1.45660718464996e-05 + -2.13374055278905e-04
	q = x2*q + -1.68282697438203e-03
	q = x2*q + -7.37332916720468e-03
	q = x2*q + -1.42647390514189e-02
	return p / q
}

// GeluForward computes the exact (erf) GELU, out = x·Φ(x) =
// 0.5·x·(1 + erf(x/√2)), as HF's "gelu" (torch.nn.functional.gelu), over
// len(inp) values. out may alias inp.
func GeluForward(out, inp []float32) {
	parallelFor(len(inp), 1<<14, func(lo, hi int) {
		o, x := out[lo:hi], inp[lo:hi]
		geluSlice(o, x)
	})
}

// geluSlice computes GELU over x into o, with the AVX2 kernel where the
// CPU has it.
func geluSlice(o, x []float32) {
	n8 := 0
	if useAVX2 {
		n8 = len(x) &^ 7
		if n8 > 0 {
			geluAVX2(o[:n8], x[:n8])
		}
	}
	for i := n8; i < len(x); i++ {
		v := x[i]
		o[i] = 0.5 * v * (1 + erf32(v*invSqrt2))
	}
}

// GeluBackward accumulates dinp += dout·GELU'(inp), with the exact
// derivative GELU'(x) = Φ(x) + x·φ(x): in float32 with the AVX2 kernel
// where the CPU has it (erf32 and a float32 exp, within about 1e-6 of the
// float64 value), in float64 otherwise and for the tail.
func GeluBackward(dinp, inp, dout []float32) {
	parallelFor(len(inp), 1<<14, func(lo, hi int) {
		d, x, g := dinp[lo:hi], inp[lo:hi], dout[lo:hi]
		n8 := 0
		if useAVX2 {
			n8 = len(x) &^ 7
			if n8 > 0 {
				geluBackwardAVX2(d[:n8], x[:n8], g[:n8])
			}
		}
		geluBackwardRef(d[n8:], x[n8:], g[n8:])
	})
}

// geluBackwardRef is GeluBackward's reference loop, in float64.
func geluBackwardRef(d, x, g []float32) {
	const invSqrt2Pi = 0.39894228040143267794
	for i, v := range x {
		xv := float64(v)
		cdf := 0.5 * (1 + math.Erf(xv*invSqrt2))
		pdf := invSqrt2Pi * math.Exp(-0.5*xv*xv)
		d[i] += g[i] * float32(cdf+xv*pdf)
	}
}
