package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/index/docstore"
)

// The parts a Composite is built from. They are small on purpose: the BM25
// index, the vector index and the encoder of the project each need only a
// thin adapter. None has to be safe for concurrent use beyond what is stated:
// Composite calls reads (Search, Get, Len) under a shared lock and writes
// under an exclusive one, except TextIndex.Index and Delete, which run while
// searches go on (see TextIndex).

// DocStore holds the documents; it is the write-ahead record of the index,
// so Put and Delete must be durable when they return (a *docstore.Store
// satisfies it).
type DocStore interface {
	Get(id string) (document.Doc, bool)
	Put(docs []document.Doc) error
	Delete(ids []string) (int, error)
	Len() int
}

var _ DocStore = (*docstore.Store)(nil)

// TextIndex is a lexical (BM25) index; *bm25.Index needs an adapter that
// converts hits and documents (SearchBatch, Add, Delete, Stats().Docs).
// Search must be safe while Index or Delete runs (a write persists outside
// the readers' lock, so that it does not stall searches): it answers from
// the state before or after the write.
type TextIndex interface {
	// Search returns the top-k hits of each query (any order), from one
	// snapshot of the index.
	Search(ctx context.Context, queries []string, k int) ([][]fusion.Hit, error)
	// Index adds or replaces documents (ids distinct within the call).
	Index(docs []document.Doc) error
	// Delete removes documents; ids it does not hold are ignored.
	Delete(ids []string) error
	// Len returns the number of indexed documents.
	Len() int
}

// Encoder embeds texts (*encoder.Encoder satisfies it).
type Encoder interface {
	// Encode returns len(texts) vectors of Dim() floats, flat, row i for
	// texts[i].
	Encode(ctx context.Context, texts []string) ([]float32, error)
	Dim() int
}

// PromptEncoder is an Encoder that embeds queries and documents each in
// its own way (with the model's query or document prompt; EncoderPool).
// Composite finds it by type assertion and then embeds search queries with
// EncodeQueries and new documents with EncodeDocs instead of Encode.
type PromptEncoder interface {
	EncodeQueries(ctx context.Context, texts []string) ([]float32, error)
	EncodeDocs(ctx context.Context, texts []string) ([]float32, error)
}

// VectorIndex is an inner-product index of document vectors, with the
// method set of vector.Index except Search, whose results an adapter
// converts to fusion hits.
type VectorIndex interface {
	// Add stores len(ids) vectors (flat, row-major) under ids, none of
	// which the index holds (Composite removes replaced ids first).
	Add(ids []string, vectors []float32) error
	// Remove removes ids and returns how many it held; unknown ids are
	// ignored.
	Remove(ids []string) (int, error)
	// Search returns the top-k hits of each of the len(queries)/Dim()
	// query vectors (any order).
	Search(queries []float32, k int) ([][]fusion.Hit, error)
	// Len returns the number of vectors.
	Len() int
}

// Parts configure a Composite. Docs is required; BM25 may be nil (no BM25
// mode), and Encoder and Vectors are both set or both nil (no dense mode).
type Parts struct {
	Docs    DocStore
	BM25    TextIndex
	Encoder Encoder
	Vectors VectorIndex
	// Passage returns the text a document is embedded from; default
	// document.Doc.Passage (title + " " + text, or the text alone without a
	// title).
	Passage func(document.Doc) string
	// DiskBytes reports the size of the index folder for /metrics; optional.
	DiskBytes func() int64
	// Flush persists the indexes (for instance saves the vector index and
	// records the store's Seq beside it); optional. It runs with writes
	// blocked.
	Flush func(ctx context.Context) error
	// Close releases the parts; optional. It runs after Flush, with every
	// request finished.
	Close func() error
	// Fault, when set, is called at each step of the write path (see
	// FaultHook); for fault-injection tests.
	Fault FaultHook
	// Writable, when set, is called before each write; an error refuses
	// the write before anything is written (Collection: the folder must be
	// the one it opened, see ErrMoved).
	Writable func() error
}

// Composite is a Backend made of a document store, a BM25 index and an
// encoder with a vector index.
//
// Locking: writes are serialised among themselves; Retrieve and Doc never
// wait for a write's fsyncs or persistence. A write syncs the document log
// without the readers' lock, hides its ids from searches while BM25 (which
// keeps serving its previous view) persists the change, and takes the
// readers' lock only to update the in-memory vectors and unhide the ids, so
// a search sees a write's documents in every index or in none. Embedding
// (of queries and of new documents) runs outside every lock, so a slow
// encoder does not block other requests.
//
// Writes go to the store first: once Put returned, the documents are
// durable. An index step that fails is caught up from the log (see
// catchUpLocked and ErrDeferred), and a crash before the indexes were
// updated is caught up at the next open (see package docstore: Seq, Since).
type Composite struct {
	p      Parts
	wmu    sync.Mutex   // serialises writes (PutDocs, DeleteDoc, Flush, Close)
	mu     sync.RWMutex // readers share it; writers take it only to switch what readers see
	closed atomic.Bool
	// pending are ids whose index state awaits a catch-up from the log,
	// with their vector when known (changed under wmu and mu); inflight
	// are the ids being written, an immutable set replaced under wmu
	// (stored before BM25 switches its view, so a search that sees the
	// new view sees the set too). Both are hidden from searches.
	pending  map[string][]float32
	inflight atomic.Pointer[map[string]struct{}]
	// queue holds the PutDocs calls waiting for a group commit (see
	// groupPut); groups counts the groups written.
	qmu    sync.Mutex
	queue  []*putReq
	groups atomic.Int64
	// writeShare (float64 bits; 0: unpaced) and lastSearch (Unix
	// nanoseconds) pace writes while searches run (see pacing.go).
	writeShare atomic.Uint64
	lastSearch atomic.Int64
}

// NewComposite returns a Composite over p.
func NewComposite(p Parts) (*Composite, error) {
	if p.Docs == nil {
		return nil, errors.New("api: composite needs a document store")
	}
	if (p.Encoder == nil) != (p.Vectors == nil) {
		return nil, errors.New("api: composite needs both an encoder and a vector index, or neither")
	}
	if p.Passage == nil {
		p.Passage = document.Doc.Passage
	}
	return &Composite{p: p}, nil
}

// Retrieve implements Backend.
func (c *Composite) Retrieve(ctx context.Context, req Retrieval) (Retrieved, error) {
	c.noteSearch()
	if req.BM25 && c.p.BM25 == nil {
		return Retrieved{}, fmt.Errorf("bm25 search: %w (index built without BM25)", ErrUnavailable)
	}
	if req.Dense && c.p.Vectors == nil {
		return Retrieved{}, fmt.Errorf("dense search: %w (index built without vectors)", ErrUnavailable)
	}
	var qv []float32
	if req.Dense {
		var err error
		if qv, err = c.encode(ctx, req.Queries, true); err != nil {
			return Retrieved{}, fmt.Errorf("encoding queries: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return Retrieved{}, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out Retrieved
	if req.BM25 {
		hits, err := c.p.BM25.Search(ctx, req.Queries, req.K)
		if err != nil {
			return Retrieved{}, fmt.Errorf("bm25 search: %w", err)
		}
		if len(hits) != len(req.Queries) {
			return Retrieved{}, fmt.Errorf("bm25 index returned %d lists for %d queries", len(hits), len(req.Queries))
		}
		c.hidePending(hits)
		out.BM25 = hits
	}
	if req.Dense {
		hits, err := c.p.Vectors.Search(qv, req.K)
		if err != nil {
			return Retrieved{}, fmt.Errorf("dense search: %w", err)
		}
		if len(hits) != len(req.Queries) {
			return Retrieved{}, fmt.Errorf("vector index returned %d lists for %d queries", len(hits), len(req.Queries))
		}
		c.hidePending(hits)
		out.Dense = hits
	}
	return out, nil
}

// encode embeds queries or documents (with their prompts when the
// encoder is a PromptEncoder) and checks the shape of the answer.
func (c *Composite) encode(ctx context.Context, texts []string, queries bool) ([]float32, error) {
	var v []float32
	var err error
	switch pe, ok := c.p.Encoder.(PromptEncoder); {
	case ok && queries:
		v, err = pe.EncodeQueries(ctx, texts)
	case ok:
		v, err = pe.EncodeDocs(ctx, texts)
	default:
		v, err = c.p.Encoder.Encode(ctx, texts)
	}
	if err != nil {
		return nil, err
	}
	if d := c.p.Encoder.Dim(); d <= 0 || len(v) != len(texts)*d {
		return nil, fmt.Errorf("encoder returned %d floats for %d texts of dimension %d", len(v), len(texts), d)
	}
	return v, nil
}

// Doc implements Backend.
func (c *Composite) Doc(ctx context.Context, id string) (document.Doc, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.p.Docs.Get(id)
	if !ok {
		return document.Doc{}, fmt.Errorf("document %q: %w", id, ErrNotFound)
	}
	return d, nil
}

// PutDocs implements Backend: embed (outside every lock), then the
// document log, BM25 and the vectors (see Composite and catchUpLocked).
func (c *Composite) PutDocs(ctx context.Context, docs []document.Doc) error {
	var vecs []float32
	if c.p.Encoder != nil {
		texts := make([]string, len(docs))
		for i, d := range docs {
			texts[i] = c.p.Passage(d)
		}
		var err error
		if vecs, err = c.encode(ctx, texts, false); err != nil {
			return fmt.Errorf("encoding documents: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// A request the log would refuse must not fail the others of its group.
	for i, d := range docs {
		if d.ID == "" {
			return fmt.Errorf("storing documents: %w (doc %d of the batch)", docstore.ErrEmptyID, i)
		}
	}
	if len(docs) == 0 {
		return nil
	}
	return c.groupPut(ctx, &putReq{ctx: ctx, docs: docs, vecs: vecs, done: make(chan error, 1)})
}

// putDocsLocked writes docs (with their vectors) to the log and the
// indexes as one operation. The caller holds c.wmu.
func (c *Composite) putDocsLocked(ctx context.Context, docs []document.Doc, vecs []float32) error {
	if err := c.writable(); err != nil {
		return err
	}
	c.retryPending(ctx)
	if err := c.step(StepPutLog, func() error { return c.p.Docs.Put(docs) }); err != nil {
		return fmt.Errorf("storing documents: %w", err)
	}
	// From here the documents are durable; the indexes follow.
	docs, vecs = lastOfEachID(docs, vecs, c.dim())
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return c.apply(ctx, ids, func() error {
		if c.p.BM25 == nil {
			return nil
		}
		return c.step(StepPutBM25, func() error { return c.p.BM25.Index(docs) })
	}, func() error {
		if c.p.Vectors == nil {
			return nil
		}
		if err := c.step(StepPutVecRemove, func() error { _, err := c.p.Vectors.Remove(ids); return err }); err != nil {
			return err
		}
		return c.step(StepPutVecAdd, func() error { return c.p.Vectors.Add(ids, vecs) })
	}, vecs)
}

// apply runs a logged write's index steps: ids are hidden while BM25
// persists (outside the readers' lock), then the vectors change and the
// ids reappear under it (without vectors they reappear at once, and the
// write takes no lock a search holds). A failed step marks the ids pending and catches
// them up from the log at once; when that fails too the error wraps
// ErrDeferred. The caller holds c.wmu.
func (c *Composite) apply(ctx context.Context, ids []string, bm, vec func() error, vecs []float32) error {
	set := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	c.inflight.Store(&set)
	err := bm()
	if err == nil && c.p.Vectors == nil {
		// Nothing else to switch: unhiding takes no lock, so a BM25-only
		// write never waits for running searches nor blocks new ones.
		c.inflight.Store(nil)
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight.Store(nil)
	if err == nil {
		err = vec()
	}
	if err == nil {
		return nil
	}
	c.markPending(ids, vecs)
	if cerr := c.catchUpLocked(ctx); cerr != nil {
		return fmt.Errorf("%w: %w (then %w)", ErrDeferred, err, cerr)
	}
	return nil
}

// writable runs Parts.Writable.
func (c *Composite) writable() error {
	if c.p.Writable == nil {
		return nil
	}
	if err := c.p.Writable(); err != nil {
		return fmt.Errorf("refusing the write: %w", err)
	}
	return nil
}

// retryPending catches pending ids up before a write; a failure leaves them
// pending (the write itself goes ahead). The caller holds c.wmu.
func (c *Composite) retryPending(ctx context.Context) error {
	if len(c.pending) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.catchUpLocked(ctx)
}

// DeleteDoc implements Backend.
func (c *Composite) DeleteDoc(ctx context.Context, id string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	c.retryPending(ctx)
	var n int
	if err := c.step(StepDeleteLog, func() error {
		var err error
		n, err = c.p.Docs.Delete([]string{id})
		return err
	}); err != nil {
		return fmt.Errorf("deleting document: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("document %q: %w", id, ErrNotFound)
	}
	ids := []string{id}
	return c.apply(ctx, ids, func() error {
		if c.p.BM25 == nil {
			return nil
		}
		return c.step(StepDeleteBM25, func() error { return c.p.BM25.Delete(ids) })
	}, func() error {
		if c.p.Vectors == nil {
			return nil
		}
		return c.step(StepDeleteVectors, func() error { _, err := c.p.Vectors.Remove(ids); return err })
	}, nil)
}

// Stats implements Backend.
func (c *Composite) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := Stats{Documents: int64(c.p.Docs.Len())}
	if c.p.BM25 != nil {
		st.BM25Documents = int64(c.p.BM25.Len())
	}
	if c.p.Vectors != nil {
		st.Vectors = int64(c.p.Vectors.Len())
	}
	if c.p.DiskBytes != nil {
		st.DiskBytes = c.p.DiskBytes()
	}
	return st
}

// Ready implements Backend: a Composite is ready from construction until
// Close.
func (c *Composite) Ready() bool { return !c.closed.Load() }

// Flush implements Flusher by calling Parts.Flush with writes blocked
// (searches go on). It first catches pending ids up, and refuses to flush
// while any remain, so that a flush records only indexes that agree with
// the log.
func (c *Composite) Flush(ctx context.Context) error {
	if c.p.Flush == nil {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.retryPending(ctx); err != nil {
		return fmt.Errorf("flush: %w: %w", ErrDeferred, err)
	}
	return guarded(func() error { return c.p.Flush(ctx) })
}

// Close implements Backend by calling Parts.Close once.
func (c *Composite) Close() error {
	if c.closed.Swap(true) || c.p.Close == nil {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.p.Close()
}
