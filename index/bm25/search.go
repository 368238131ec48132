package bm25

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	index "github.com/blevesearch/bleve_index_api"

	"github.com/contriever-go/contriever/document"
)

// view is a read snapshot of the index with the per-document data scoring
// needs, indexed by bleve's internal document number.
type view struct {
	r      index.IndexReader
	ids    []string // external id by doc number; "" when not live
	params Params
	fields []viewField
	bounds sync.Map // field+"\x00"+term → largest tf/(tf+norm) of its postings (see prune.go)
}

type viewField struct {
	name   string
	weight float64
	n      float64   // documents with at least one token in the field
	norm   []float64 // k1·(1 − b + b·dl/avgdl) by doc number
}

// acquire returns the current view, building it when stale. The caller
// must call release once done with it.
func (ix *Index) acquire() (v *view, release func(), err error) {
	ix.mu.RLock()
	if ix.closed {
		ix.mu.RUnlock()
		return nil, nil, ErrClosed
	}
	ix.viewMu.Lock()
	if ix.view == nil {
		ix.view, err = ix.buildView()
	}
	v = ix.view
	ix.viewMu.Unlock()
	if err != nil {
		ix.mu.RUnlock()
		return nil, nil, err
	}
	return v, ix.mu.RUnlock, nil
}

// buildView reads every live document's id and stored lengths, checks them
// against the persisted statistics and precomputes the length
// normalisation of each document.
func (ix *Index) buildView() (*view, error) {
	m := ix.meta
	adv, err := ix.bi.Advanced()
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	v, err := loadView(r, m)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", ix.dir, err)
	}
	return v, nil
}

func loadView(r index.IndexReader, m *meta) (*view, error) {
	names := dlFieldNames(m)
	dvr, err := r.DocValueReader(names)
	if err != nil {
		return nil, err
	}
	dr, err := r.DocIDReaderAll()
	if err != nil {
		return nil, err
	}
	defer dr.Close()
	v := &view{r: r, params: m.Params, fields: make([]viewField, len(m.Fields))}
	lens := make([][]int64, len(m.Fields))
	docs := make([]int64, len(m.Fields))
	sums := make([]int64, len(m.Fields))
	var live int64
	for {
		iid, err := dr.Next()
		if err != nil {
			return nil, err
		}
		if iid == nil {
			break
		}
		num := iid.Value()
		if num >= math.MaxUint32 {
			return nil, fmt.Errorf("bm25: document number %d out of range", num)
		}
		ext, err := r.ExternalID(iid)
		if err != nil {
			return nil, err
		}
		ls, err := readLens(dvr, iid, names)
		if err != nil {
			return nil, fmt.Errorf("document %q: %w", ext, err)
		}
		for int(num) >= len(v.ids) {
			v.ids = append(v.ids, "")
			for f := range lens {
				lens[f] = append(lens[f], 0)
			}
		}
		v.ids[num] = ext
		live++
		for f, l := range ls {
			lens[f][num] = l
			if l > 0 {
				docs[f]++
				sums[f] += l
			}
		}
	}
	if live != m.Docs {
		return nil, fmt.Errorf("%w: %d documents stored, metadata says %d", ErrCorrupt, live, m.Docs)
	}
	k1, b := m.Params.K1, m.Params.B
	for f, fm := range m.Fields {
		if docs[f] != fm.Docs || sums[f] != fm.SumDL {
			return nil, fmt.Errorf("%w: field %s has %d documents of total length %d, metadata says %d and %d",
				ErrCorrupt, fm.Name, docs[f], sums[f], fm.Docs, fm.SumDL)
		}
		avgdl := 0.0
		if docs[f] > 0 {
			avgdl = float64(sums[f]) / float64(docs[f])
		}
		norm := make([]float64, len(lens[f]))
		for d, l := range lens[f] {
			if l > 0 {
				if m.LuceneNorms {
					l = luceneLength(l)
				}
				norm[d] = k1 * (1 - b + b*float64(l)/avgdl)
			}
		}
		v.fields[f] = viewField{name: fm.Name, weight: fm.Weight, n: float64(docs[f]), norm: norm}
	}
	return v, nil
}

// scratch is one searcher's reusable memory.
type scratch struct {
	acc     []float64 // score by doc number; 0 = not touched
	touched []uint32
	post    []posting
	tfd     index.TermFieldDoc
}

type posting struct {
	doc uint32
	tf  float64
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
			sc := &scratch{}
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
	if len(sc.acc) < len(v.ids) {
		sc.acc = make([]float64, len(v.ids))
	}
	acc := sc.acc
	terms := ix.queryTerms(query)
	k1 := v.params.K1
	for _, f := range v.fields {
		for _, qt := range terms {
			if err := sc.postings(ctx, v, qt.term, f.name); err != nil {
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
				acc[p.doc] += coef * p.tf / (p.tf + f.norm[p.doc])
			}
		}
	}
	h := hitHeap{ids: v.ids}
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
		hits[i] = document.Hit{DocID: v.ids[e.doc], Score: e.score}
	}
	return hits, nil
}

// postings loads the (doc, tf) pairs of term in field into sc.post.
func (sc *scratch) postings(ctx context.Context, v *view, term, field string) error {
	sc.post = sc.post[:0]
	tfr, err := v.r.TermFieldReader(ctx, []byte(term), field, true, false, false)
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
		if num >= uint64(len(v.ids)) || v.ids[num] == "" {
			return fmt.Errorf("%w: posting of %q for unknown document %d", ErrCorrupt, term, num)
		}
		sc.post = append(sc.post, posting{doc: uint32(num), tf: float64(d.Freq)})
	}
}

type entry struct {
	doc   uint32
	score float64
}

// hitHeap keeps the k best entries with the worst at the root.
type hitHeap struct {
	e   []entry
	ids []string
}

// before reports whether a ranks before b (score desc, doc id desc).
func (h *hitHeap) before(a, b entry) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return h.ids[a.doc] > h.ids[b.doc]
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
