package sq8

import (
	"math"
	"math/rand/v2"
	"testing"
)

// dotU8Float64 is the float64 reference of the SQ8 kernel.
func dotU8Float64(q []float32, c []uint8) float64 {
	var s float64
	for i := range q {
		s += float64(q[i]) * float64(c[i])
	}
	return s
}

// TestDotU8 checks the kernel (DotU8, assembly where the build has it) and
// the pure-Go reference against float64 at many lengths and offsets; bytes
// and floats around the operands are guard values that must not be read
// (they would change the sum) nor written.
func TestDotU8(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 8))
	kernels := map[string]func([]float32, []uint8) float32{"ref": DotU8Ref, "dispatch": DotU8}
	for n := 0; n <= 300; n++ {
		if n > 70 && n%29 != 0 && n != 256 {
			continue
		}
		for _, off := range []int{0, 1, 3, 7} {
			const guard = 16
			qb := make([]float32, off+n+guard)
			cb := make([]uint8, off+n+guard)
			for i := range qb {
				qb[i] = 1e6
				cb[i] = 255
			}
			q, c := qb[off:off+n], cb[off:off+n]
			for i := range q {
				q[i] = float32(rng.NormFloat64())
				c[i] = uint8(rng.IntN(256))
			}
			want := dotU8Float64(q, c)
			for name, f := range kernels {
				got := f(q, c)
				if tol := 1e-5 * (1 + math.Abs(want)) * float64(1+n/8); math.Abs(float64(got)-want) > tol {
					t.Fatalf("%s n=%d off=%d: %v, want %v", name, n, off, got, want)
				}
			}
			for i := 0; i < off; i++ {
				if qb[i] != 1e6 || cb[i] != 255 {
					t.Fatalf("n=%d off=%d: guard before changed", n, off)
				}
			}
			for i := off + n; i < len(qb); i++ {
				if qb[i] != 1e6 || cb[i] != 255 {
					t.Fatalf("n=%d off=%d: guard after changed", n, off)
				}
			}
		}
	}
	// The extreme code values.
	q := make([]float32, 40)
	c := make([]uint8, 40)
	for i := range q {
		q[i], c[i] = 1, 255
	}
	if got := DotU8(q, c); got != 40*255 {
		t.Fatalf("all 255: %v", got)
	}
}

// TestDecodeCodes checks the byte-to-float conversion of the batched SQ8
// scan (assembly where the build has it) against the reference, with guard
// values around the destination.
func TestDecodeCodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 8))
	for n := 0; n <= 200; n++ {
		for _, off := range []int{0, 1, 5} {
			c := make([]uint8, off+n)
			for i := range c {
				c[i] = uint8(rng.IntN(256))
			}
			c = c[off:]
			dst := make([]float32, off+n+8)
			for i := range dst {
				dst[i] = -1
			}
			Decode(dst[off:off+n], c)
			for i := range dst {
				want := float32(-1)
				if i >= off && i < off+n {
					want = float32(c[i-off])
				}
				if dst[i] != want {
					t.Fatalf("n=%d off=%d: dst[%d] = %v, want %v", n, off, i, dst[i], want)
				}
			}
		}
	}
}
