package bm25

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	index "github.com/blevesearch/bleve_index_api"

	"github.com/contriever-go/contriever/document"
)

// acquire returns the current view with a reference taken, building it
// when stale (after Open, Build, SetParams or a failed write). The caller
// must call release once done with it.
func (ix *Index) acquire() (v *view, release func(), err error) {
	ix.mu.RLock()
	if ix.closed {
		ix.mu.RUnlock()
		return nil, nil, ErrClosed
	}
	ix.viewMu.Lock()
	if ix.view == nil {
		ix.view, err = ix.buildViewSafe()
	}
	v = ix.view
	if v != nil {
		v.refs.Add(1)
	}
	ix.viewMu.Unlock()
	if err != nil {
		ix.mu.RUnlock()
		return nil, nil, err
	}
	return v, func() { v.unref(); ix.mu.RUnlock() }, nil
}

// buildViewSafe is buildView with bleve's panics returned as errors.
func (ix *Index) buildViewSafe() (v *view, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, recovered(p)
		}
	}()
	return ix.buildView()
}

// buildView builds the view of bleve's current snapshot from scratch,
// reading every live document's id and stored lengths and checking them
// against the statistics (O(N)). The caller holds viewMu. A writer may
// have applied its batch to bleve without having switched the metadata
// yet: when the snapshot disagrees with the current metadata, the
// metadata the snapshot itself holds (written in the same batch) is tried.
func (ix *Index) buildView() (*view, error) {
	adv, err := ix.bi.Advanced()
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	v, err := ix.makeView(r, ix.meta, true)
	if err != nil && errors.Is(err, ErrCorrupt) {
		if raw, gerr := r.GetInternal([]byte(metaKey)); gerr == nil {
			if sm, derr := decodeMeta(raw); derr == nil && !sameStats(sm, ix.meta) {
				if v2, err2 := ix.makeView(r, sm, true); err2 == nil {
					return v2, nil
				}
			}
		}
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", ix.dir, err)
	}
	return v, nil
}

// sameStats reports whether a and b hold the same collection statistics.
func sameStats(a, b *meta) bool {
	return a.Docs == b.Docs && a.Params == b.Params && a.LuceneNorms == b.LuceneNorms && slices.Equal(a.Fields, b.Fields)
}

// scratch is one searcher's reusable memory.
// batchSerial keeps SearchBatch's queries on one core each (a variable so
// that tests can split them as single searches are).
var batchSerial = true

type scratch struct {
	// serial keeps a pruned search on one core: SearchBatch already runs
	// one query per core.
	serial  bool
	acc     []float64 // score by doc number; 0 = not touched
	touched []uint32
	post    []posting
	tfd     index.TermFieldDoc
}

type posting struct {
	doc  uint32
	tf   float64
	norm float64 // the document's length normalisation in the field
}

// queryTerm is an analysed query term and how often it occurs.
type queryTerm struct {
	term  string
	count float64
}

func (ix *Index) queryTerms(text string) []queryTerm {
	var qt []queryTerm
	pos := make(map[string]int)
	for _, t := range ix.analyzer.Analyze([]byte(text)) {
		s := string(t.Term)
		if i, ok := pos[s]; ok {
			qt[i].count++
			continue
		}
		pos[s] = len(qt)
		qt = append(qt, queryTerm{term: s, count: 1})
	}
	return qt
}

// Search returns the k best documents for the query text, best first (ties
// by doc id descending, as document.CompareHits).
func (ix *Index) Search(ctx context.Context, query string, k int) ([]document.Hit, error) {
	v, release, err := ix.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	return ix.search(ctx, v, &scratch{}, query, k)
}

// QueryError is the error SearchBatch returns when one query fails: it
// names the query's index in the batch.
type QueryError struct {
	Index int   // position of the query in the batch
	Err   error // why it failed
}

func (e *QueryError) Error() string { return fmt.Sprintf("query %d: %v", e.Index, e.Err) }

// Unwrap returns the query's error.
func (e *QueryError) Unwrap() error { return e.Err }

// SearchBatch answers many queries on all cores, from one snapshot of the
// index: results[i] are the k best hits of queries[i], best first (never
// nil).
func (ix *Index) SearchBatch(ctx context.Context, queries []string, k int) ([][]document.Hit, error) {
	v, release, err := ix.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	results := make([][]document.Hit, len(queries))
	workers := min(runtime.GOMAXPROCS(0), len(queries))
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				// A damaged segment can make bleve panic while reading
				// postings: it fails the batch instead of the process.
				if p := recover(); p != nil {
					errOnce.Do(func() { firstErr = recovered(p) })
					next.Store(int64(len(queries)))
				}
			}()
			sc := &scratch{serial: batchSerial && workers > 1}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(queries) {
					return
				}
				hits, err := ix.search(ctx, v, sc, queries[i], k)
				if err != nil {
					errOnce.Do(func() { firstErr = &QueryError{Index: i, Err: err} })
					next.Store(int64(len(queries)))
					return
				}
				results[i] = hits
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return results, nil
}

func (ix *Index) search(ctx context.Context, v *view, sc *scratch, query string, k int) ([]document.Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if k <= 0 {
		return []document.Hit{}, nil
	}
	if ix.exhaustive.Load() {
		return ix.searchExhaustive(ctx, v, sc, query, k)
	}
	return ix.searchPruned(ctx, v, sc, query, k)
}

// searchExhaustive scores every posting of every query term (term at a
// time) and keeps the best k: the definition searchPruned must equal.
func (ix *Index) searchExhaustive(ctx context.Context, v *view, sc *scratch, query string, k int) ([]document.Hit, error) {
	if uint64(len(sc.acc)) < v.size {
		sc.acc = make([]float64, v.size)
	}
	acc := sc.acc
	terms := ix.queryTerms(query)
	k1 := v.params.K1
	for fi := range v.fields {
		f := &v.fields[fi]
		for _, qt := range terms {
			if err := sc.postings(ctx, v, fi, qt.term); err != nil {
				for _, d := range sc.touched {
					acc[d] = 0
				}
				sc.touched = sc.touched[:0]
				return nil, err
			}
			df := float64(len(sc.post))
			if df == 0 {
				continue
			}
			idf := math.Log(1 + (f.n-df+0.5)/(df+0.5))
			coef := f.weight * qt.count * idf * (k1 + 1)
			for _, p := range sc.post {
				if acc[p.doc] == 0 {
					sc.touched = append(sc.touched, p.doc)
				}
				acc[p.doc] += coef * p.tf / (p.tf + p.norm)
			}
		}
	}
	h := hitHeap{v: v}
	for _, d := range sc.touched {
		s := acc[d]
		acc[d] = 0
		e := entry{doc: d, score: s}
		if len(h.e) < k {
			heap.Push(&h, e)
		} else if h.before(e, h.e[0]) {
			h.e[0] = e
			heap.Fix(&h, 0)
		}
	}
	sc.touched = sc.touched[:0]
	hits := make([]document.Hit, len(h.e))
	for i := len(h.e) - 1; i >= 0; i-- {
		e := heap.Pop(&h).(entry)
		hits[i] = document.Hit{DocID: v.id(uint64(e.doc)), Score: e.score}
	}
	return hits, nil
}

// postings loads the (doc, tf, norm) triples of term in field f into
// sc.post.
func (sc *scratch) postings(ctx context.Context, v *view, f int, term string) error {
	sc.post = sc.post[:0]
	vf := &v.fields[f]
	hint := 0
	tfr, err := v.r.TermFieldReader(ctx, []byte(term), vf.name, true, false, false)
	if err != nil {
		return fmt.Errorf("bm25: postings of %q: %w", term, err)
	}
	defer tfr.Close()
	for {
		d, err := tfr.Next(sc.tfd.Reset())
		if err != nil {
			return fmt.Errorf("bm25: postings of %q: %w", term, err)
		}
		if d == nil {
			return nil
		}
		num := d.ID.Value()
		l, ok := v.live(num, f, &hint)
		if !ok {
			return fmt.Errorf("%w: posting of %q for unknown document %d", ErrCorrupt, term, num)
		}
		sc.post = append(sc.post, posting{doc: uint32(num), tf: float64(d.Freq), norm: vf.norm(l)})
	}
}

type entry struct {
	doc   uint32
	score float64
}

// hitHeap keeps the k best entries with the worst at the root.
type hitHeap struct {
	e []entry
	v *view
}

// before reports whether a ranks before b (score desc, doc id desc).
func (h *hitHeap) before(a, b entry) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return h.v.id(uint64(a.doc)) > h.v.id(uint64(b.doc))
}

func (h *hitHeap) Len() int           { return len(h.e) }
func (h *hitHeap) Less(i, j int) bool { return h.before(h.e[j], h.e[i]) }
func (h *hitHeap) Swap(i, j int)      { h.e[i], h.e[j] = h.e[j], h.e[i] }
func (h *hitHeap) Push(x any)         { h.e = append(h.e, x.(entry)) }
func (h *hitHeap) Pop() any {
	x := h.e[len(h.e)-1]
	h.e = h.e[:len(h.e)-1]
	return x
}
