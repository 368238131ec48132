package blas32

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func BenchmarkPackA(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const m, k = 240, 256
	a := randSlice(rng, m*3072)
	ap := make([]float32, m*k)
	for _, mr := range []int{6, 12} {
		b.Run(fmt.Sprint(mr), func(b *testing.B) {
			b.SetBytes(m * k * 4)
			for b.Loop() {
				packA(false, m, k, a, 3072, 0, 0, mr, ap)
			}
		})
	}
}

func BenchmarkPackB(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, k = 1024, 256
	bb := randSlice(rng, 768*n)
	bp := make([]float32, n*k)
	for _, nr := range []int{16, 32} {
		for _, tr := range []bool{false, true} {
			b.Run(fmt.Sprint(nr, tr), func(b *testing.B) {
				b.SetBytes(n * k * 4)
				for b.Loop() {
					if tr {
						packB(true, k, n, bb, 768, 0, 0, nr, bp)
					} else {
						packB(false, k, n, bb, n, 0, 0, nr, bp)
					}
				}
			})
		}
	}
}
