package qgemm

import "math"

// This file holds the naive reference loops that define what the fast
// paths compute; the tests compare every kernel against them.

// linearBF16Ref computes out [m, n] = bf16(in)·bf16(w)ᵀ + bias in float64
// from the unpacked float32 weights w [n, k].
func linearBF16Ref(out, in []float32, m, n, k int, w, bias []float32) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(FromBF16(ToBF16(in[i*k+p]))) * float64(FromBF16(ToBF16(w[j*k+p])))
			}
			v := float32(s)
			if bias != nil {
				v += bias[j]
			}
			out[i*n+j] = v
		}
	}
}

// quantizeWeightsRef quantises w [n, k] per output channel to [-qmax,
// qmax], unpacked.
func quantizeWeightsRef(w []float32, n, k, qmax int) (q []int8, scale []float32) {
	q = make([]int8, n*k)
	scale = make([]float32, n)
	for j := 0; j < n; j++ {
		scale[j] = quantizeWeightRow(q[j*k:j*k+k], w[j*k:j*k+k], qmax)
	}
	return q, scale
}

// quantizeRowRef is QuantizeRow written out naively, the range cut into
// qa steps (255: QuantizeRow; 127: 7-bit activations).
func quantizeRowRef(dst []uint8, x []float32, qa int32) (float32, int32) {
	var lo, hi float32
	for _, v := range x {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	scale, inv, zp := rowParams(lo, hi, qa)
	for i, v := range x {
		r := math.RoundToEven(float64(v*inv)) + float64(zp)
		dst[i] = uint8(max(0, min(float64(qa), r)))
	}
	return scale, zp
}

// linearInt8Ref computes LinearInt8 naively from unpacked quantised
// weights q [n, k] and their scales, the activations quantised to [0,
// amax]: the exact int32 sums and the same dequantisation.
func linearInt8Ref(out, in []float32, m, n, k int, q []int8, scale, bias []float32, amax int32) {
	qa := make([]uint8, k)
	for i := 0; i < m; i++ {
		sa, zp := quantizeRowRef(qa, in[i*k:i*k+k], amax)
		for j := 0; j < n; j++ {
			var acc, cs int32
			for p := 0; p < k; p++ {
				acc += int32(qa[p]) * int32(q[j*k+p])
				cs += int32(q[j*k+p])
			}
			v := float32(acc-zp*cs) * (sa * scale[j])
			if bias != nil {
				v += bias[j]
			}
			out[i*n+j] = v
		}
	}
}
