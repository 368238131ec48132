//go:build amd64 && !purego

package pqscan

import (
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
