// Package bm25 is a BM25 index on disk. bleve (scorch) holds the analysed
// text: an English analyzer as Lucene's EnglishAnalyzer (Unicode word
// tokenizer, possessive filter, lowercase, Lucene's 33 English stop words,
// Porter stemmer), postings with term frequencies, persistence and batch
// indexing. Scoring does not use bleve's scorer: it is Lucene's BM25,
//
//	score(q, d) = Σ_{t ∈ q} idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl))
//	idf(t)      = ln(1 + (N − df + 0.5) / (df + 0.5))
//
// computed in float64 from the postings read through bleve's index reader,
// with exact token-count document lengths (stored per document by this
// package, not bleve's lossy norm) and the exact average length. As in
// Lucene, N and avgdl count the documents with at least one token in the
// field, and a query term repeated in the query counts once per
// occurrence. k1 and b are stored with each index (defaults 0.9 and 0.4,
// Pyserini's). An index is "flat" (title + " " + text in one field, as
// Pyserini's BEIR flat runs) or "multifield" (title and text in separate
// fields, scores summed). With Options.LuceneNorms the lengths are rounded
// as Lucene's one-byte norms, which reproduces Pyserini's published runs.
package bm25

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/porter"
	"github.com/blevesearch/bleve/v2/analysis/token/stop"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/analysis/tokenmap"
	bdoc "github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/internal/parallel"
	"github.com/contriever-go/contriever/internal/progress"
)

// Params are the BM25 parameters of an index.
type Params struct {
	K1 float64 `json:"k1"`
	B  float64 `json:"b"`
}

// DefaultParams are Pyserini's BEIR settings: k1 = 0.9, b = 0.4.
func DefaultParams() Params { return Params{K1: 0.9, B: 0.4} }

func (p Params) validate() error {
	if !(p.K1 >= 0) || math.IsInf(p.K1, 0) {
		return fmt.Errorf("bm25: k1 = %v, want a finite value >= 0", p.K1)
	}
	if !(p.B >= 0 && p.B <= 1) {
		return fmt.Errorf("bm25: b = %v, want a value in [0, 1]", p.B)
	}
	return nil
}

// Options configure a new index.
type Options struct {
	// Params are k1 and b; the zero value means DefaultParams.
	Params Params
	// Multifield indexes the title and the text in two fields ("title" and
	// "contents") and sums their BM25 scores, as Pyserini's multifield
	// runs; otherwise one field "contents" holds Doc.Passage() ("flat").
	Multifield bool
	// LuceneNorms scores with the document lengths Lucene sees: each
	// length rounded down to one byte (SmallFloat.intToByte4, exact below
	// 24, then 4 significant bits), as Pyserini's published runs do. The
	// default uses exact lengths. avgdl is exact either way.
	LuceneNorms bool
	// BatchSize is the number of documents per bleve batch in Build; 0
	// means 1000.
	BatchSize int
	// Quiet silences Build's progress bar; Total, when > 0, is the number
	// of documents Build will see, for its ETA.
	Quiet bool
	Total int
}

// Errors callers may test with errors.Is.
var (
	// ErrCorrupt: the index's metadata is missing, fails its checksum or
	// disagrees with the documents it describes.
	ErrCorrupt = errors.New("bm25: corrupt index")
	// ErrClosed: the index was closed.
	ErrClosed = errors.New("bm25: index closed")
	// ErrDuplicate: a document id repeated within one Add call.
	ErrDuplicate = errors.New("bm25: duplicate document id")
	// ErrIncomplete: Open of an index whose Build did not finish.
	ErrIncomplete = errors.New("bm25: index build did not finish")
)

const (
	metaKey       = "contriever.bm25.meta"
	formatVersion = 1
	analyzerName  = "lucene_en"
	stopMapName   = "lucene_en_stop_words"
	stopName      = "lucene_en_stop"
	dlPrefix      = "bm25dl_" // keyword field holding a field's exact length
)

// luceneStopWords is Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, the
// list Pyserini's default English analyzer uses.
var luceneStopWords = []string{
	"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in",
	"into", "is", "it", "no", "not", "of", "on", "or", "such", "that", "the",
	"their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
}

// fieldMeta are the persisted statistics of one field.
type fieldMeta struct {
	Name   string  `json:"name"`
	Weight float64 `json:"weight"`
	// Docs is the number of documents with at least one token in the
	// field (Lucene's docCount); SumDL the sum of their lengths.
	Docs  int64 `json:"docs"`
	SumDL int64 `json:"sum_dl"`
}

type meta struct {
	Version  int    `json:"version"`
	Params   Params `json:"params"`
	Analyzer string `json:"analyzer"`
	Docs     int64  `json:"docs"` // live documents
	// LuceneNorms: score with Lucene's one-byte lengths (Options).
	LuceneNorms bool `json:"lucene_norms,omitempty"`
	// Incomplete is set while Build runs and cleared when it succeeds.
	Incomplete bool        `json:"incomplete,omitempty"`
	Fields     []fieldMeta `json:"fields"`
}

func (m *meta) encode() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // plain struct: cannot fail
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func decodeMeta(v []byte) (*meta, error) {
	if len(v) < 5 {
		return nil, fmt.Errorf("%w: metadata missing", ErrCorrupt)
	}
	body, sum := v[:len(v)-4], binary.BigEndian.Uint32(v[len(v)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, fmt.Errorf("%w: metadata checksum mismatch", ErrCorrupt)
	}
	var m meta
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	if m.Version != formatVersion {
		return nil, fmt.Errorf("bm25: index format version %d, this build reads %d", m.Version, formatVersion)
	}
	if len(m.Fields) == 0 || m.Analyzer != analyzerName {
		return nil, fmt.Errorf("%w: metadata lists no fields or an unknown analyzer %q", ErrCorrupt, m.Analyzer)
	}
	return &m, m.Params.validate()
}

// Index is a BM25 index in a folder. Searches run concurrently with each
// other and with Add and Delete: a search uses the view of the index it
// started on, and a write switches to its new view (updated incrementally,
// see view.go) without waiting for running searches. SetParams,
// SetLuceneNorms, Close and the repair after a failed write wait for
// running searches and block new ones while they work.
type Index struct {
	dir      string
	bi       bleve.Index
	analyzer analysis.Analyzer
	keyword  analysis.Analyzer

	// wmu serialises writers (Add, Delete, SetParams, Resync, Close).
	// Searches hold mu shared for their duration; only what closes or
	// reopens bleve or changes the parameters (Close, SetParams, the
	// repair after a failed write) takes it exclusively: a successful
	// write does not, it swaps meta and view under viewMu.
	wmu    sync.Mutex
	mu     sync.RWMutex
	meta   *meta // replaced under wmu and viewMu
	closed bool  // set under wmu and mu

	viewMu sync.Mutex // guards meta, view and the views' reference counts
	view   *view      // nil when stale (the next search builds it)
	segs   segCache   // per-segment data of the latest view (view.go)

	exhaustive atomic.Bool // score every posting instead of MaxScore pruning (SetExhaustive)
	fault      FaultHook   // fault injection (tests); nil: none
}

func newMapping() *mapping.IndexMappingImpl {
	im := bleve.NewIndexMapping()
	toks := make([]any, len(luceneStopWords))
	for i, w := range luceneStopWords {
		toks[i] = w
	}
	must(im.AddCustomTokenMap(stopMapName, map[string]any{"type": tokenmap.Name, "tokens": toks}))
	must(im.AddCustomTokenFilter(stopName, map[string]any{"type": stop.Name, "stop_token_map": stopMapName}))
	must(im.AddCustomAnalyzer(analyzerName, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []any{en.PossessiveName, lowercase.Name, stopName, porter.Name},
	}))
	im.DefaultAnalyzer = analyzerName
	im.DefaultMapping.Dynamic = false
	im.IndexDynamic = false
	im.StoreDynamic = false
	im.DocValuesDynamic = false
	return im
}

func must(err error) {
	if err != nil {
		panic(err) // fixed configuration: cannot fail
	}
}

// Create makes a new, empty index in dir, which must not exist or be
// empty.
func Create(dir string, opt Options) (*Index, error) {
	return create(dir, opt, false)
}

func create(dir string, opt Options, incomplete bool) (*Index, error) {
	p := opt.Params
	if p == (Params{}) {
		p = DefaultParams()
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("bm25: %s exists and is not empty", dir)
	} else if err == nil {
		if err := os.Remove(dir); err != nil {
			return nil, err
		}
	}
	bi, err := bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, mergeConfig())
	if err != nil {
		return nil, fmt.Errorf("bm25: create %s: %w", dir, err)
	}
	m := &meta{Version: formatVersion, Params: p, Analyzer: analyzerName, LuceneNorms: opt.LuceneNorms, Incomplete: incomplete}
	if opt.Multifield {
		m.Fields = []fieldMeta{{Name: "title", Weight: 1}, {Name: "contents", Weight: 1}}
	} else {
		m.Fields = []fieldMeta{{Name: "contents", Weight: 1}}
	}
	if err := bi.SetInternal([]byte(metaKey), m.encode()); err != nil {
		bi.Close()
		return nil, fmt.Errorf("bm25: create %s: %w", dir, err)
	}
	return newIndex(dir, bi, m)
}

// maxSegmentDocs caps the documents of a segment that bleve's merger
// produces (its MaxSegmentSize; segments of half of it or more are merged
// no further), stored in the index's bleve configuration at creation. With
// bleve's default (5M) a 1M-document index ends as one segment of ~920k,
// and a query split over the cores (prune.go) cannot start a range inside
// it without walking every posting below the range's start: bleve's
// Advance skips whole segments but reads a segment's postings one by one.
// Capped, a large index keeps segments of 64k–128k documents and the
// ranges start at segment boundaries, as Lucene's concurrent search slices
// a reader by segments. More segments cost a term dictionary lookup each
// per query term: ~10 at 1M documents, ~100 at 10M.
var maxSegmentDocs int64 = 1 << 17 // a variable so that tests can cap small indexes

// mergeConfig is the bleve configuration that applies maxSegmentDocs:
// stored with a new index, and given again at Open so that an index
// created before the cap merges no further than it from then on (the
// segments it already has stay as they are).
func mergeConfig() map[string]interface{} {
	return map[string]interface{}{"scorchMergePlanOptions": map[string]interface{}{"MaxSegmentSize": maxSegmentDocs}}
}

// Open opens an existing index. Its metadata is checked (checksum, and
// against the stored document lengths on first search).
func Open(dir string) (*Index, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("bm25: open: %w", err)
	}
	bi, err := bleve.OpenUsing(dir, mergeConfig())
	if err != nil {
		return nil, fmt.Errorf("bm25: open %s: %w", dir, err)
	}
	v, err := bi.GetInternal([]byte(metaKey))
	if err != nil {
		bi.Close()
		return nil, fmt.Errorf("bm25: open %s: %w", dir, err)
	}
	m, err := decodeMeta(v)
	if err != nil {
		bi.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if m.Incomplete {
		bi.Close()
		return nil, fmt.Errorf("%s: %w (remove the folder and build again)", dir, ErrIncomplete)
	}
	return newIndex(dir, bi, m)
}

func newIndex(dir string, bi bleve.Index, m *meta) (*Index, error) {
	an := bi.Mapping().AnalyzerNamed(analyzerName)
	kw := bi.Mapping().AnalyzerNamed(keyword.Name)
	if an == nil || kw == nil {
		bi.Close()
		return nil, fmt.Errorf("%w: %s: analyzer %q not in the index mapping", ErrCorrupt, dir, analyzerName)
	}
	return &Index{dir: dir, bi: bi, analyzer: an, keyword: kw, meta: m}, nil
}

// Build creates an index in dir and adds every document that each yields,
// in batches, showing progress on stderr unless opt.Quiet. A repeated id
// is an error (ErrDuplicate). It stops with ctx's error when ctx is
// cancelled. An index whose Build failed is marked incomplete and Open
// refuses it (ErrIncomplete).
func Build(ctx context.Context, dir string, each func(fn func(document.Doc) error) error, opt Options) (*Index, error) {
	ix, err := create(dir, opt, true)
	if err != nil {
		return nil, err
	}
	bs := opt.BatchSize
	if bs <= 0 {
		bs = 1000
	}
	bar := progress.New("bm25 indexing", int64(opt.Total), "docs", opt.Quiet)
	batch := make([]document.Doc, 0, bs)
	seen := make(map[string]struct{})
	flush := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, d := range batch {
			if _, dup := seen[d.ID]; dup {
				return fmt.Errorf("%w %q", ErrDuplicate, d.ID)
			}
			seen[d.ID] = struct{}{}
		}
		if err := ix.add(batch, false); err != nil {
			return err
		}
		bar.Add(int64(len(batch)))
		batch = batch[:0]
		return nil
	}
	err = each(func(d document.Doc) error {
		batch = append(batch, d)
		if len(batch) == bs {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err == nil {
		err = ix.updateMeta(func(m *meta) { m.Incomplete = false })
	}
	bar.Finish()
	if err != nil {
		ix.Close()
		return nil, err
	}
	return ix, nil
}

// Len returns the number of documents in the index.
func (ix *Index) Len() int {
	ix.viewMu.Lock()
	defer ix.viewMu.Unlock()
	return int(ix.meta.Docs)
}

// Dir returns the index folder.
func (ix *Index) Dir() string { return ix.dir }

// Params returns the index's k1 and b.
func (ix *Index) Params() Params {
	ix.viewMu.Lock()
	defer ix.viewMu.Unlock()
	return ix.meta.Params
}

// SetParams changes and persists the index's k1 and b.
func (ix *Index) SetParams(p Params) error {
	if err := p.validate(); err != nil {
		return err
	}
	return ix.updateMeta(func(m *meta) { m.Params = p })
}

// SetLuceneNorms switches scoring between exact lengths and Lucene's
// one-byte lengths (see Options.LuceneNorms), and persists the choice.
func (ix *Index) SetLuceneNorms(on bool) error {
	return ix.updateMeta(func(m *meta) { m.LuceneNorms = on })
}

func (ix *Index) updateMeta(change func(*meta)) error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	m := *ix.meta
	m.Fields = slices.Clone(ix.meta.Fields)
	change(&m)
	if err := ix.bi.SetInternal([]byte(metaKey), m.encode()); err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	ix.setMeta(&m)
	ix.dropView()
	return nil
}

// setMeta replaces the metadata; the caller holds wmu.
func (ix *Index) setMeta(m *meta) {
	ix.viewMu.Lock()
	ix.meta = m
	ix.viewMu.Unlock()
}

// FieldStats describe one indexed field.
type FieldStats struct {
	Name   string
	Weight float64
	Docs   int64   // documents with at least one token in the field
	AvgDL  float64 // their mean length in tokens
}

// Stats describe an index.
type Stats struct {
	Params      Params
	LuceneNorms bool  // lengths rounded as Lucene's one-byte norms
	Docs        int64 // live documents
	Fields      []FieldStats
}

// Stats returns the index's parameters and collection statistics.
func (ix *Index) Stats() Stats {
	ix.viewMu.Lock()
	defer ix.viewMu.Unlock()
	s := Stats{Params: ix.meta.Params, LuceneNorms: ix.meta.LuceneNorms, Docs: ix.meta.Docs}
	for _, f := range ix.meta.Fields {
		fs := FieldStats{Name: f.Name, Weight: f.Weight, Docs: f.Docs}
		if f.Docs > 0 {
			fs.AvgDL = float64(f.SumDL) / float64(f.Docs)
		}
		s.Fields = append(s.Fields, fs)
	}
	return s
}

// Close releases the index. Searches must have returned.
func (ix *Index) Close() error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	ix.dropView()
	return ix.bi.Close()
}

// dropView releases the current view (its bleve snapshot closes at once:
// the caller holds mu for writing, so no search holds it).
func (ix *Index) dropView() {
	ix.viewMu.Lock()
	old := ix.view
	ix.view = nil
	ix.viewMu.Unlock()
	if old != nil {
		old.unref()
	}
}

// fieldValues returns the text of each indexed field of d.
func (m *meta) fieldValues(d document.Doc) []string {
	if len(m.Fields) == 2 {
		return []string{d.Title, d.Text}
	}
	return []string{d.Passage()}
}

// Tokens returns the analysed terms of text, in order: what the index
// stores and what a query is turned into.
func (ix *Index) Tokens(text string) []string {
	ts := ix.analyzer.Analyze([]byte(text))
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t.Term)
	}
	return out
}

// Add indexes docs, replacing any document with the same id, and updates
// the collection statistics in the same atomic bleve batch. Ids must be
// unique within one call.
func (ix *Index) Add(docs []document.Doc) error {
	return ix.add(docs, true)
}

// add indexes docs; lookup says whether some may already be in the index
// (Build knows they are not).
func (ix *Index) add(docs []document.Doc, lookup bool) error {
	if len(docs) == 0 {
		return nil
	}
	seen := make(map[string]struct{}, len(docs))
	for _, d := range docs {
		if d.ID == "" {
			return errors.New("bm25: empty document id")
		}
		if _, dup := seen[d.ID]; dup {
			return fmt.Errorf("%w %q", ErrDuplicate, d.ID)
		}
		seen[d.ID] = struct{}{}
	}
	// Only writers are excluded: searches go on with the current view
	// while the batch is analysed and persisted (see commit).
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	m := *ix.meta
	m.Fields = slices.Clone(ix.meta.Fields)
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	if lookup {
		if err := ix.subtractExisting(&m, ids); err != nil {
			return err
		}
	}
	// Analyse every text field once, in parallel, to learn its exact
	// length; bleve reuses the analysis (preAnalyzed).
	fields := make([][]*preAnalyzed, len(docs))
	parallel.Items(len(docs), 0, func(_, i int) {
		vals := m.fieldValues(docs[i])
		fs := make([]*preAnalyzed, len(vals))
		for f, v := range vals {
			fs[f] = &preAnalyzed{TextField: bdoc.NewTextFieldCustom(m.Fields[f].Name, nil, []byte(v), index.IndexField, ix.analyzer)}
			fs[f].Analyze()
		}
		fields[i] = fs
	})
	b := ix.bi.NewBatch()
	for i, d := range docs {
		doc := bdoc.NewDocument(d.ID)
		for f, tf := range fields[i] {
			l := tf.AnalyzedLength()
			doc.AddField(tf)
			doc.AddField(bdoc.NewTextFieldCustom(dlPrefix+m.Fields[f].Name, nil,
				strconv.AppendInt(nil, int64(l), 10), index.IndexField|index.DocValues, ix.keyword))
			if l > 0 {
				m.Fields[f].Docs++
				m.Fields[f].SumDL += int64(l)
			}
		}
		m.Docs++
		if err := b.IndexAdvanced(doc); err != nil {
			return fmt.Errorf("bm25: add %q: %w", d.ID, err)
		}
	}
	b.SetInternal([]byte(metaKey), m.encode())
	if err := ix.commit(func() error { return ix.bi.Batch(b) }, &m, lookup); err != nil {
		return fmt.Errorf("bm25: add: %w", err)
	}
	return nil
}

// Delete removes the documents with the given ids; unknown ids are
// ignored.
func (ix *Index) Delete(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	m := *ix.meta
	m.Fields = slices.Clone(ix.meta.Fields)
	if err := ix.subtractExisting(&m, ids); err != nil {
		return err
	}
	b := ix.bi.NewBatch()
	for _, id := range ids {
		b.Delete(id)
	}
	b.SetInternal([]byte(metaKey), m.encode())
	if err := ix.commit(func() error { return ix.bi.Batch(b) }, &m, true); err != nil {
		return fmt.Errorf("bm25: delete: %w", err)
	}
	return nil
}

// subtractExisting removes from m the statistics of those ids that are in
// the index. The caller holds wmu.
func (ix *Index) subtractExisting(m *meta, ids []string) error {
	if m.Docs == 0 {
		return nil
	}
	adv, err := ix.bi.Advanced()
	if err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	defer r.Close()
	names := dlFieldNames(m)
	dvr, err := r.DocValueReader(names)
	if err != nil {
		return fmt.Errorf("bm25: %w", err)
	}
	for _, id := range ids {
		iid, err := r.InternalID(id)
		if err != nil {
			return fmt.Errorf("bm25: %w", err)
		}
		if iid == nil {
			continue
		}
		lens, err := readLens(dvr, iid, names)
		if err != nil {
			return err
		}
		m.Docs--
		for f, l := range lens {
			if l > 0 {
				m.Fields[f].Docs--
				m.Fields[f].SumDL -= l
			}
		}
	}
	return nil
}

func dlFieldNames(m *meta) []string {
	names := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		names[i] = dlPrefix + f.Name
	}
	return names
}

// readLens reads the stored exact lengths of one document.
func readLens(dvr index.DocValueReader, id index.IndexInternalID, names []string) ([]int64, error) {
	lens := make([]int64, len(names))
	found := make([]bool, len(names))
	var perr error
	err := dvr.VisitDocValues(id, func(field string, term []byte) {
		for f, n := range names {
			if field == n {
				v, err := strconv.ParseInt(string(term), 10, 64)
				if err != nil || v < 0 {
					perr = fmt.Errorf("%w: bad stored length %q", ErrCorrupt, term)
				}
				lens[f] = v
				found[f] = true
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bm25: %w", err)
	}
	if perr != nil {
		return nil, perr
	}
	for f, ok := range found {
		if !ok {
			return nil, fmt.Errorf("%w: document without stored length for %s", ErrCorrupt, names[f])
		}
	}
	return lens, nil
}

// preAnalyzed is a text field analysed once: Add analyses it to count its
// tokens, and bleve's own call to Analyze then reuses the result.
type preAnalyzed struct {
	*bdoc.TextField
	done bool
}

// Analyze analyses the field the first time it is called.
func (f *preAnalyzed) Analyze() {
	if !f.done {
		f.done = true
		f.TextField.Analyze()
	}
}
