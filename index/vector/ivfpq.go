package vector

import (
	"github.com/contriever-go/contriever/internal/pqscan"
)

// DefaultPQM returns the number of PQ sub-quantisers used when none is
// given for dimension dim: the largest divisor of dim not above dim/8 (8
// dimensions a sub-quantiser or more: 96 at 768, 48 at 384), at least 1.
func DefaultPQM(dim int) int {
	for m := max(1, dim/8); m > 1; m-- {
		if dim%m == 0 {
			return m
		}
	}
	return 1
}

// maxPQM bounds the number of PQ sub-quantisers (a u16 in the file).
const maxPQM = 1<<16 - 1

// pqBlock is the number of codes scanned into one buffer of scores before
// they are offered to the query's heap.
const pqBlock = 256

// searchPQ is IVF.search for a PQ index, given each query's probed lists
// (probes, nq×nprobe). Queries are searched one by one, split among the
// workers: a query's ADC table (M·256 floats) stays in the cache while its
// lists are scanned (a list's codes are small, M bytes a vector, so the
// list-major order of the float scan would only reload tables). Each
// probed list is scanned with the kernel of internal/pqscan, its coarse
// score q·c_l added, and the best candidates kept; they are returned with
// their approximate scores (WithCodesOnly) or re-scored exactly (from the
// floats, or from an attached float file: AttachFloats). With
// fewer queries than workers, each query's lists are split among them.
func (x *IVF) searchPQ(q []float32, nq, k int, probes []int32, nprobe, workers int) [][]Result {
	d, m := x.dim, x.pq.m
	k = min(k, x.n)
	kc := k
	rerank := !x.o.codesOnly || x.ext != nil
	if rerank {
		kc = min(x.candidates(k), x.n)
	}
	ri := x.newRowIndex()
	// Fewer queries than workers (one query at a time): each query's
	// probes are split into chunks, one heap each, merged afterwards.
	chunks := 1
	if nq < workers {
		chunks = min(workers, nprobe)
	}
	heaps := newCandHeaps(chunks, nq, kc)
	ts := m * pqKSub
	tables := make([][]float32, workers)
	bufs := make([][]float32, workers)
	parallelDynamic(nq*chunks, workers, func(w, u int) {
		if tables[w] == nil {
			tables[w], bufs[w] = make([]float32, ts), make([]float32, pqBlock)
		}
		table, buf := tables[w], bufs[w]
		qi, c := u/chunks, u%chunks
		qv := q[qi*d : (qi+1)*d]
		x.pq.table(table, qv)
		h := &heaps[c][qi]
		for _, l := range probes[qi*nprobe+c*nprobe/chunks : qi*nprobe+(c+1)*nprobe/chunks] {
			list := &x.lists[l]
			n := len(list.ids)
			if n == 0 {
				continue
			}
			base := dot(qv, x.cents[int(l)*d:int(l+1)*d])
			row0 := ri.starts[l]
			for r0 := 0; r0 < n; r0 += pqBlock {
				rows := min(pqBlock, n-r0)
				out := buf[:rows]
				pqscan.Scan(table, list.codes[r0*m:(r0+rows)*m], m, out)
				thr := h.thr
				for r, s := range out {
					if s += base; s >= thr {
						h.offer(cand{s, row0 + int32(r0+r)}, ri)
						thr = h.thr
					}
				}
			}
		}
	})
	if !rerank {
		return candResults(heaps, ri, nq, k, nil, workers)
	}
	return x.rerankExact(q, heaps, ri, nq, kc, k, workers)
}

// newCandHeaps returns, for each worker, nq empty candidate heaps of k.
func newCandHeaps(workers, nq, k int) [][]candHeap {
	heaps := make([][]candHeap, workers)
	for w := range heaps {
		buf := make([]cand, nq*k)
		hs := make([]candHeap, nq)
		for i := range hs {
			hs[i] = candHeap{k: k, e: buf[i*k : i*k : (i+1)*k], thr: negInf}
		}
		heaps[w] = hs
	}
	return heaps
}

// candResults merges the workers' candidate heaps of each query (heaps[w][i])
// into its best k by approximate score then id, and returns them as
// results, adding add[i] (when add is not nil) to query i's scores.
func candResults(heaps [][]candHeap, ri *rowIndex, nq, k int, add []float32, workers int) [][]Result {
	out := make([][]Result, nq)
	parallel(nq, workers, func(_, lo, hi int) {
		buf := make([]cand, 0, k)
		for i := lo; i < hi; i++ {
			h := candHeap{k: k, e: buf[:0], thr: negInf}
			for _, hw := range heaps {
				for _, c := range hw[i].e {
					if c.score >= h.thr {
						h.offer(c, ri)
					}
				}
			}
			es := make([]entry, len(h.e))
			for j, c := range h.e {
				s := c.score
				if add != nil {
					s += add[i]
				}
				es[j] = entry{s, ri.id(c.row)}
			}
			th := topK{k: len(es), e: es}
			out[i] = th.results()
		}
	})
	return out
}
