package vector

import (
	"fmt"
	"sync"
)

// Flat is an exact index: every query is scored against every stored
// vector. It holds the raw vectors (one contiguous row-major slice) and
// their ids, nothing else.
type Flat struct {
	mu   sync.RWMutex
	dim  int
	o    options
	vecs []float32
	ids  []string
	pos  map[string]int
}

var _ Index = (*Flat)(nil)

// NewFlat returns an empty exact index of dimension dim. Options:
// WithMetric, WithWorkers.
func NewFlat(dim int, opts ...Option) (*Flat, error) {
	if dim <= 0 {
		return nil, fmt.Errorf("%w: dim = %d", ErrInvalid, dim)
	}
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Flat{dim: dim, o: o, pos: map[string]int{}}, nil
}

// Dim returns the vector dimension.
func (f *Flat) Dim() int { return f.dim }

// Metric returns InnerProduct or Cosine.
func (f *Flat) Metric() Metric { return f.o.metric }

// Len returns the number of stored vectors.
func (f *Flat) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.ids)
}

// Add stores vectors under ids (see Index.Add: duplicates are an error and
// nothing is added). The vectors are copied (and normalised for Cosine).
func (f *Flat) Add(ids []string, vectors []float32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := checkAdd(ids, vectors, f.dim, func(id string) bool { _, ok := f.pos[id]; return ok }); err != nil {
		return err
	}
	if len(f.pos) == 0 {
		f.pos = make(map[string]int, len(ids))
	}
	start := len(f.vecs)
	f.vecs = append(f.vecs, vectors...)
	if f.o.metric == Cosine {
		normalizeRows(f.vecs[start:], f.dim)
	}
	for _, id := range ids {
		f.pos[id] = len(f.ids)
		f.ids = append(f.ids, id)
	}
	return nil
}

// Remove deletes ids (unknown ids are ignored) and returns how many were
// removed. The last vector moves into each freed slot, so removal costs one
// row copy.
func (f *Flat) Remove(ids []string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	removed := 0
	d := f.dim
	for _, id := range ids {
		p, ok := f.pos[id]
		if !ok {
			continue
		}
		last := len(f.ids) - 1
		if p != last {
			copy(f.vecs[p*d:(p+1)*d], f.vecs[last*d:(last+1)*d])
			f.ids[p] = f.ids[last]
			f.pos[f.ids[p]] = p
		}
		f.ids[last] = ""
		f.ids = f.ids[:last]
		f.vecs = f.vecs[:last*d]
		delete(f.pos, id)
		removed++
	}
	return removed, nil
}

// Vectors calls fn with the stored vectors and ids (row i of vecs has id
// ids[i]) under the read lock; fn must not retain or modify them.
func (f *Flat) Vectors(fn func(vecs []float32, ids []string)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.vecs, f.ids)
}

// Search returns the exact top k of each query (see Index.Search).
func (f *Flat) Search(queries []float32, k int) ([][]Result, error) {
	q, nq, err := prepareQueries(queries, f.dim, f.o.metric, k)
	if err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	// Chunks of queries bound the heaps' memory (queries × k × workers).
	out := make([][]Result, 0, nq)
	for c := 0; c < nq; c += maxQueryGroup {
		m := min(maxQueryGroup, nq-c)
		out = append(out, exactSearch(q[c*f.dim:(c+m)*f.dim], m, f.vecs, f.ids, f.dim, k, f.o.nworkers())...)
	}
	return out, nil
}

// Sizes of the exact scan. Scores are computed as a tile T = X_blk·Qᵀ
// (rows: stored vectors, columns: queries), with the queries transposed
// once per search so that sgemm packs both operands by contiguous copies;
// a tile of about tileFloats scores stays in cache while the heaps read it
// row by row against a contiguous array of per-query thresholds.
const (
	tileFloats = 1 << 18
	// maxQueryGroup bounds the queries scored together (columns of a tile).
	maxQueryGroup = 1024
	// smallBatch queries or fewer are scored row by row with dot products
	// (a GEMV: memory-bound, no packing).
	smallBatch = 2
	// minRowsPerWorker keeps goroutines from being started for tiny scans.
	minRowsPerWorker = 2048
)

// exactSearch scores nq queries against all n = len(ids) rows of vecs. The
// rows are split among workers, each keeping its own heaps, which are then
// merged; the result does not depend on the split.
func exactSearch(q []float32, nq int, vecs []float32, ids []string, d, k, workers int) [][]Result {
	n := len(ids)
	if w := (n + minRowsPerWorker - 1) / minRowsPerWorker; w < workers {
		workers = w
	}
	if workers < 1 {
		workers = 1
	}
	kk := k
	if kk > n {
		kk = n
	}
	var qt []float32
	if nq > smallBatch {
		qt = make([]float32, nq*d)
		for g := 0; g < nq; g += maxQueryGroup {
			m := min(maxQueryGroup, nq-g)
			transpose(q[g*d:(g+m)*d], m, d, qt[g*d:(g+m)*d])
		}
	}
	heaps := make([][]topK, workers)
	parallel(n, workers, func(w, lo, hi int) {
		buf := make([]entry, nq*kk)
		hs := make([]topK, nq)
		for i := range hs {
			hs[i] = newTopK(kk, buf[i*kk:(i+1)*kk])
		}
		heaps[w] = hs
		if nq <= smallBatch {
			scanDot(q, nq, vecs[lo*d:hi*d], ids[lo:hi], d, hs)
			return
		}
		var sc scanScratch
		for g := 0; g < nq; g += maxQueryGroup {
			m := min(maxQueryGroup, nq-g)
			sc.scanT(qt[g*d:(g+m)*d], m, vecs[lo*d:hi*d], ids[lo:hi], d, hs[g:g+m], nil)
		}
	})
	return mergeHeaps(heaps, nq, kk)
}

// scanDot offers the dot products of nq queries with each row of vecs to
// hs[0..nq).
func scanDot(q []float32, nq int, vecs []float32, ids []string, d int, hs []topK) {
	for i, id := range ids {
		row := vecs[i*d : (i+1)*d]
		for j := 0; j < nq; j++ {
			s := dot(q[j*d:(j+1)*d], row)
			if s >= hs[j].thr {
				hs[j].offer(s, id)
			}
		}
	}
}

// scanScratch holds the buffers of one worker's scans.
type scanScratch struct {
	tile, thr, qt []float32
	dec           []float32 // SQ8 codes decoded to floats (scanSQ8)
}

// gatherT returns the queries qs (rows of q, d wide) transposed, d×len(qs),
// in the scratch buffer: the B operand of a list's batched scan.
func (sc *scanScratch) gatherT(q []float32, d int, qs []int32) []float32 {
	m := len(qs)
	if cap(sc.qt) < m*d {
		sc.qt = make([]float32, m*d)
	}
	qt := sc.qt[:m*d]
	for j, qi := range qs {
		for c, v := range q[int(qi)*d : int(qi+1)*d] {
			qt[c*m+j] = v
		}
	}
	return qt
}

// scanT offers the scores of m queries, given transposed (qt is d×m),
// against the rows of vecs. Query j's heap is hs[j], or hs[qmap[j]] when
// qmap is not nil.
func (sc *scanScratch) scanT(qt []float32, m int, vecs []float32, ids []string, d int, hs []topK, qmap []int32) {
	n := len(ids)
	if n == 0 {
		return
	}
	heap := func(j int) *topK {
		if qmap != nil {
			return &hs[qmap[j]]
		}
		return &hs[j]
	}
	if cap(sc.thr) < m {
		sc.thr = make([]float32, m)
	}
	thr := sc.thr[:m]
	for j := range thr {
		thr[j] = heap(j).thr
	}
	nb := max(16, tileFloats/m/16*16)
	nb = min(nb, n)
	if cap(sc.tile) < nb*m {
		sc.tile = make([]float32, nb*m)
	}
	tile := sc.tile[:nb*m]
	for r0 := 0; r0 < n; r0 += nb {
		rows := min(nb, n-r0)
		gemmSerial(false, false, rows, m, d, 1, vecs[r0*d:], d, qt, m, 0, tile, m)
		for r := 0; r < rows; r++ {
			row := tile[r*m : (r+1)*m]
			for j, s := range row {
				if s >= thr[j] {
					h := heap(j)
					h.offer(s, ids[r0+r])
					thr[j] = h.thr
				}
			}
		}
	}
}

// transpose writes the transpose of src (rows×cols, row-major) into dst
// (cols×rows), in cache blocks.
func transpose(src []float32, rows, cols int, dst []float32) {
	const b = 32
	for r0 := 0; r0 < rows; r0 += b {
		for c0 := 0; c0 < cols; c0 += b {
			for r := r0; r < min(r0+b, rows); r++ {
				for c := c0; c < min(c0+b, cols); c++ {
					dst[c*rows+r] = src[r*cols+c]
				}
			}
		}
	}
}

// mergeHeaps combines per-worker heaps (nil for workers that had no rows)
// into the sorted results of each query.
func mergeHeaps(heaps [][]topK, nq, k int) [][]Result {
	out := make([][]Result, nq)
	var live [][]topK
	for _, h := range heaps {
		if h != nil {
			live = append(live, h)
		}
	}
	if k <= 0 || len(live) == 0 {
		for i := range out {
			out[i] = []Result{}
		}
		return out
	}
	if len(live) == 1 {
		for i := range out {
			out[i] = live[0][i].results()
		}
		return out
	}
	buf := make([]entry, k)
	for i := range out {
		h := newTopK(k, buf)
		for _, hw := range live {
			for _, e := range hw[i].e {
				if e.score >= h.thr {
					h.offer(e.score, e.id)
				}
			}
		}
		out[i] = h.results()
	}
	return out
}
