package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttentionForwardLarge checks the inference forward (no probabilities
// kept, no dropout) on shapes that reach SgemmSmall's unpacked tiles
// (T >= 6 rows, T and HS >= 16 columns, T not a multiple of 6 or 16, so
// the edge tiles overlap), with padded and unpadded sequences, against the
// float64 reference. Run it with BLAS32_KERNEL=avx2 as well (CI runs the
// default kernel and the pure-Go one).
func TestAttentionForwardLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, d := range []AttentionDims{
		{B: 2, T: 128, NH: 2, HS: 64},
		{B: 3, T: 37, NH: 2, HS: 16},
		{B: 2, T: 17, NH: 3, HS: 24},
		{B: 1, T: 5, NH: 2, HS: 16},
	} {
		C := d.C()
		qkv := randSlice(r, d.B*d.T*3*C, 1.5)
		mask := make([]int32, d.B*d.T)
		for b := 0; b < d.B; b++ {
			n := d.T
			if b > 0 {
				n = 1 + r.IntN(d.T)
			}
			for t := 0; t < n; t++ {
				mask[b*d.T+t] = 1
			}
		}
		out := make([]float32, d.B*d.T*C)
		for i := range out {
			out[i] = float32(math.NaN())
		}
		AttentionForward(out, nil, nil, qkv, mask, d, 0, 0)
		ref := attentionRef(qkv, mask, d)
		for i := range ref {
			if math.Abs(ref[i]-float64(out[i])) > 2e-5 {
				t.Fatalf("%+v: out[%d] = %g, want %g", d, i, out[i], ref[i])
			}
		}
	}
}
