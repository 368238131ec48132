//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

// useAVX2 reports whether the AVX2+FMA kernels of vec_amd64.s can run.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// geluAVX2 computes out[i] = 0.5·x·(1 + erf32(x/√2)) for len(in) a
// multiple of 8 (the same rational erf as erf32).
//
//go:noescape
func geluAVX2(out, in []float32)

// geluBackwardAVX2 accumulates dinp[i] += dout[i]·GELU'(inp[i]) for
// len(inp) a multiple of 8 (erf32's Φ and a float32 exp for φ).
//
//go:noescape
func geluBackwardAVX2(dinp, inp, dout []float32)

// expSubSumAVX2 replaces s[i] by exp(s[i] - mx) (0 below exp's float32
// range) and returns their sum, for len(s) a multiple of 8 and s[i] <= mx.
//
//go:noescape
func expSubSumAVX2(s []float32, mx float32) float32

// lnDevAVX2 writes o[i] = x[i] - m and returns the sums of o[i] and of
// o[i]² (float32, in sixteen lanes), for len(x) a multiple of 8 and
// len(o) >= len(x).
//
//go:noescape
func lnDevAVX2(o, x []float32, m float32) (s, q float32)

// lnAffineAVX2 computes o[i] = (o[i]-d)·rs·w[i] + b[i] (the last two
// fused) for len(o) a multiple of 8 and len(w), len(b) >= len(o).
//
//go:noescape
func lnAffineAVX2(o, w, b []float32, d, rs float32)

// maxAVX2 returns the largest value of s, for len(s) a positive multiple
// of 8 (VMAXPS: no NaN in s).
//
//go:noescape
func maxAVX2(s []float32) float32
