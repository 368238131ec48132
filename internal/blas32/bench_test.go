package blas32

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// benchShapes are the products the project runs: square, the BERT-base
// projections (QKV/output and FFN), as m×k times k×n.
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"2048x2048x2048", 2048, 2048, 2048},
	{"4096x768x768", 4096, 768, 768},
	{"4096x768x3072", 4096, 3072, 768},
	{"4096x3072x768", 4096, 768, 3072},
}

func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range benchShapes {
		a := randSlice(rng, s.m*s.k)
		bb := randSlice(rng, s.k*s.n)
		c := make([]float32, s.m*s.n)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, threads), func(b *testing.B) {
				for b.Loop() {
					SgemmThreads(threads, false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
				}
				b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemmNaive is the reference triple loop, for contrast.
func BenchmarkSgemmNaive(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 256
	a, bb, c := randSlice(rng, n*n), randSlice(rng, n*n), make([]float32, n*n)
	for b.Loop() {
		sgemmRef(false, false, n, n, n, 1, a, n, bb, n, 0, c, n)
	}
	b.ReportMetric(2*float64(n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkAttention runs the two products of self-attention for a batch
// of 32 sequences × 12 heads (seq 128, head 64): S = Q·Kᵀ (128×128×64) and
// O = P·V (128×64×128), one SgemmSerial per head spread over the threads.
func BenchmarkAttention(b *testing.B) {
	const seq, dh, heads = 128, 64, 32 * 12
	rng := rand.New(rand.NewPCG(3, 4))
	q := randSlice(rng, heads*seq*dh)
	k := randSlice(rng, heads*seq*dh)
	v := randSlice(rng, heads*seq*dh)
	s := make([]float32, heads*seq*seq)
	o := make([]float32, heads*seq*dh)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("128x64x128x%d/threads=%d", heads, threads), func(b *testing.B) {
			for b.Loop() {
				var next atomic.Int64
				var wg sync.WaitGroup
				for w := 0; w < threads; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for h := int(next.Add(1) - 1); h < heads; h = int(next.Add(1) - 1) {
							qh, kh, vh := q[h*seq*dh:(h+1)*seq*dh], k[h*seq*dh:(h+1)*seq*dh], v[h*seq*dh:(h+1)*seq*dh]
							sh, oh := s[h*seq*seq:(h+1)*seq*seq], o[h*seq*dh:(h+1)*seq*dh]
							SgemmSerial(false, true, seq, seq, dh, 0.125, qh, dh, kh, dh, 0, sh, seq)
							SgemmSerial(false, false, seq, dh, seq, 1, sh, seq, vh, dh, 0, oh, dh)
						}
					}()
				}
				wg.Wait()
			}
			flops := 2 * 2 * float64(seq*seq*dh) * heads
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkSearch scores 1000 queries against 100k vectors of dimension 768
// with Scores, keeping the best score per query (a top-1 search).
func BenchmarkSearch(b *testing.B) {
	const nq, nx, dim = 1000, 100000, 768
	rng := rand.New(rand.NewPCG(5, 6))
	q := randSlice(rng, nq*dim)
	x := randSlice(rng, nx*dim)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("1000x100000x768/threads=%d", threads), func(b *testing.B) {
			best := make([][]float32, threads)
			for w := range best {
				best[w] = make([]float32, nq)
			}
			for b.Loop() {
				Scores(q, nq, x, nx, dim, threads, func(w, x0, nb int, s []float32) {
					bw := best[w]
					for i := 0; i < nq; i++ {
						for _, v := range s[i*nb : (i+1)*nb] {
							if v > bw[i] {
								bw[i] = v
							}
						}
					}
				})
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(2*float64(nq)*nx*dim/sec/1e9, "GFLOP/s")
			b.ReportMetric(nq/sec, "QPS")
		})
	}
}

func BenchmarkDot(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{64, 768, 100000} {
		x, y := randSlice(rng, n), randSlice(rng, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			var s float32
			for b.Loop() {
				s += Dot(x, y)
			}
			_ = s
		})
		b.Run(fmt.Sprintf("%d/naive", n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			var s float32
			for b.Loop() {
				s += dotRef(x, y)
			}
			_ = s
		})
	}
}

func BenchmarkAxpy(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{768, 100000} {
		x, y := randSlice(rng, n), randSlice(rng, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(12 * n))
			for b.Loop() {
				Axpy(1e-9, x, y)
			}
		})
		b.Run(fmt.Sprintf("%d/naive", n), func(b *testing.B) {
			b.SetBytes(int64(12 * n))
			for b.Loop() {
				axpyRef(1e-9, x, y)
			}
		})
	}
}

// BenchmarkSgemmTrans measures the four transpose combinations at the
// shapes of a BERT-base backward pass (weight gradient Xᵀ·dY with k = 4096
// tokens, input gradient dY·Wᵀ), single-threaded.
func BenchmarkSgemmTrans(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 9))
	const m, n, k = 768, 768, 4096
	a := randSlice(rng, m*k)
	bb := randSlice(rng, k*n)
	c := make([]float32, m*n)
	for _, tr := range transposes {
		lda, ldb := k, n
		if tr[0] {
			lda = m
		}
		if tr[1] {
			ldb = k
		}
		b.Run(fmt.Sprintf("%dx%dx%d/tA=%v,tB=%v", m, k, n, tr[0], tr[1]), func(b *testing.B) {
			for b.Loop() {
				SgemmSerial(tr[0], tr[1], m, n, k, 1, a, lda, bb, ldb, 0, c, n)
			}
			b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
