package vector

import (
	"fmt"
	"math"

	sq8k "github.com/contriever-go/contriever/internal/sq8"
)

// SQ8: optional 8-bit scalar quantisation of an IVF index's stored vectors
// (WithSQ8), as FAISS's ScalarQuantizer QT_8bit: each dimension d has a
// range [min_d, min_d + 255·scale_d] learned from the training vectors, and
// a vector x is stored as one byte per dimension,
//
//	code_d = clamp(round((x_d - min_d) / scale_d), 0, 255),
//	x_d ≈ min_d + code_d·scale_d.
//
// A query q then scores a code without decoding it:
//
//	q·x ≈ Σ_d q_d·min_d + Σ_d (q_d·scale_d)·code_d,
//
// where the first sum is the same for every vector and is dropped (only the
// ranking of the candidates matters), and q' = q∘scale is computed once per
// query, so the per-vector cost is one uint8×float32 dot product (sq8k.DotU8).
// The best candidates of that approximate ranking are re-scored exactly
// with the float32 vectors, which the index keeps (see WithSQ8).

// sq8 holds the per-dimension ranges of the quantiser.
type sq8 struct {
	min, scale []float32 // dim each
}

// trainSQ8 learns the per-dimension min and scale (range/255) of the rows
// of v (dim floats each, at least one row).
func trainSQ8(v []float32, dim int) *sq8 {
	lo := make([]float32, dim)
	hi := make([]float32, dim)
	copy(lo, v[:dim])
	copy(hi, v[:dim])
	for off := dim; off+dim <= len(v); off += dim {
		for j, x := range v[off : off+dim] {
			if x < lo[j] {
				lo[j] = x
			}
			if x > hi[j] {
				hi[j] = x
			}
		}
	}
	s := &sq8{min: lo, scale: make([]float32, dim)}
	for j := range hi {
		s.scale[j] = float32((float64(hi[j]) - float64(lo[j])) / 255)
	}
	return s
}

// check validates ranges read from a file: finite, non-negative scales.
func (s *sq8) check() error {
	for j := range s.min {
		m, c := float64(s.min[j]), float64(s.scale[j])
		if math.IsNaN(m) || math.IsInf(m, 0) || math.IsNaN(c) || math.IsInf(c, 0) || c < 0 {
			return fmt.Errorf("dimension %d: min %v, scale %v", j, m, c)
		}
	}
	return nil
}

// encode writes the codes of the rows of v into dst (len(v) bytes). Values
// outside the trained range are clamped.
func (s *sq8) encode(dst []uint8, v []float32) {
	d := len(s.min)
	dst = dst[:len(v)]
	for off := 0; off+d <= len(v); off += d {
		row, out := v[off:off+d], dst[off:off+d]
		for j, x := range row {
			out[j] = quantize(x, s.min[j], s.scale[j])
		}
	}
}

// quantize returns the code of x in the range (lo, scale).
func quantize(x, lo, scale float32) uint8 {
	if scale == 0 {
		return 0
	}
	t := math.Round((float64(x) - float64(lo)) / float64(scale))
	switch {
	case t <= 0:
		return 0
	case t >= 255:
		return 255
	}
	return uint8(t)
}

// decode writes the reconstruction min + code·scale of the codes of c
// (whole rows) into dst.
func (s *sq8) decode(dst []float32, c []uint8) {
	d := len(s.min)
	dst = dst[:len(c)]
	for off := 0; off+d <= len(c); off += d {
		for j, b := range c[off : off+d] {
			dst[off+j] = s.min[j] + float32(b)*s.scale[j]
		}
	}
}

// scaleQueries writes q∘scale for each of the rows of q into dst.
func (s *sq8) scaleQueries(dst, q []float32) {
	d := len(s.min)
	for off := 0; off+d <= len(q); off += d {
		for j, x := range q[off : off+d] {
			dst[off+j] = x * s.scale[j]
		}
	}
}

// DefaultRerankFactor is the number of candidates per wanted result that an
// SQ8 IVF index re-scores exactly when no re-rank depth is set: a search for
// the top k re-scores the best DefaultRerankFactor·k of the approximate
// ranking.
const DefaultRerankFactor = 4

// DefaultPQRerankFactor is DefaultRerankFactor for an IVF-PQ index: PQ
// codes rank neighbours far more coarsely than SQ8's (bench scale,
// 768-dim clustered vectors, M 96: 4·k candidates gave recall@10 0.78 at
// 200k documents, 20·k gave 1.00 at 100k), while a re-scored candidate
// costs one dot product, little beside the scan of thousands of codes.
const DefaultPQRerankFactor = 16

// candidates returns how many approximate candidates a search for k
// re-scores exactly: max(k, rerank), or DefaultRerankFactor·k
// (DefaultPQRerankFactor·k for PQ) when rerank is 0.
func (x *IVF) candidates(k int) int {
	r := int(x.rerank.Load())
	if r <= 0 {
		if x.o.pqM > 0 {
			return DefaultPQRerankFactor * k
		}
		return DefaultRerankFactor * k
	}
	return max(k, r)
}

// sq8DotMax: a list probed by this many queries or fewer is scanned with
// dotU8 on the codes rather than decoded for sgemm (the kernel is about 3×
// cheaper per vector than the float dot, so the crossover is higher than
// listDotMax; CPU seconds of 1000 queries at 100k×768, nlist 1024, nprobe
// 8, on a busy 2-core machine: 0.090 with 8, 0.079 with 16, 0.099 with 32;
// at nprobe 32 no difference).
const sq8DotMax = 16

// sq8Block is the number of rows of codes a batched scan decodes to floats
// for one sgemm.
const sq8Block = 128

// cand is an SQ8 candidate: its approximate score and its row, the
// position of the vector when the lists are numbered one after the other
// (see rowIndex). Unlike entry it holds no pointer, so the candidate heaps,
// which see several times more offers than the final top k, move 8 bytes
// an entry and need no write barriers.
type cand struct {
	score float32
	row   int32
}

// rowIndex numbers the vectors of an IVF list after list: starts[l] is the
// row of list l's first vector, starts[nlist] the number of vectors.
type rowIndex struct {
	starts []int32
	lists  []ivfList
}

// newRowIndex returns the row numbering of x's lists (under the read lock).
func (x *IVF) newRowIndex() *rowIndex {
	starts := make([]int32, x.nlist+1)
	for l, list := range x.lists {
		starts[l+1] = starts[l] + int32(len(list.ids))
	}
	return &rowIndex{starts: starts, lists: x.lists}
}

// locate returns the list and offset of a row.
func (ri *rowIndex) locate(row int32) (int, int) {
	lo, hi := 0, len(ri.lists)-1 // the list is the last l with starts[l] <= row
	for lo < hi {
		mid := int(uint(lo+hi+1) >> 1)
		if ri.starts[mid] <= row {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, int(row - ri.starts[lo])
}

// id returns the id of a row.
func (ri *rowIndex) id(row int32) string {
	l, off := ri.locate(row)
	return ri.lists[l].ids[off]
}

// worse reports whether candidate a ranks below b: lower score, or equal
// score and smaller id (looked up only on a tie), as entries do.
func (ri *rowIndex) worse(a, b cand) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return ri.id(a.row) < ri.id(b.row)
}

// candHeap keeps the best k candidates seen (as topK, for cands).
type candHeap struct {
	k   int
	e   []cand
	thr float32 // -Inf until full, then the root's score
}

// offer considers c; callers may skip scores below h.thr.
func (h *candHeap) offer(c cand, ri *rowIndex) {
	if h.k <= 0 {
		return
	}
	if len(h.e) < h.k {
		h.e = append(h.e, c)
		for i := len(h.e) - 1; i > 0; {
			p := (i - 1) / 2
			if !ri.worse(h.e[i], h.e[p]) {
				break
			}
			h.e[i], h.e[p] = h.e[p], h.e[i]
			i = p
		}
		if len(h.e) == h.k {
			h.thr = h.e[0].score
		}
		return
	}
	if !ri.worse(h.e[0], c) {
		return
	}
	h.e[0] = c
	n := len(h.e)
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && ri.worse(h.e[r], h.e[l]) {
			m = r
		}
		if !ri.worse(h.e[m], h.e[i]) {
			break
		}
		h.e[i], h.e[m] = h.e[m], h.e[i]
		i = m
	}
	h.thr = h.e[0].score
}

// searchSQ8 is IVF.search for an SQ8 index, given the probe plan (items,
// and the queries probing list l in qidx[start[l]:start[l+1]]): each
// worker keeps, per query, the best kc = max(k, re-rank depth) candidates
// by approximate score over the lists it scans; then the candidates of
// all workers are cut to the best kc and re-scored exactly (rerankExact).
func (x *IVF) searchSQ8(q []float32, nq, k int, items []ivfItem, start, qidx []int32, workers int) [][]Result {
	d := x.dim
	k = min(k, x.n)
	kc := min(x.candidates(k), x.n)
	if x.o.codesOnly && x.ext == nil {
		kc = k
	}
	qs8 := make([]float32, len(q))
	x.sq.scaleQueries(qs8, q)
	ri := x.newRowIndex()
	heaps := newCandHeaps(workers, nq, kc)
	scr := make([]scanScratch, workers)
	parallelDynamic(len(items), workers, func(w, i int) {
		l := items[i].list
		scanSQ8(&scr[w], qs8, d, &x.lists[l], ri.starts[l], heaps[w], qidx[start[l]:start[l+1]], ri)
	})
	if x.o.codesOnly && x.ext == nil {
		// The approximate score plus the term dropped from the scan,
		// Σ_d q_d·min_d, is the inner product with the decoded vector.
		qmin := make([]float32, nq)
		for i := range qmin {
			qmin[i] = dot(q[i*d:(i+1)*d], x.sq.min)
		}
		return candResults(heaps, ri, nq, k, qmin, workers)
	}
	return x.rerankExact(q, heaps, ri, nq, kc, k, workers)
}

// scanSQ8 offers the approximate scores of the queries qs (rows of qs8,
// the queries scaled by the quantiser's scales) against the codes of list,
// whose first row is row0, to their heaps hs[qs[j]]. A list probed by few
// queries is scored with dotU8 on the codes; one probed by more than
// sq8DotMax queries has its codes decoded block by block to floats
// (exactly, 0..255) and scored with sgemm.
func scanSQ8(sc *scanScratch, qs8 []float32, d int, list *ivfList, row0 int32, hs []candHeap, qs []int32, ri *rowIndex) {
	m, n := len(qs), len(list.ids)
	if n == 0 {
		return
	}
	if m <= sq8DotMax {
		for _, qi := range qs {
			qv := qs8[int(qi)*d : int(qi+1)*d]
			h := &hs[qi]
			thr := h.thr
			for r := 0; r < n; r++ {
				s := sq8k.DotU8(qv, list.codes[r*d:(r+1)*d])
				if s >= thr {
					h.offer(cand{s, row0 + int32(r)}, ri)
					thr = h.thr
				}
			}
		}
		return
	}
	qt := sc.gatherT(qs8, d, qs)
	if cap(sc.thr) < m {
		sc.thr = make([]float32, m)
	}
	thr := sc.thr[:m]
	for j, qi := range qs {
		thr[j] = hs[qi].thr
	}
	nb := min(sq8Block, n)
	if cap(sc.dec) < nb*d {
		sc.dec = make([]float32, nb*d)
	}
	if cap(sc.tile) < nb*m {
		sc.tile = make([]float32, nb*m)
	}
	for r0 := 0; r0 < n; r0 += nb {
		rows := min(nb, n-r0)
		dec := sc.dec[:rows*d]
		sq8k.Decode(dec, list.codes[r0*d:(r0+rows)*d])
		tile := sc.tile[:rows*m]
		gemmSerial(false, false, rows, m, d, 1, dec, d, qt, m, 0, tile, m)
		for r := 0; r < rows; r++ {
			for j, s := range tile[r*m : (r+1)*m] {
				if s >= thr[j] {
					h := &hs[qs[j]]
					h.offer(cand{s, row0 + int32(r0+r)}, ri)
					thr[j] = h.thr
				}
			}
		}
	}
}

// rerankExact returns, for each of the nq queries, its best k vectors by
// exact inner product, then id, among its best kc candidates by
// approximate score: the candidates are the union of the workers' heaps
// (heaps[w][i] for query i), cut to the best kc by approximate score then
// id, so the set does not depend on how the lists were split among
// workers. q holds the (normalised, for Cosine) queries. It runs under the
// read lock.
func (x *IVF) rerankExact(q []float32, heaps [][]candHeap, ri *rowIndex, nq, kc, k, workers int) [][]Result {
	d := x.dim
	out := make([][]Result, nq)
	parallel(nq, workers, func(_, lo, hi int) {
		cbuf := make([]cand, 0, kc)
		buf := make([]entry, k)
		rbuf := make([]float32, d)
		for i := lo; i < hi; i++ {
			cands := heaps[0][i].e
			if len(heaps) > 1 {
				h := candHeap{k: kc, e: cbuf[:0], thr: negInf}
				for _, hw := range heaps {
					for _, c := range hw[i].e {
						if c.score >= h.thr {
							h.offer(c, ri)
						}
					}
				}
				cands = h.e
			}
			qv := q[i*d : (i+1)*d]
			h := newTopK(k, buf)
			for _, c := range cands {
				l, off := ri.locate(c.row)
				list := &x.lists[l]
				if s := dot(qv, x.exactRow(list, off, rbuf)); s >= h.thr {
					h.offer(s, list.ids[off])
				}
			}
			out[i] = h.results()
		}
	})
	return out
}
