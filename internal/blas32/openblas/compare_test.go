//go:build openblas

package openblas

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/contriever-go/contriever/internal/blas32"
)

var compareReps = flag.Int("compare.reps", 7, "repetitions per library, shape and thread count")

func TestAgreesWithOpenBLAS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		m, n, k := 97, 131, 257
		a := make([]float32, m*k)
		b := make([]float32, k*n)
		for i := range a {
			a[i] = rng.Float32() - 0.5
		}
		for i := range b {
			b[i] = rng.Float32() - 0.5
		}
		lda, ldb := k, n
		if tr[0] {
			lda = m
		}
		if tr[1] {
			ldb = k
		}
		c1, c2 := make([]float32, m*n), make([]float32, m*n)
		blas32.Sgemm(tr[0], tr[1], m, n, k, 1.5, a, lda, b, ldb, 0, c1, n)
		Sgemm(tr[0], tr[1], m, n, k, 1.5, a, lda, b, ldb, 0, c2, n)
		for i := range c1 {
			if math.Abs(float64(c1[i]-c2[i])) > 1e-4 {
				t.Fatalf("trans %v: C[%d] = %v, OpenBLAS %v", tr, i, c1[i], c2[i])
			}
		}
	}
}

// BenchmarkCompare times blas32 and OpenBLAS alternately, rep by rep, at
// 2048³ and the BERT-base shapes, 1 and 2 threads, and prints the medians
// and the ratio. Run it with -benchtime 1x.
func BenchmarkCompare(b *testing.B) {
	shapes := [][3]int{{2048, 2048, 2048}, {4096, 768, 3072}, {4096, 768, 768}, {4096, 3072, 768}} // m, k, n
	rng := rand.New(rand.NewPCG(2, 2))
	fmt.Printf("OpenBLAS %s (core %s) vs blas32 %s; medians of %d alternated reps\n\n", Config(), CoreName(), blas32.Implementation(), *compareReps)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape (MxKxN)\tthreads\tblas32 GFLOP/s\tOpenBLAS GFLOP/s\tratio\tblas32 best\tOpenBLAS best\t")
	for b.Loop() {
		for _, s := range shapes {
			m, k, n := s[0], s[1], s[2]
			a := make([]float32, m*k)
			bb := make([]float32, k*n)
			for i := range a {
				a[i] = rng.Float32()*2 - 1
			}
			for i := range bb {
				bb[i] = rng.Float32()*2 - 1
			}
			c := make([]float32, m*n)
			flops := 2 * float64(m) * float64(n) * float64(k)
			for _, threads := range []int{1, 2} {
				SetThreads(threads)
				ours := func() { blas32.SgemmThreads(threads, false, false, m, n, k, 1, a, k, bb, n, 0, c, n) }
				theirs := func() { Sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n) }
				ours()
				theirs()
				var to, tt []float64
				for r := 0; r < *compareReps; r++ {
					t0 := time.Now()
					ours()
					to = append(to, time.Since(t0).Seconds())
					t0 = time.Now()
					theirs()
					tt = append(tt, time.Since(t0).Seconds())
				}
				slices.Sort(to)
				slices.Sort(tt)
				ro, rt := flops/to[len(to)/2]/1e9, flops/tt[len(tt)/2]/1e9
				fmt.Fprintf(tw, "%dx%dx%d\t%d\t%.1f\t%.1f\t%.2f\t%.1f\t%.1f\t\n", m, k, n, threads, ro, rt, ro/rt, flops/to[0]/1e9, flops/tt[0]/1e9)
			}
		}
	}
	tw.Flush()
}
