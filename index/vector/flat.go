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
	return exactSearch(q, nq, f.vecs, f.ids, f.dim, k, f.o.nworkers()), nil
}

// Block sizes of the exact scan: a block of flatBQ queries is multiplied
// with a block of flatBN stored vectors into a flatBQ×flatBN score tile
// that stays in cache while the heaps read it.
const (
	flatBQ = 128
	flatBN = 1024
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
	heaps := make([][]topK, workers)
	parallel(n, workers, func(w, lo, hi int) {
		buf := make([]entry, nq*kk)
		hs := make([]topK, nq)
		for i := range hs {
			hs[i] = newTopK(kk, buf[i*kk:(i+1)*kk])
		}
		heaps[w] = hs
		scanRows(q, nq, vecs[lo*d:hi*d], ids[lo:hi], d, hs, nil)
	})
	return mergeHeaps(heaps, nq, kk)
}

// scanRows offers the scores of nq queries against the rows of vecs (ids
// per row) to the heaps hs[0..nq). tile is scratch (may be nil).
func scanRows(q []float32, nq int, vecs []float32, ids []string, d int, hs []topK, tile []float32) []float32 {
	n := len(ids)
	if n == 0 {
		return tile
	}
	if nq <= smallBatch {
		for i := 0; i < n; i++ {
			row := vecs[i*d : (i+1)*d]
			for j := 0; j < nq; j++ {
				s := dot(q[j*d:(j+1)*d], row)
				if s >= hs[j].thr {
					hs[j].offer(s, ids[i])
				}
			}
		}
		return tile
	}
	bq := nq
	if bq > flatBQ {
		bq = flatBQ
	}
	if need := bq * flatBN; len(tile) < need {
		tile = make([]float32, need)
	}
	for c0 := 0; c0 < n; c0 += flatBN {
		nb := min(flatBN, n-c0)
		for q0 := 0; q0 < nq; q0 += bq {
			mq := min(bq, nq-q0)
			gemmSerial(false, true, mq, nb, d, 1, q[q0*d:], d, vecs[c0*d:], d, 0, tile, nb)
			for r := 0; r < mq; r++ {
				hs[q0+r].scan(tile[r*nb:(r+1)*nb], ids[c0:c0+nb])
			}
		}
	}
	return tile
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
