package bm25

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
)

// Search views, updated incrementally.
//
// A view is a read snapshot of bleve (scorch) plus what scoring needs
// beyond the postings: each document's external id and exact field
// lengths, and each field's N and avgdl. scorch is itself a log-structured
// index: a batch adds one new immutable segment and marks the replaced or
// deleted documents of older segments in their deletion bitmaps, and a
// background merger replaces groups of segments by one. A view is
// therefore built per segment: the ids and lengths of a segment are read
// once, when the segment first appears in a snapshot, and kept in a cache
// keyed by scorch's segment id (stable for the segment's life, across its
// persistence from memory to a file). After a write the new view reuses
// the cached data of every segment it shares with the previous one and
// reads only the batch's new segment: O(size of the write), plus
// O(number of segments). Deletions need nothing: scorch's postings skip
// deleted documents and its document frequencies exclude them. The
// collection statistics (N, Σ dl, hence avgdl) come from the metadata,
// which every write updates by the write's own documents, and the length
// normalisation k1·(1 − b + b·dl/avgdl) is looked up by length in a table
// of the first normTable lengths (computed per view, O(normTable)), and
// computed for longer documents; the same expression either way, so the
// scores are bit-identical to a view built from scratch (TestIncremental*
// checks it against a fresh index holding the same documents). A merged
// segment is read once when it appears: merging is bleve's amortised
// O(log N) work per document, and so is this.
//
// Searches take a reference to the current view (a pointer read and a
// counter under a mutex held for nanoseconds); a write builds its new view
// beside the current one and swaps the pointer, and the old view's bleve
// snapshot is closed when its last search releases it. Writes never make a
// search wait, and a search never builds a view after a write.

// normTable is the number of lengths whose normalisation a view tabulates.
const normTable = 4096

// segData is what a view needs of one bleve segment, by local document
// number.
type segData struct {
	count uint64     // documents in the segment, deleted ones included
	ids   []string   // external ids; "" for documents deleted when read
	lens  [][]uint32 // exact length by field
}

// segRef places a segment's data in a snapshot's global numbering.
type segRef struct {
	base, end uint64 // global document numbers [base, end)
	d         *segData
}

// view is a read snapshot of the index (see above).
type view struct {
	r      index.IndexReader
	refs   atomic.Int64 // the index's reference (while current) and each search's
	segs   []segRef
	size   uint64 // global document numbers are < size
	params Params
	fields []viewField
	bounds sync.Map // field+"\x00"+term → largest tf/(tf+norm) of its postings (see prune.go)
}

type viewField struct {
	name   string
	weight float64
	n      float64 // documents with at least one token in the field
	avgdl  float64
	k1, b  float64
	lucene bool
	tab    []float64 // norm by length, for lengths < len(tab)
}

// normOf is k1·(1 − b + b·dl/avgdl) for a document of l tokens (0 for an
// empty field, which has no postings).
func (f *viewField) normOf(l uint32) float64 {
	if l == 0 {
		return 0
	}
	dl := int64(l)
	if f.lucene {
		dl = luceneLength(dl)
	}
	return f.k1 * (1 - f.b + f.b*float64(dl)/f.avgdl)
}

// norm is normOf through the view's table.
func (f *viewField) norm(l uint32) float64 {
	if int(l) < len(f.tab) {
		return f.tab[l]
	}
	return f.normOf(l)
}

// unref drops one reference; the last closes the bleve snapshot.
func (v *view) unref() {
	if v.refs.Add(-1) == 0 {
		v.r.Close()
	}
}

// locate returns the segment data and local number of global document num;
// *hint is the index of the segment to try first (cursors move forward, so
// it is almost always right) and is updated.
func (v *view) locate(num uint64, hint *int) (*segData, uint64, bool) {
	i := *hint
	if i < 0 || i >= len(v.segs) || num < v.segs[i].base || num >= v.segs[i].end {
		lo, hi := 0, len(v.segs)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if v.segs[m].end <= num {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == len(v.segs) || num < v.segs[lo].base {
			return nil, 0, false
		}
		i = lo
		*hint = i
	}
	s := &v.segs[i]
	return s.d, num - s.base, true
}

// live returns the length of live document num in field f, or false when
// num is no live document of the view or has no token in f (a posting for
// it is then corrupt). It reads only the lengths: a document deleted when
// its segment was read has length 0 in every field, and a document with a
// posting in f has at least one token there. (Reading ids[loc] too cost a
// second cache miss per posting, a third of a long query's time at 1M
// documents.)
func (v *view) live(num uint64, f int, hint *int) (uint32, bool) {
	d, loc, ok := v.locate(num, hint)
	if !ok {
		return 0, false
	}
	ls := d.lens[f]
	if loc >= uint64(len(ls)) || ls[loc] == 0 {
		return 0, false
	}
	return ls[loc], true
}

// id returns the external id of global document num ("" if none).
func (v *view) id(num uint64) string {
	h := -1
	d, loc, ok := v.locate(num, &h)
	if !ok || loc >= uint64(len(d.ids)) {
		return ""
	}
	return d.ids[loc]
}

// segCache holds the data of the segments of the latest view built.
type segCache struct {
	mu   sync.Mutex
	segs map[uint64]*segData // by scorch segment id
	read int64               // documents read from bleve so far (tests)
}

func (c *segCache) clear() {
	c.mu.Lock()
	c.segs = nil
	c.mu.Unlock()
}

// makeView builds the view of reader r with metadata m, reading from
// bleve only the segments not in the cache (all of them when full). With
// full the view's counts and lengths are checked against m (O(N)); without
// it only the live document count is (O(segments)). It takes ownership of
// r on success.
func (ix *Index) makeView(r index.IndexReader, m *meta, full bool) (*view, error) {
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return nil, fmt.Errorf("bm25: bleve reader is a %T, want a scorch snapshot", r)
	}
	names := dlFieldNames(m)
	var dvr index.DocValueReader
	c := &ix.segs
	c.mu.Lock()
	defer c.mu.Unlock()
	if full {
		c.segs = nil
	}
	next := make(map[uint64]*segData, len(snap.Segments()))
	v := &view{r: r, params: m.Params, fields: make([]viewField, len(m.Fields))}
	var base uint64
	var live int64
	for _, ss := range snap.Segments() {
		n := ss.Segment().Count()
		d := c.segs[ss.Id()]
		if d == nil || d.count != n {
			if dvr == nil {
				var err error
				if dvr, err = r.DocValueReader(names); err != nil {
					return nil, err
				}
			}
			var del interface{ Contains(uint32) bool }
			if bm := ss.Deleted(); bm != nil {
				del = bm
			}
			var err error
			if d, err = readSegment(r, dvr, names, del, base, n); err != nil {
				return nil, err
			}
			c.read += int64(n)
		}
		next[ss.Id()] = d
		v.segs = append(v.segs, segRef{base: base, end: base + n, d: d})
		base += n
		live += int64(ss.Count())
	}
	c.segs = next
	v.size = base
	if live != m.Docs {
		return nil, fmt.Errorf("%w: %d documents stored, metadata says %d", ErrCorrupt, live, m.Docs)
	}
	if full {
		if err := checkLengths(snap, v, m); err != nil {
			return nil, err
		}
	}
	k1, b := m.Params.K1, m.Params.B
	for f, fm := range m.Fields {
		vf := viewField{name: fm.Name, weight: fm.Weight, n: float64(fm.Docs), k1: k1, b: b, lucene: m.LuceneNorms}
		if fm.Docs > 0 {
			vf.avgdl = float64(fm.SumDL) / float64(fm.Docs)
		}
		vf.tab = make([]float64, normTable)
		for l := range vf.tab {
			vf.tab[l] = vf.normOf(uint32(l))
		}
		v.fields[f] = vf
	}
	v.refs.Store(1)
	return v, nil
}

// readSegment reads the ids and lengths of the documents of one segment,
// whose documents are numbered from base in r, skipping the deleted ones.
func readSegment(r index.IndexReader, dvr index.DocValueReader, names []string, deleted interface{ Contains(uint32) bool }, base, n uint64) (*segData, error) {
	if n > math.MaxUint32 || base+n >= math.MaxUint32 {
		return nil, fmt.Errorf("bm25: document number %d out of range", base+n)
	}
	d := &segData{count: n, ids: make([]string, n), lens: make([][]uint32, len(names))}
	for f := range d.lens {
		d.lens[f] = make([]uint32, n)
	}
	var iid index.IndexInternalID
	for loc := uint64(0); loc < n; loc++ {
		if deleted != nil && deleted.Contains(uint32(loc)) {
			continue
		}
		iid = index.NewIndexInternalID(iid, base+loc)
		ext, err := r.ExternalID(iid)
		if err != nil {
			return nil, err
		}
		if ext == "" {
			return nil, fmt.Errorf("%w: document %d has no id", ErrCorrupt, base+loc)
		}
		ls, err := readLens(dvr, iid, names)
		if err != nil {
			return nil, fmt.Errorf("document %q: %w", ext, err)
		}
		d.ids[loc] = ext
		for f, l := range ls {
			if l > math.MaxUint32 {
				return nil, fmt.Errorf("%w: document %q has length %d", ErrCorrupt, ext, l)
			}
			d.lens[f][loc] = uint32(l)
		}
	}
	return d, nil
}

// checkLengths checks the live documents' lengths against m's statistics.
func checkLengths(snap *scorch.IndexSnapshot, v *view, m *meta) error {
	docs := make([]int64, len(m.Fields))
	sums := make([]int64, len(m.Fields))
	for i, ss := range snap.Segments() {
		d := v.segs[i].d
		del := ss.Deleted()
		for loc := range d.ids {
			if del != nil && del.Contains(uint32(loc)) {
				continue
			}
			if d.ids[loc] == "" {
				return fmt.Errorf("%w: live document %d was read as deleted", ErrCorrupt, v.segs[i].base+uint64(loc))
			}
			for f := range m.Fields {
				if l := d.lens[f][loc]; l > 0 {
					docs[f]++
					sums[f] += int64(l)
				}
			}
		}
	}
	for f, fm := range m.Fields {
		if docs[f] != fm.Docs || sums[f] != fm.SumDL {
			return fmt.Errorf("%w: field %s has %d documents of total length %d, metadata says %d and %d",
				ErrCorrupt, fm.Name, docs[f], sums[f], fm.Docs, fm.SumDL)
		}
	}
	return nil
}
