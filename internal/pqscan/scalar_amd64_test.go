//go:build amd64 && !purego

package pqscan

import (
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// BenchmarkScanKernels: the scalar assembly kernel beside the AVX2 gather
// kernel and the pure-Go reference.
func BenchmarkScanKernels(b *testing.B) {
	for _, m := range []int{16, 64, 96} {
		b.Run("scalar/m"+itoa(m), func(b *testing.B) {
			benchScan(b, func(t []float32, c []uint8, m int, o []float32) { scanScalar(&t[0], &c[0], m, &o[0], len(o)) }, m)
		})
		b.Run("gather/m"+itoa(m), func(b *testing.B) {
			if !cpu.X86.HasAVX2 {
				b.Skip("no AVX2")
			}
			benchScan(b, func(t []float32, c []uint8, m int, o []float32) { scanAVX2(&t[0], &c[0], m, &o[0], len(o)) }, m)
		})
		b.Run("ref/m"+itoa(m), func(b *testing.B) { benchScan(b, ScanRef, m) })
	}
}

// TestScalarAsmEqualsRef: the scalar kernel sums in ScanRef's order, so
// its results are bit-identical, for every m multiple of 4 and odd n.
func TestScalarAsmEqualsRef(t *testing.T) {
	for _, m := range []int{4, 8, 16, 96} {
		for _, n := range []int{1, 2, 3, 7, 129} {
			table := make([]float32, m*KSub)
			for i := range table {
				table[i] = float32((i*7919)%1000)/100 - 5
			}
			codes := make([]uint8, n*m)
			for i := range codes {
				codes[i] = uint8((i * 131) % 251)
			}
			a, r := make([]float32, n), make([]float32, n)
			scanScalar(&table[0], &codes[0], m, &a[0], n)
			ScanRef(table, codes, m, r)
			for i := range a {
				if a[i] != r[i] {
					t.Fatalf("m %d n %d i %d: %v vs ref %v", m, n, i, a[i], r[i])
				}
			}
		}
	}
}

// TestScanScalarBitIdentical: the scalar kernel (four code bytes a load)
// gives ScanRef's results bit for bit, for every m it takes (multiples of
// 4) and odd and even n (the one-vector tail), with extreme codes.
func TestScanScalarBitIdentical(t *testing.T) {
	if !cpu.X86.HasAVX {
		t.Skip("no AVX")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, m := range []int{4, 8, 12, 64, 96} {
		table := make([]float32, m*KSub)
		for i := range table {
			table[i] = float32(rng.NormFloat64())
		}
		for _, n := range []int{1, 2, 3, 5, 64, 129, 256} {
			codes := make([]uint8, n*m)
			for i := range codes {
				codes[i] = uint8(rng.IntN(256))
			}
			codes[0], codes[len(codes)-1], codes[len(codes)/2] = 0, 255, 255
			got, want := make([]float32, n), make([]float32, n)
			scanScalar(&table[0], &codes[0], m, &got[0], n)
			ScanRef(table, codes, m, want)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("m=%d n=%d i=%d: %v, ScanRef %v", m, n, i, got[i], want[i])
				}
			}
		}
	}
}
