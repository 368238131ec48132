package blas32

import (
	"fmt"
	"testing"
)

// TestSgemmSmallAgainstRef runs SgemmSmall through every implementation
// (the unpacked AVX2 kernel where the CPU has it, SgemmSerial otherwise)
// against the reference loop, with guard values around and between the
// rows of C, NaN in C (never read), strided operands, and shapes that need
// overlapping edge tiles (m not a multiple of 6, n of 16) or fall back
// (m < 6, n < 16).
func TestSgemmSmallAgainstRef(t *testing.T) {
	ms := []int{1, 5, 6, 7, 11, 12, 13, 37, 128}
	ns := []int{1, 15, 16, 17, 31, 33, 64, 128}
	ks := []int{1, 2, 3, 4, 5, 8, 64, 129}
	for _, g := range allImpls() {
		for _, transB := range []bool{false, true} {
			seed := uint64(1)
			for _, m := range ms {
				for _, n := range ns {
					for _, k := range ks {
						if m*n*k > 128*128*64 {
							continue
						}
						seed++
						c := gemmCase{transB: transB, m: m, n: n, k: k, alpha: 0.125, padA: int(seed % 3), padB: int(seed % 5), padC: int(seed % 7)}
						runGemmCaseWith(t, fmt.Sprintf("SgemmSmall %s %v", g.name, c), c, seed, func(a []float32, lda int, b []float32, ldb int, cc []float32, ldc int) {
							sgemmSmall(g, transB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, cc, ldc)
						})
					}
				}
			}
		}
	}
}

// TestSgemmSmallUsesKernel checks that the unpacked kernel, where there is
// one, is what computes the tiles: a kernel that writes zeros makes
// SgemmSmall's result zero.
func TestSgemmSmallUsesKernel(t *testing.T) {
	for _, g := range allImpls() {
		if g.small == nil {
			continue
		}
		zero := *g
		zero.small = func(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha float32) {
			for r := 0; r < 6; r++ {
				clear(c[r*ldc : r*ldc+16])
			}
		}
		m, n, k := 13, 33, 7
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range a {
			a[i] = 1
		}
		for i := range b {
			b[i] = 1
		}
		sgemmSmall(&zero, false, m, n, k, 1, a, k, b, n, c, n)
		for i, v := range c {
			if v != 0 {
				t.Fatalf("%s: C[%d] = %v: SgemmSmall did not run the unpacked kernel", g.name, i, v)
			}
		}
	}
}

// BenchmarkSgemmSmall times the two products of one attention head of
// BERT-base at 128 tokens (Q·Kᵀ: 128×128×64 with Kᵀ; P·V: 128×64×128),
// strided as in the fused QKV buffer, through SgemmSmall beside
// SgemmSerial and the naive loop.
func BenchmarkSgemmSmall(b *testing.B) {
	const T, HS, C3 = 128, 64, 3 * 768
	qkv := make([]float32, T*C3)
	for i := range qkv {
		qkv[i] = float32(i%97) / 97
	}
	p := make([]float32, T*T)
	out := make([]float32, T*768)
	for _, f := range []struct {
		name string
		run  func()
	}{
		{"serial", func() {
			SgemmSerial(false, true, T, T, HS, 0.125, qkv, C3, qkv[768:], C3, 0, p, T)
			SgemmSerial(false, false, T, HS, T, 1, p, T, qkv[1536:], C3, 0, out, 768)
		}},
		{"small", func() {
			SgemmSmall(true, T, T, HS, 0.125, qkv, C3, qkv[768:], C3, p, T)
			SgemmSmall(false, T, HS, T, 1, p, T, qkv[1536:], C3, out, 768)
		}},
		{"naive", func() {
			sgemmRef(false, true, T, T, HS, 0.125, qkv, C3, qkv[768:], C3, 0, p, T)
			sgemmRef(false, false, T, HS, T, 1, p, T, qkv[1536:], C3, 0, out, 768)
		}},
	} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				f.run()
			}
			b.ReportMetric(4*T*T*HS*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestTranspose checks transpose (8×8 AVX2 blocks where the CPU has them,
// Go edges) against the definition on shapes around multiples of 8, with
// strides wider than the rows and guard values around and between the
// rows of dst.
func TestTranspose(t *testing.T) {
	for _, rows := range []int{1, 7, 8, 9, 16, 23, 64, 128} {
		for _, cols := range []int{1, 5, 8, 15, 16, 17, 64} {
			lds, ldd := cols+3, rows+5
			src := make([]float32, (rows-1)*lds+cols)
			for i := range src {
				src[i] = float32(i) + 0.5
			}
			buf := make([]float32, (cols-1)*ldd+rows+2*guardPad)
			for i := range buf {
				buf[i] = guard
			}
			dst := buf[guardPad : len(buf)-guardPad]
			transpose(dst, ldd, src, lds, rows, cols)
			for i, v := range buf {
				o := i - guardPad
				in := o >= 0 && o < len(dst) && o%ldd < rows
				if !in {
					if v != guard {
						t.Fatalf("%d×%d: guard at %d overwritten", rows, cols, o)
					}
					continue
				}
				j, r := o/ldd, o%ldd
				if want := src[r*lds+j]; v != want {
					t.Fatalf("%d×%d: dst[%d,%d] = %v, want %v", rows, cols, j, r, v, want)
				}
			}
		}
	}
}
