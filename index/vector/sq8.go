package vector

import (
	"fmt"
	"math"
	"sort"
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
// query, so the per-vector cost is one uint8×float32 dot product (dotU8).
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

// dotU8Ref returns Σ q[i]·float32(c[i]) over len(q) elements (c is at
// least as long): the pure-Go reference of the SQ8 scan kernel, unrolled
// by 8 into four partial sums.
func dotU8Ref(q []float32, c []uint8) float32 {
	c = c[:len(q)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(q); i += 8 {
		qq, cc := q[i:i+8:i+8], c[i:i+8:i+8]
		s0 += qq[0]*float32(cc[0]) + qq[4]*float32(cc[4])
		s1 += qq[1]*float32(cc[1]) + qq[5]*float32(cc[5])
		s2 += qq[2]*float32(cc[2]) + qq[6]*float32(cc[6])
		s3 += qq[3]*float32(cc[3]) + qq[7]*float32(cc[7])
	}
	for ; i < len(q); i++ {
		s0 += q[i] * float32(c[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// decodeCodes writes the code values of c as floats (0..255, exactly) into
// dst, for the sgemm path of a batched scan.
var decodeCodes = decodeCodesRef

// decodeCodesRef is the pure-Go decodeCodes.
func decodeCodesRef(dst []float32, c []uint8) {
	dst = dst[:len(c)]
	for i, b := range c {
		dst[i] = float32(b)
	}
}

// DefaultRerankFactor is the number of candidates per wanted result that an
// SQ8 IVF index re-scores exactly when no re-rank depth is set: a search for
// the top k re-scores the best DefaultRerankFactor·k of the approximate
// ranking.
const DefaultRerankFactor = 4

// candidates returns how many approximate candidates a search for k
// re-scores exactly: max(k, rerank), or DefaultRerankFactor·k when rerank
// is 0.
func (x *IVF) candidates(k int) int {
	r := int(x.rerank.Load())
	if r <= 0 {
		return DefaultRerankFactor * k
	}
	return max(k, r)
}

// dotU8 is the SQ8 scan kernel: Σ q[i]·float32(c[i]) over len(q) elements.
var dotU8 = dotU8Ref

// sq8DotMax: a list probed by this many queries or fewer is scanned with
// dotU8 on the codes rather than decoded for sgemm (the kernel is about 3×
// cheaper per vector than the float dot, so the crossover is higher than
// listDotMax; CPU seconds of 1000 queries at 100k×768, nlist 1024, nprobe
// 8, on a busy 2-core machine: 0.090 with 8, 0.079 with 16, 0.099 with 32;
// at nprobe 32 no difference).
const sq8DotMax = 16

// sq8Block is the number of rows of codes a batched scan decodes to floats
// for one sgemm pass.
const sq8Block = 128

// scanSQ8 offers the approximate scores of the queries qs (rows of qs8,
// the queries scaled by the quantiser's scales) against the codes of list
// to their heaps hs[qs[j]], each with its row number (row0 + position in
// the list) as reference. A list probed by few queries is scored with
// dotU8 on the codes; one probed by more than listDotMax queries has its
// codes decoded block by block to floats (exactly, 0..255) and scored with
// sgemm, as the float scan.
func scanSQ8(sc *scanScratch, qs8 []float32, d int, list *ivfList, row0 int32, hs []topK, qs []int32) {
	m, n := len(qs), len(list.ids)
	if n == 0 {
		return
	}
	if m <= sq8DotMax {
		for _, qi := range qs {
			qv := qs8[int(qi)*d : int(qi+1)*d]
			h := &hs[qi]
			thr := h.thr
			for r, id := range list.ids {
				s := dotU8(qv, list.codes[r*d:(r+1)*d])
				if s >= thr {
					h.offerRef(s, row0+int32(r), id)
					thr = h.thr
				}
			}
		}
		return
	}
	if cap(sc.qt) < m*d {
		sc.qt = make([]float32, m*d)
	}
	qt := sc.qt[:m*d]
	for j, qi := range qs {
		for c, v := range qs8[int(qi)*d : int(qi+1)*d] {
			qt[c*m+j] = v
		}
	}
	if cap(sc.dec) < sq8Block*d {
		sc.dec = make([]float32, sq8Block*d)
	}
	for r0 := 0; r0 < n; r0 += sq8Block {
		rows := min(sq8Block, n-r0)
		dec := sc.dec[:rows*d]
		decodeCodes(dec, list.codes[r0*d:(r0+rows)*d])
		sc.scanT(qt, m, dec, list.ids[r0:r0+rows], d, hs, qs, row0+int32(r0))
	}
}

// rowStarts returns the row number of the first vector of each list when
// the lists are numbered one after the other (nlist+1 values, the last
// being Len()): the references of SQ8 candidates.
func (x *IVF) rowStarts() []int32 {
	rows := make([]int32, x.nlist+1)
	for l, list := range x.lists {
		rows[l+1] = rows[l] + int32(len(list.ids))
	}
	return rows
}

// rerankExact returns, for each of the nq queries, its best k vectors by
// exact inner product among its best kc candidates by approximate score:
// the candidates are the union of the workers' heaps (heaps[w][i] for query
// i), cut to the best kc by approximate score then id, so the set does not
// depend on how the lists were split among workers. Each candidate's ref
// is its row number (see rowStarts), which locates its float vector. q
// holds the (normalised, for Cosine) queries. It runs under the read lock.
func (x *IVF) rerankExact(q []float32, heaps [][]topK, rows []int32, nq, kc, k, workers int) [][]Result {
	d := x.dim
	out := make([][]Result, nq)
	sinks := make([]float32, workers)
	parallel(nq, workers, func(w, lo, hi int) {
		cbuf := make([]entry, kc)
		buf := make([]entry, k)
		vecs := make([][]float32, kc)
		var sink float32
		for i := lo; i < hi; i++ {
			cands := heaps[0][i].e
			if len(heaps) > 1 {
				h := newTopK(kc, cbuf)
				for _, hw := range heaps {
					for _, e := range hw[i].e {
						if e.score >= h.thr {
							h.offerRef(e.score, e.ref, e.id)
						}
					}
				}
				cands = h.e
			}
			for j, c := range cands {
				// The list holding row c.ref: the last start <= c.ref.
				l := sort.Search(x.nlist, func(l int) bool { return rows[l+1] > c.ref })
				off := int(c.ref-rows[l]) * d
				vecs[j] = x.lists[l].vecs[off : off+d]
			}
			qv := q[i*d : (i+1)*d]
			h := newTopK(k, buf)
			for j, c := range cands {
				if j+1 < len(cands) {
					sink += touch(vecs[j+1])
				}
				if s := dot(qv, vecs[j]); s >= h.thr {
					h.offer(s, c.id)
				}
			}
			out[i] = h.results()
		}
		sinks[w] = sink
	})
	return out
}

// touch reads one float of every 64-byte line of v, so that the memory
// system fetches the next candidate's vector while the current one is
// scored (the candidates are scattered over the lists); it returns their
// sum so that the loads are kept.
func touch(v []float32) float32 {
	var s float32
	for i := 0; i < len(v); i += 16 {
		s += v[i]
	}
	return s
}
