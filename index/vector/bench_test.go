package vector

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	sq8k "github.com/contriever-go/contriever/internal/sq8"
)

// Benchmarks at small sizes (the full 100k × 768 comparison with FAISS is
// `contriever bench index`). The naive variants score with a plain dot
// loop and a full sort, for contrast.

const (
	benchN   = 20000
	benchDim = 128
	benchNQ  = 256
)

var benchData struct {
	ids      []string
	vecs, qs []float32
}

func benchSet() ([]string, []float32, []float32) {
	if benchData.ids == nil {
		rng := rand.New(rand.NewPCG(1, 2))
		v := clustered(rng, benchN+benchNQ, benchDim, 200, 1)
		benchData.ids = makeIDs("d", benchN)
		benchData.vecs, benchData.qs = v[:benchN*benchDim], v[benchN*benchDim:]
	}
	return benchData.ids, benchData.vecs, benchData.qs
}

func benchSearch(b *testing.B, ix Index, nq int) {
	_, _, qs := benchSet()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ix.Search(qs[:nq*benchDim], 10); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(nq)*float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

func BenchmarkFlatSearch(b *testing.B) {
	ids, vecs, _ := benchSet()
	ix, _ := NewFlat(benchDim)
	ix.Add(ids, vecs)
	for _, nq := range []int{1, benchNQ} {
		b.Run(fmt.Sprintf("nq=%d", nq), func(b *testing.B) { benchSearch(b, ix, nq) })
	}
}

// BenchmarkNaiveSearch is the naive loop: one dot product per pair, then a
// heap per query, single-threaded.
func BenchmarkNaiveSearch(b *testing.B) {
	ids, vecs, qs := benchSet()
	for _, nq := range []int{1, benchNQ} {
		b.Run(fmt.Sprintf("nq=%d", nq), func(b *testing.B) {
			buf := make([]entry, 10)
			for i := 0; i < b.N; i++ {
				for j := 0; j < nq; j++ {
					h := newTopK(10, buf)
					q := qs[j*benchDim : (j+1)*benchDim]
					for r, id := range ids {
						var s float32
						for c, v := range vecs[r*benchDim : (r+1)*benchDim] {
							s += v * q[c]
						}
						h.offer(s, id)
					}
					_ = h.results()
				}
			}
			b.ReportMetric(float64(nq)*float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}

func benchIVF(b *testing.B) *IVF {
	ids, vecs, _ := benchSet()
	ix, _ := NewIVF(benchDim, 128)
	if err := ix.Train(vecs); err != nil {
		b.Fatal(err)
	}
	ix.Add(ids, vecs)
	return ix
}

func BenchmarkIVFSearch(b *testing.B) {
	ix := benchIVF(b)
	for _, np := range []int{1, 8, 32} {
		for _, nq := range []int{1, benchNQ} {
			b.Run(fmt.Sprintf("nprobe=%d/nq=%d", np, nq), func(b *testing.B) {
				ix.SetNProbe(np)
				benchSearch(b, ix, nq)
			})
		}
	}
}

func BenchmarkIVFTrain(b *testing.B) {
	_, vecs, _ := benchSet()
	for i := 0; i < b.N; i++ {
		ix, _ := NewIVF(benchDim, 128)
		if err := ix.Train(vecs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSaveLoad(b *testing.B) {
	ids, vecs, _ := benchSet()
	ix, _ := NewFlat(benchDim)
	ix.Add(ids, vecs)
	path := filepath.Join(b.TempDir(), "f.idx")
	b.SetBytes(int64(len(vecs) * 4))
	for i := 0; i < b.N; i++ {
		if err := ix.Save(path); err != nil {
			b.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanKernel compares, per stored vector of dimension 768, the
// SQ8 scan kernel (one byte a dimension) with the float32 dot product the
// float IVF uses for one query, and the pure-Go SQ8 reference. The rows
// span 64 MiB of floats (16 MiB of codes), more than the caches, as a
// probed list of a large index.
func BenchmarkScanKernel(b *testing.B) {
	const d = 768
	rows := (64 << 20) / (4 * d)
	rng := rand.New(rand.NewPCG(5, 5))
	q := make([]float32, d)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	vecs := make([]float32, rows*d)
	codes := make([]uint8, rows*d)
	for i := range vecs {
		vecs[i] = float32(rng.NormFloat64())
		codes[i] = uint8(rng.IntN(256))
	}
	run := func(name string, bytesPer int, f func(r int) float32) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(bytesPer))
			var s float32
			r := 0
			for i := 0; i < b.N; i++ {
				s += f(r)
				if r++; r == rows {
					r = 0
				}
			}
			_ = s
		})
	}
	run("float32-dot", 4*d, func(r int) float32 { return dot(q, vecs[r*d:(r+1)*d]) })
	run("sq8", d, func(r int) float32 { return sq8k.DotU8(q, codes[r*d:(r+1)*d]) })
	run("sq8-ref", d, func(r int) float32 { return sq8k.DotU8Ref(q, codes[r*d:(r+1)*d]) })
	run("float32-naive", 4*d, func(r int) float32 {
		var s float32
		for c, v := range vecs[r*d : (r+1)*d] {
			s += v * q[c]
		}
		return s
	})
}

func BenchmarkIVFSQ8Search(b *testing.B) {
	ids, vecs, _ := benchSet()
	ix, _ := NewIVF(benchDim, 128, WithSQ8())
	if err := ix.Train(vecs); err != nil {
		b.Fatal(err)
	}
	ix.Add(ids, vecs)
	for _, np := range []int{1, 8, 32} {
		for _, nq := range []int{1, benchNQ} {
			b.Run(fmt.Sprintf("nprobe=%d/nq=%d", np, nq), func(b *testing.B) {
				ix.SetNProbe(np)
				benchSearch(b, ix, nq)
			})
		}
	}
}
