package bm25

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2/index/scorch"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/contriever-go/contriever/document"
)

// Dynamic pruning: MaxScore (Turtle and Flood 1995, as in Lucene's
// MaxScoreBulkScorer), document at a time over bleve's postings.
//
// Every (field, query term) pair is a cursor over its postings with an
// upper bound ub on its contribution coef·tf/(tf + norm_d). Cursors are
// sorted by ub; once the heap of the best k holds k documents with the
// worst at score θ, the longest prefix of cursors whose bounds sum to less
// than θ is non-essential: a document found only in them cannot enter the
// top k. Candidates are therefore the documents of the essential cursors
// only, read with Next; the non-essential cursors are moved to a candidate
// with Advance, best bound first, and a candidate is dropped as soon as its
// partial score plus the bounds of the cursors not yet visited falls below
// θ. (bleve's zap Advance still reads a segment's postings one by one up to
// its target, only cheaper than Next: MaxScore here saves the scoring of
// the non-essential lists, not their decoding. At 1M documents that walk is
// most of a long query's time; skipping inside a segment would need
// postings with skip data, which zap does not expose.)
//
// Cursors read bleve's segments directly (segment.PostingsIterator per
// segment, the lists opened once per query by openLists), not through
// scorch's TermFieldReader, which re-encodes every document number and
// would open every segment's list for every range of a split query.
//
// Scores are identical to the exhaustive search's: a surviving document's
// contributions are summed from zero in the same (field, term) order, and
// a document is pruned only when its bound is below θ by more than a
// rounding margin, so documents tied with the k-th (which may enter by the
// doc id rule) are always scored. The top k is therefore exactly the
// exhaustive one, ties included (score descending, doc id descending).
//
// Bounds: tf/(tf + norm) < 1, so coef bounds any contribution. The first
// time a cursor is read to its end without skipping, the largest
// tf/(tf + norm) it met is cached in the view (views are rebuilt when the
// index, its parameters or its norms change) and later queries use
// coef·max instead, which is much tighter for common terms.

// pruneMargin is the relative margin below θ a bound must fall before a
// document or cursor is pruned: far above the rounding error of the
// bounds' sums and far below any score difference that matters.
const pruneMargin = 1e-9

// cursor is one (field, term) postings list during a pruned search, read
// segment by segment straight from bleve's segments (scorch's
// TermFieldReader adds a document-number encoding and a segment lookup to
// every posting, and would open the list in every segment for every
// range of a split query).
type cursor struct {
	its     []segment.PostingsIterator // by segment of the range; nil: no postings there
	seg0    int                        // view segment of its[0]
	si      int                        // index in its of the current segment
	key     string                     // field + "\x00" + term, for the bound cache
	coef    float64
	field   int     // index of the field in the view
	hint    int     // view segment of the current document (view.locate)
	norm    float64 // length normalisation of the current document; < 0: not looked up
	ub      float64 // bound of the contribution
	ord     int     // position in the exhaustive summation order
	doc     uint64  // current document number; done when exhausted
	tf      float64
	maxFrac float64 // largest tf/(tf+norm) seen
	skipped bool    // Advance skipped postings: maxFrac is not the list's
}

const done = math.MaxUint64

// next moves c to its next posting.
func (c *cursor) next(v *view) error {
	for c.si < len(c.its) {
		if it := c.its[c.si]; it != nil {
			p, err := it.Next()
			if err != nil {
				return fmt.Errorf("bm25: postings of %q: %w", c.key, err)
			}
			if p != nil {
				return c.set(v, p)
			}
		}
		c.si++
	}
	return c.set(v, nil)
}

// advance moves c to its first posting at or after doc.
func (c *cursor) advance(v *view, doc uint64) error {
	if c.doc >= doc {
		return nil
	}
	c.skipped = true
	for c.si < len(c.its) && v.segs[c.seg0+c.si].end <= doc {
		c.si++
	}
	if c.si == len(c.its) {
		return c.set(v, nil)
	}
	base := v.segs[c.seg0+c.si].base
	if doc <= base || c.its[c.si] == nil {
		return c.next(v)
	}
	// doc > c.doc: the target is past the current posting, as
	// PostingsIterator.Advance requires.
	p, err := c.its[c.si].Advance(doc - base)
	if err != nil {
		return fmt.Errorf("bm25: postings of %q: %w", c.key, err)
	}
	if p == nil {
		c.si++
		return c.next(v)
	}
	return c.set(v, p)
}

// set makes p (nil: the end of the list) the current posting.
func (c *cursor) set(v *view, p segment.Posting) error {
	if p == nil {
		if !c.skipped {
			v.bounds.Store(c.key, c.maxFrac)
		}
		c.doc = done
		return nil
	}
	c.hint = c.seg0 + c.si
	c.doc, c.tf, c.norm = v.segs[c.hint].base+p.Number(), float64(p.Frequency()), -1
	if c.skipped {
		// The length is looked up when the posting is scored: most
		// postings an Advance lands on belong to no candidate.
		return nil
	}
	if err := c.lookNorm(v); err != nil {
		return err
	}
	if f := c.tf / (c.tf + c.norm); f > c.maxFrac {
		c.maxFrac = f
	}
	return nil
}

// lookNorm sets c.norm for the current document.
func (c *cursor) lookNorm(v *view) error {
	l, ok := v.live(c.doc, c.field, &c.hint)
	if !ok {
		return fmt.Errorf("%w: posting of %q for unknown document %d", ErrCorrupt, c.key, c.doc)
	}
	c.norm = v.fields[c.field].norm(l)
	return nil
}

// contrib is the cursor's contribution to its current document, computed
// as the exhaustive search does.
func (c *cursor) contrib(v *view) (float64, error) {
	if c.norm < 0 {
		if err := c.lookNorm(v); err != nil {
			return 0, err
		}
	}
	return c.coef * c.tf / (c.tf + c.norm), nil
}

// splitMinDocs is the index size from which a pruned search splits the
// document numbers into ranges searched in parallel (one per core, at most
// maxSplit): below it a query is too cheap to share. A variable so that
// tests can split small indexes.
var splitMinDocs uint64 = 200_000

// maxSplit bounds the ranges of one query.
const maxSplit = 4

// searchPruned is search with MaxScore pruning (see above). On a large
// index it splits the document numbers into contiguous ranges searched in
// parallel, each range's top k exact for its documents; the ranges share
// the best k-th score found so far (θ), which only prunes documents that
// cannot enter the overall top k, and the merged top k is the exhaustive
// one (the same order rule decides the merge).
func (ix *Index) searchPruned(ctx context.Context, v *view, sc *scratch, query string, k int) ([]document.Hit, error) {
	w := uint64(min(maxSplit, runtime.GOMAXPROCS(0)))
	lists, err := ix.openLists(v, query)
	if err != nil {
		return nil, err
	}
	var es []entry
	if w > 1 && v.size >= splitMinDocs && !sc.serial {
		var shared atomic.Uint64
		shared.Store(math.Float64bits(math.Inf(-1)))
		var wg sync.WaitGroup
		cuts := v.splitPoints(int(w))
		w = uint64(len(cuts) - 1)
		parts := make([][]entry, w)
		errs := make([]error, w)
		for i := uint64(0); i < w; i++ {
			lo, hi := cuts[i], cuts[i+1]
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A damaged segment can make bleve panic while reading
				// postings: it fails the query, not the process.
				defer func() {
					if p := recover(); p != nil {
						errs[i] = recovered(p)
					}
				}()
				parts[i], errs[i] = prunedRange(ctx, v, lists, k, lo, hi, &shared)
			}()
		}
		wg.Wait()
		for i := range parts {
			if errs[i] != nil {
				return nil, errs[i]
			}
			es = append(es, parts[i]...)
		}
	} else {
		if es, err = prunedRange(ctx, v, lists, k, 0, done, nil); err != nil {
			return nil, err
		}
	}
	h := hitHeap{v: v}
	sort.Slice(es, func(i, j int) bool { return h.before(es[i], es[j]) })
	es = es[:min(k, len(es))]
	hits := make([]document.Hit, len(es))
	for i, e := range es {
		hits[i] = document.Hit{DocID: v.id(uint64(e.doc)), Score: e.score}
	}
	return hits, nil
}

// splitPoints returns the bounds of at most w ranges of document numbers
// that split the view into parts of about equal size: cuts[0] = 0 <
// cuts[1] < … < cuts[len-1] = size. A cursor jumps to a segment but
// walks a segment's postings one by one up to its target, so a range
// that starts inside a segment first reads every posting of the segment
// below its start, in every list of the query, at about the cost of
// searching them. Each cut is therefore the candidate (the even cut, or a
// segment boundary) with the least imbalance plus walk: |cut − even| +
// (cut − start of its segment).
func (v *view) splitPoints(w int) []uint64 {
	cuts := []uint64{0}
	for i := 1; i < w; i++ {
		target := v.size * uint64(i) / uint64(w)
		best, cost := target, uint64(math.MaxUint64)
		h := -1
		if _, loc, ok := v.locate(target, &h); ok {
			cost = loc
		}
		for _, s := range v.segs[1:] {
			if d := max(s.base, target) - min(s.base, target); d < cost {
				best, cost = s.base, d
			}
		}
		if best > cuts[len(cuts)-1] && best < v.size {
			cuts = append(cuts, best)
		}
	}
	return append(cuts, v.size)
}

// termList is one (field, query term) pair's postings list in every
// segment of the view, opened once per query.
type termList struct {
	key   string
	field int
	count float64                // occurrences of the term in the query
	pls   []segment.PostingsList // by view segment
	cnt   []uint64               // postings by view segment
	df    float64                // live documents with the term in the field
}

// openLists looks the query's terms up in every segment's dictionary of
// every field, in the exhaustive summation order (field, then term). A
// damaged segment can make bleve panic here: it fails the query.
func (ix *Index) openLists(v *view, query string) (lists []termList, err error) {
	defer func() {
		if p := recover(); p != nil {
			lists, err = nil, recovered(p)
		}
	}()
	snap, ok := v.r.(*scorch.IndexSnapshot)
	if !ok {
		return nil, fmt.Errorf("bm25: bleve reader is a %T, want a scorch snapshot", v.r)
	}
	segs := snap.Segments()
	if len(segs) != len(v.segs) {
		return nil, fmt.Errorf("%w: %d segments in the snapshot, %d in the view", ErrCorrupt, len(segs), len(v.segs))
	}
	terms := ix.queryTerms(query)
	for fi := range v.fields {
		name := v.fields[fi].name
		dicts := make([]segment.TermDictionary, len(segs))
		for i, ss := range segs {
			if dicts[i], err = ss.Segment().Dictionary(name); err != nil {
				return nil, fmt.Errorf("bm25: dictionary of %s: %w", name, err)
			}
		}
		for _, qt := range terms {
			l := termList{key: name + "\x00" + qt.term, field: fi, count: qt.count,
				pls: make([]segment.PostingsList, len(segs)), cnt: make([]uint64, len(segs))}
			for i, ss := range segs {
				pl, err := dicts[i].PostingsList([]byte(qt.term), ss.Deleted(), nil)
				if err != nil {
					return nil, fmt.Errorf("bm25: postings of %q: %w", qt.term, err)
				}
				l.pls[i], l.cnt[i] = pl, pl.Count()
				l.df += float64(l.cnt[i])
			}
			lists = append(lists, l)
		}
	}
	return lists, nil
}

// prunedRange returns the top k of the documents numbered in [lo, hi) by
// MaxScore, in no particular order. shared (nil: none) holds the float64
// bits of the best k-th score any range has reached: documents below it
// cannot enter the overall top k. A range search reads postings only
// partly, so it caches no bounds.
func prunedRange(ctx context.Context, v *view, lists []termList, k int, lo, hi uint64, shared *atomic.Uint64) ([]entry, error) {
	rangeOnly := shared != nil
	k1 := v.params.K1
	// The view segments that hold documents of [lo, hi).
	s0 := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].end > lo })
	s1 := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].base >= hi })
	s1 = max(s0, s1)
	cs := make([]*cursor, 0, len(lists))
	for _, l := range lists {
		f := &v.fields[l.field]
		c := &cursor{key: l.key, field: l.field, ord: len(cs), skipped: rangeOnly, seg0: s0, its: make([]segment.PostingsIterator, s1-s0)}
		cs = append(cs, c)
		for i := s0; i < s1; i++ {
			if l.cnt[i] > 0 {
				c.its[i-s0] = l.pls[i].Iterator(true, false, false, nil)
			}
		}
		if err := c.next(v); err != nil {
			return nil, err
		}
		if err := c.advance(v, lo); err != nil {
			return nil, err
		}
		if c.doc == done || l.df == 0 {
			continue
		}
		idf := math.Log(1 + (f.n-l.df+0.5)/(l.df+0.5))
		c.coef = f.weight * l.count * idf * (k1 + 1)
		c.ub = c.coef
		if m, ok := v.bounds.Load(c.key); ok {
			c.ub = c.coef * m.(float64) * (1 + pruneMargin)
		}
	}
	// Live cursors, by bound ascending (then summation order).
	live := cs[:0:0]
	for _, c := range cs {
		if c.doc != done {
			live = append(live, c)
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].ub < live[j].ub })
	n := len(live)
	prefix := make([]float64, n) // prefix[i] = Σ ub of live[0..i]
	s := 0.0
	for i, c := range live {
		s += c.ub
		prefix[i] = s
	}
	parts := make([]float64, len(cs))
	has := make([]bool, len(cs))
	h := hitHeap{v: v}
	theta := math.Inf(-1)
	firstEss := 0
	for it := 0; ; it++ {
		if it&4095 == 4095 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		th := theta
		if shared != nil {
			th = max(th, math.Float64frombits(shared.Load()))
		}
		cut := th - pruneMargin*math.Abs(th)
		for firstEss < n && prefix[firstEss] < cut {
			firstEss++
		}
		if firstEss == n {
			break
		}
		d := uint64(done)
		for _, c := range live[firstEss:] {
			d = min(d, c.doc)
		}
		if d == done || d >= hi {
			break
		}
		partial := 0.0
		clear(has)
		for _, c := range live[firstEss:] {
			if c.doc == d {
				p, err := c.contrib(v)
				if err != nil {
					return nil, err
				}
				parts[c.ord], has[c.ord] = p, true
				partial += p
				if err := c.next(v); err != nil {
					return nil, err
				}
			}
		}
		pruned := false
		for i := firstEss - 1; i >= 0; i-- {
			if partial+prefix[i] < cut {
				pruned = true
				break
			}
			c := live[i]
			if err := c.advance(v, d); err != nil {
				return nil, err
			}
			if c.doc == d {
				p, err := c.contrib(v)
				if err != nil {
					return nil, err
				}
				parts[c.ord], has[c.ord] = p, true
				partial += p
			}
		}
		if pruned {
			continue
		}
		score := 0.0
		for o, ok := range has {
			if ok {
				score += parts[o]
			}
		}
		e := entry{doc: uint32(d), score: score}
		if len(h.e) < k {
			heap.Push(&h, e)
		} else if h.before(e, h.e[0]) {
			h.e[0] = e
			heap.Fix(&h, 0)
		} else {
			continue
		}
		if len(h.e) == k {
			theta = h.e[0].score
			if shared != nil {
				for {
					old := shared.Load()
					if math.Float64frombits(old) >= theta || shared.CompareAndSwap(old, math.Float64bits(theta)) {
						break
					}
				}
			}
		}
	}
	return h.e, nil
}

// SetExhaustive makes searches score every posting of every query term
// (on) instead of pruning with MaxScore (off, the default). Results are
// the same either way; it exists for comparisons and benchmarks. Safe to
// call concurrently with searches.
func (ix *Index) SetExhaustive(on bool) { ix.exhaustive.Store(on) }
