package pqscan

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naive is the definition, summed in float64.
func naive(table []float32, codes []uint8, m int, i int) float64 {
	var s float64
	for j := 0; j < m; j++ {
		s += float64(table[j*KSub+int(codes[i*m+j])])
	}
	return s
}

// TestScan compares Scan (whichever kernel runs) and ScanRef with the
// float64 definition over sizes that cover the paired and single vector
// paths and m not a multiple of 8, and checks that guard values around out
// are not written.
func TestScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, m := range []int{1, 3, 8, 16, 24, 64, 96} {
		table := make([]float32, m*KSub)
		for i := range table {
			table[i] = float32(rng.NormFloat64())
		}
		for _, n := range []int{1, 2, 3, 7, 64, 129} {
			codes := make([]uint8, n*m)
			for i := range codes {
				codes[i] = uint8(rng.IntN(256))
			}
			// Extreme codes too.
			codes[0], codes[len(codes)-1] = 0, 255
			const guard = 12345.5
			buf := make([]float32, n+2)
			ref := make([]float32, n)
			for _, f := range []struct {
				name string
				fn   func([]float32, []uint8, int, []float32)
			}{{"Scan", Scan}, {"ScanRef", ScanRef}} {
				buf[0], buf[n+1] = guard, guard
				f.fn(table, codes, m, buf[1:n+1])
				if buf[0] != guard || buf[n+1] != guard {
					t.Fatalf("%s m=%d n=%d: guard overwritten", f.name, m, n)
				}
				for i := 0; i < n; i++ {
					want := naive(table, codes, m, i)
					if math.Abs(float64(buf[1+i])-want) > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("%s m=%d n=%d i=%d: %v, want %v", f.name, m, n, i, buf[1+i], want)
					}
				}
				if f.name == "ScanRef" {
					copy(ref, buf[1:n+1])
				}
			}
		}
	}
	t.Logf("kernel for m=64: %s", Kernel(64))
}

func TestScanEmpty(t *testing.T) {
	Scan(nil, nil, 8, nil) // no panic, nothing read
}

func benchScan(b *testing.B, fn func([]float32, []uint8, int, []float32), m int) {
	const n = 4096
	rng := rand.New(rand.NewPCG(3, 4))
	table := make([]float32, m*KSub)
	for i := range table {
		table[i] = rng.Float32()
	}
	codes := make([]uint8, n*m)
	for i := range codes {
		codes[i] = uint8(rng.IntN(256))
	}
	out := make([]float32, n)
	b.SetBytes(int64(n * m))
	for b.Loop() {
		fn(table, codes, m, out)
	}
}

func BenchmarkScan(b *testing.B) {
	for _, m := range []int{16, 64} {
		b.Run("kernel/m"+itoa(m), func(b *testing.B) { benchScan(b, Scan, m) })
		b.Run("ref/m"+itoa(m), func(b *testing.B) { benchScan(b, ScanRef, m) })
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
