package main

import (
	"fmt"
	"log"
	"slices"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/blas32"
)

// smooth measures neighbour smoothing over the corpus graph of the dense
// model, for k 3 and 10 nearest documents (by cosine, the document itself
// left out) and λ 0.1, 0.25, 0.5: each document's vector plus λ times the
// mean of its neighbours' vectors (the dense list and its fusion), and
// BM25's scores regularised over the same graph (Diaz 2005), bm25(d) + λ
// times the mean of its neighbours' BM25 scores (0 outside BM25's list),
// over the documents of both lists, fused with the unchanged dense list.
func (s *study) smooth() {
	const kmax = 10
	nn, err := engine.ExactRun(s.dim, s.ids, s.docs, s.ids, s.docs, kmax+1)
	if err != nil {
		log.Fatal(err)
	}
	nbr := make([][]int, len(s.ids))
	for i, id := range s.ids {
		for _, h := range nn[id] {
			if h.DocID != id && len(nbr[i]) < kmax {
				nbr[i] = append(nbr[i], s.row[h.DocID])
			}
		}
	}
	s.report("no change", s.dRun)
	for _, k := range []int{3, 10} {
		for _, lam := range []float64{0.1, 0.25, 0.5} {
			docs := make([]float32, len(s.docs))
			copy(docs, s.docs)
			for i := range s.ids {
				row := docs[i*s.dim : (i+1)*s.dim]
				for _, j := range nbr[i][:k] {
					blas32.Axpy(float32(lam/float64(k)), s.docs[j*s.dim:(j+1)*s.dim], row)
				}
			}
			run, err := engine.ExactRun(s.dim, s.ids, docs, s.qids, s.qv, depth)
			if err != nil {
				log.Fatal(err)
			}
			s.report(fmt.Sprintf("dense smoothed k %d λ %.2f", k, lam), run)
			// BM25 regularised
			bm := beir.Run{}
			for _, q := range s.qids {
				sc := map[int]float64{}
				cand := map[int]bool{}
				for _, h := range s.bmRun[q] {
					sc[s.row[h.DocID]] = h.Score
					cand[s.row[h.DocID]] = true
				}
				for _, h := range s.dRun[q] {
					cand[s.row[h.DocID]] = true
				}
				var hs []beir.Hit
				for d := range cand {
					v := sc[d]
					var m float64
					for _, j := range nbr[d][:k] {
						m += sc[j]
					}
					v += lam * m / float64(k)
					if v > 0 {
						hs = append(hs, beir.Hit{DocID: s.ids[d], Score: v})
					}
				}
				slices.SortFunc(hs, beir.CompareHits)
				bm[q] = hs[:min(len(hs), depth)]
			}
			fmt.Printf("%-36s bm25 %.4f  ", fmt.Sprintf("bm25 regularised k %d λ %.2f", k, lam), s.eval(bm))
			s.grid("", s.dRun, bm, depth, minMax)
		}
	}
}
