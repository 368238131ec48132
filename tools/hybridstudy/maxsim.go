package main

import (
	"fmt"
	"log"
	"math"
	"slices"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/internal/blas32"
)

// maxSim reports soft term matching over the token rows of the static
// model in dir: a document scores Σ_t idf(t)·max_{u ∈ d} cos(row t, row u)
// over the query's distinct tokens t, divided by Σ_t idf(t). It prints the
// list alone, fused with BM25, and the three-way fusion with the dense run.
func (s *study) maxSim(dir string, maxTokens int) {
	m, err := static.Load(dir)
	if err != nil {
		log.Fatal(err)
	}
	tok, d := m.Tokenizer(), m.Dim()
	w := slices.Clone(m.Weight())
	V := len(w) / d
	for t := 0; t < V; t++ {
		r := w[t*d : (t+1)*d]
		if n := blas32.Dot(r, r); n > 0 {
			blas32.Scale(1/float32(math.Sqrt(float64(n))), r)
		}
	}
	var docs [][]int32
	df := make([]float64, V)
	if err := s.ds.Corpus(func(doc beir.Doc) error {
		ids := tok.AppendTokenize(nil, doc.Passage())
		if len(ids) > maxTokens {
			ids = ids[:maxTokens]
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		for _, id := range ids {
			df[id]++
		}
		docs = append(docs, ids)
		return nil
	}); err != nil {
		log.Fatal(err)
	}
	N := float64(len(docs))
	run := beir.Run{}
	for _, q := range s.ds.Queries {
		ids := tok.AppendTokenize(nil, q.Text)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		var qs []int32
		var idf []float64
		for _, id := range ids {
			if df[id] > 0 {
				qs = append(qs, id)
				idf = append(idf, math.Log(1+(N-df[id]+0.5)/(df[id]+0.5)))
			}
		}
		nq := len(qs)
		hs := make([]beir.Hit, len(docs))
		if nq == 0 {
			for j := range hs {
				hs[j] = beir.Hit{DocID: s.ids[j]}
			}
		} else {
			qm := make([]float32, nq*d)
			for i, id := range qs {
				copy(qm[i*d:(i+1)*d], w[int(id)*d:(int(id)+1)*d])
			}
			sim := make([]float32, nq*V)
			blas32.Sgemm(false, true, nq, V, d, 1, qm, d, w, d, 0, sim, V)
			var z float64
			for _, x := range idf {
				z += x
			}
			for j, dt := range docs {
				var sc float64
				for i := 0; i < nq; i++ {
					row := sim[i*V : (i+1)*V]
					best := float32(-1)
					for _, u := range dt {
						best = max(best, row[u])
					}
					sc += idf[i] * float64(best)
				}
				hs[j] = beir.Hit{DocID: s.ids[j], Score: sc / z}
			}
		}
		beir.SortHits(hs)
		run[q.ID] = hs[:min(depth, len(hs))]
	}
	fmt.Printf("maxsim alone %.4f\n", s.eval(run))
	s.report("maxsim + bm25", run)
	// Three-way: a·dense + b·maxsim + (1−a−b)·bm25.
	best, ba, bb := -1.0, 0.0, 0.0
	for a := 0.0; a <= 0.8+1e-9; a += 0.05 {
		for b := 0.0; a+b <= 1+1e-9; b += 0.05 {
			fused := beir.Run{}
			for _, q := range s.qids {
				fused[q] = fuseN([][]beir.Hit{s.dRun[q], run[q], s.bmRun[q]}, []float64{a, b, 1 - a - b}, minMax)
			}
			v := s.eval(fused)
			if v > best {
				best, ba, bb = v, a, b
			}
		}
	}
	fmt.Printf("three-way: best dense %.2f maxsim %.2f → %.4f\n", ba, bb, best)
	for _, b := range []float64{0.1, 0.2, 0.3} {
		var cells string
		for _, a := range []float64{0.3, 0.35, 0.4, 0.45, 0.5} {
			fused := beir.Run{}
			for _, q := range s.qids {
				fused[q] = fuseN([][]beir.Hit{s.dRun[q], run[q], s.bmRun[q]}, []float64{a, b, 1 - a - b}, minMax)
			}
			cells += fmt.Sprintf(" %.2f:%.4f", a, s.eval(fused))
		}
		fmt.Printf("  maxsim %.2f:%s\n", b, cells)
	}
}
