package qgemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/contriever-go/contriever/internal/blas32"
)

// benchShapes are BERT-base's projections for a 32×128 batch, as
// m×n×k (out [m, n] = in [m, k]·Wᵀ): QKV/attention output, FFN in, FFN out.
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"4096x768x768", 4096, 768, 768},
	{"4096x3072x768", 4096, 3072, 768},
	{"4096x768x3072", 4096, 768, 3072},
}

// BenchmarkLinear runs the float32 sgemm (blas32, the same product as
// nn.LinearForward) beside the bf16 and int8 linear layers, conversion and
// quantisation of the activations included.
func BenchmarkLinear(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range benchShapes {
		in := randSlice(rng, s.m*s.k, 1)
		w := randSlice(rng, s.n*s.k, 0.05)
		bias := randSlice(rng, s.n, 0.1)
		out := make([]float32, s.m*s.n)
		bw := NewBF16Weights(w, s.n, s.k)
		qw := NewInt8Weights(w, s.n, s.k)
		for _, threads := range []int{1, 2} {
			for _, p := range []struct {
				name string
				run  func()
			}{
				{"f32", func() { blas32.SgemmThreads(threads, false, true, s.m, s.n, s.k, 1, in, s.k, w, s.k, 0, out, s.n) }},
				{"bf16", func() { linearBF16(curBF16, threads, out, in, s.m, bw, bias) }},
				{"int8", func() { linearInt8(curInt8, threads, out, in, s.m, qw, bias) }},
			} {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", s.name, p.name, threads), func(b *testing.B) {
					for b.Loop() {
						p.run()
					}
					b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
				})
			}
		}
	}
}

// BenchmarkLinearNaive is the reference loop, for contrast.
func BenchmarkLinearNaive(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 128
	in, w, out := randSlice(rng, n*n, 1), randSlice(rng, n*n, 1), make([]float32, n*n)
	q, sc := quantizeWeightsRef(w, n, n, 127)
	b.Run("bf16", func(b *testing.B) {
		for b.Loop() {
			linearBF16Ref(out, in, n, n, n, w, nil)
		}
		b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
	})
	b.Run("int8", func(b *testing.B) {
		for b.Loop() {
			linearInt8Ref(out, in, n, n, n, q, sc, nil, 255)
		}
		b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
	})
}

// BenchmarkKernelInt8 times each int8 micro-kernel alone on one tile with
// K = 768, its operands in L1, epilogue included.
func BenchmarkKernelInt8(b *testing.B) {
	for _, g := range allImpls() {
		if g.int8 == nil {
			continue
		}
		const steps = 192
		mr, nr := g.mr, g.nr
		a := make([]uint8, mr*4*steps)
		w := make([]int8, nr*4*steps)
		for i := range a {
			a[i] = uint8(int32(i*7) % (g.actMax() + 1))
		}
		for i := range w {
			w[i] = int8(i%(2*int(g.int8Max)+1) - int(g.int8Max))
		}
		var t tileOut
		t.bias, t.sc, t.cs = make([]float32, nr), make([]float32, nr), make([]int32, nr)
		t.sa, t.zp = make([]float32, mr), make([]int32, mr)
		out := make([]float32, mr*nr)
		b.Run(g.name, func(b *testing.B) {
			for b.Loop() {
				g.int8(steps, a, 4*steps, w, out, nr, &t)
			}
			b.ReportMetric(2*float64(mr*nr*4*steps)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
		})
	}
}
