package vector

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
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
