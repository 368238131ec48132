package vector

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/contriever-go/contriever/internal/pqscan"
)

// Product quantisation (WithPQ), as FAISS's IndexIVFPQ with its defaults:
// the vector x stored in list l is encoded by its residual r = x − c_l
// with respect to the list's coarse centroid. The dim dimensions are split
// into M sub-spaces of dsub = dim/M; each has its own codebook of 256
// centroids learned by k-means (L2) on the training residuals, and r is
// stored as M bytes, the index of the nearest centroid in each sub-space.
//
// A query q scores a code by asymmetric distance computation (ADC):
//
//	q·x ≈ q·c_l + Σ_m q_m·cb_m[code_m],
//
// the first term is the coarse score of the list (computed once per
// (query, list)), the sum reads M entries of the query's lookup table
// T[m][j] = q_m·cb_m[j] (M×256 floats). For inner product the table does
// not depend on the list (for L2 FAISS needs one per (query, list)): it is
// computed once per query and reused for every probed list. The scan of a
// list is internal/pqscan's kernel (AVX2 gathers when M is a multiple of 8).

// pqKSub is the number of centroids of each sub-quantiser.
const pqKSub = pqscan.KSub

// pq is a trained product quantiser.
type pq struct {
	m, dsub int
	cb      []float32 // m × 256 × dsub, sub-space after sub-space
	cbT     []float32 // per sub-space the codebook transposed (dsub × 256)
	norms   []float32 // m × 256 squared norms of the centroids
}

func newPQ(m, dsub int, cb []float32) *pq {
	p := &pq{m: m, dsub: dsub, cb: cb, cbT: make([]float32, len(cb)), norms: make([]float32, m*pqKSub)}
	for s := 0; s < m; s++ {
		blk := cb[s*pqKSub*dsub : (s+1)*pqKSub*dsub]
		transpose(blk, pqKSub, dsub, p.cbT[s*pqKSub*dsub:(s+1)*pqKSub*dsub])
		for j := 0; j < pqKSub; j++ {
			var n float32
			for _, v := range blk[j*dsub : (j+1)*dsub] {
				n += v * v
			}
			p.norms[s*pqKSub+j] = n
		}
	}
	return p
}

// check validates a codebook read from a file: finite values.
func (p *pq) check() error {
	for i, v := range p.cb {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("codebook value %d is %v", i, v)
		}
	}
	return nil
}

// pqMaxTrain is the largest number of residuals each sub-quantiser's
// k-means sees: 64 points per centroid (FAISS caps at 256 and warns below
// 39). A sub-space is only dsub ≈ 8 wide, so its 256 centroids are well
// placed from 16k points, and training costs a quarter of FAISS's cap (the
// exact re-rank absorbs what little the codes lose).
const pqMaxTrain = 64 * pqKSub

// trainPQ learns the codebooks from the n residuals r (n×d). With fewer
// than 256 distinct training points a sub-space gets min(n, 256) k-means
// centroids and the rest of its codebook repeats them (never chosen, the
// encoder takes the lowest index on ties).
func trainPQ(r []float32, d, m, iters int, seed uint64, workers int) *pq {
	n := len(r) / d
	dsub := d / m
	rng := rand.New(rand.NewPCG(seed, 0x7071)) // "pq"
	if n > pqMaxTrain {
		perm := partialPerm(rng, n, pqMaxTrain)
		s := make([]float32, pqMaxTrain*d)
		for i, p := range perm {
			copy(s[i*d:(i+1)*d], r[p*d:(p+1)*d])
		}
		r, n = s, pqMaxTrain
	}
	cb := make([]float32, m*pqKSub*dsub)
	parallel(m, workers, func(_, lo, hi int) {
		sub := make([]float32, n*dsub)
		for s := lo; s < hi; s++ {
			for i := 0; i < n; i++ {
				copy(sub[i*dsub:(i+1)*dsub], r[i*d+s*dsub:i*d+(s+1)*dsub])
			}
			k := min(n, pqKSub)
			c := kmeansL2(sub, n, dsub, k, iters, rand.New(rand.NewPCG(seed, uint64(s))))
			dst := cb[s*pqKSub*dsub : (s+1)*pqKSub*dsub]
			for j := 0; j < pqKSub; j++ {
				copy(dst[j*dsub:(j+1)*dsub], c[(j%k)*dsub:(j%k+1)*dsub])
			}
		}
	})
	return newPQ(m, dsub, cb)
}

// kmeansL2 clusters the n points of x (d wide) into k centroids by Lloyd's
// algorithm minimising squared L2 distance, from k distinct random points;
// empty clusters are re-seeded by splitting (splitEmpty). Serial.
func kmeansL2(x []float32, n, d, k, iters int, rng *rand.Rand) []float32 {
	cents := make([]float32, k*d)
	for i, p := range partialPerm(rng, n, k) {
		copy(cents[i*d:(i+1)*d], x[p*d:(p+1)*d])
	}
	labels := make([]int32, n)
	centsT := make([]float32, k*d)
	norms := make([]float32, k)
	sums := make([]float64, k*d)
	cnt := make([]int, k)
	tile := make([]float32, assignBlock*k)
	for it := 0; it < iters; it++ {
		transpose(cents, k, d, centsT)
		for c := 0; c < k; c++ {
			var s float32
			for _, v := range cents[c*d : (c+1)*d] {
				s += v * v
			}
			norms[c] = s
		}
		nearestL2(x, n, d, d, centsT, norms, k, labels, tile)
		clear(sums)
		clear(cnt)
		for i := 0; i < n; i++ {
			l := int(labels[i])
			cnt[l]++
			acc := sums[l*d : (l+1)*d]
			for j, v := range x[i*d : (i+1)*d] {
				acc[j] += float64(v)
			}
		}
		for c := 0; c < k; c++ {
			if cnt[c] == 0 {
				continue
			}
			inv := 1 / float64(cnt[c])
			for j := 0; j < d; j++ {
				cents[c*d+j] = float32(sums[c*d+j] * inv)
			}
		}
		splitEmpty(cents, cnt, d, n, rng)
	}
	return cents
}

// nearestL2 sets labels[i] to the centroid nearest (squared L2) to row i of
// x (n rows of d floats at stride ld), lowest index on ties: the largest
// x·c − ‖c‖²/2, scored block by block with sgemm. centsT is d×k, norms the
// centroids' squared norms, tile at least assignBlock·k floats.
func nearestL2(x []float32, n, d, ld int, centsT, norms []float32, k int, labels []int32, tile []float32) {
	for b := 0; b < n; b += assignBlock {
		rows := min(assignBlock, n-b)
		gemmSerial(false, false, rows, k, d, 1, x[b*ld:], ld, centsT, k, 0, tile, k)
		for r := 0; r < rows; r++ {
			row := tile[r*k : (r+1)*k]
			bi, bs := 0, float32(math.Inf(-1))
			for j, s := range row {
				if s -= norms[j] / 2; s > bs {
					bi, bs = j, s
				}
			}
			labels[b+r] = int32(bi)
		}
	}
}

// encode writes the m-byte codes of the n residuals r (n×d) into dst.
func (p *pq) encode(dst []uint8, r []float32, n int) {
	d := p.m * p.dsub
	labels := make([]int32, min(n, assignBlock))
	tile := make([]float32, assignBlock*pqKSub)
	for b := 0; b < n; b += assignBlock {
		rows := min(assignBlock, n-b)
		for s := 0; s < p.m; s++ {
			nearestL2(r[b*d+s*p.dsub:], rows, p.dsub, d, p.cbT[s*pqKSub*p.dsub:(s+1)*pqKSub*p.dsub],
				p.norms[s*pqKSub:(s+1)*pqKSub], pqKSub, labels, tile)
			for i := 0; i < rows; i++ {
				dst[(b+i)*p.m+s] = uint8(labels[i])
			}
		}
	}
}

// decode writes the reconstruction of the residual of code c into dst (d).
func (p *pq) decode(dst []float32, c []uint8) {
	for s := 0; s < p.m; s++ {
		copy(dst[s*p.dsub:(s+1)*p.dsub], p.cb[(s*pqKSub+int(c[s]))*p.dsub:])
	}
}

// table writes the ADC lookup table of query q (d floats) into t (m×256):
// t[s·256+j] = q_s·cb_s[j], computed as Σ_i q_s[i]·cbT_s[i] with axpy on
// rows of 256 floats.
func (p *pq) table(t []float32, q []float32) {
	for s := 0; s < p.m; s++ {
		qs := q[s*p.dsub : (s+1)*p.dsub]
		cbT := p.cbT[s*pqKSub*p.dsub:]
		ts := t[s*pqKSub : (s+1)*pqKSub]
		clear(ts)
		for i, v := range qs {
			axpy(v, cbT[i*pqKSub:(i+1)*pqKSub], ts)
		}
	}
}

// residuals returns x − c_label for each row of x (n×d).
func residuals(x []float32, d int, labels []int32, cents []float32) []float32 {
	r := make([]float32, len(x))
	for i, l := range labels {
		c := cents[int(l)*d : int(l+1)*d]
		row := x[i*d : (i+1)*d]
		out := r[i*d : (i+1)*d]
		for j := range out {
			out[j] = row[j] - c[j]
		}
	}
	return r
}
