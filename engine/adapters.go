package engine

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/index/vector"
)

// bm25Adapter makes a *bm25.Index a TextIndex. slots, when not nil,
// bounds the searches running at once (see OpenOptions.SearchSlots).
type bm25Adapter struct {
	ix    *bm25.Index
	slots chan struct{}
}

func (a bm25Adapter) Search(ctx context.Context, queries []string, k int) ([][]fusion.Hit, error) {
	if a.slots != nil {
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	res, err := a.ix.SearchBatch(ctx, queries, k)
	if err != nil {
		return nil, err
	}
	out := make([][]fusion.Hit, len(res))
	for i, hs := range res {
		l := make([]fusion.Hit, len(hs))
		for j, h := range hs {
			l[j] = fusion.Hit{ID: h.DocID, Score: h.Score}
		}
		out[i] = l
	}
	return out, nil
}

func (a bm25Adapter) Index(docs []document.Doc) error {
	bd := make([]beir.Doc, len(docs))
	for i, d := range docs {
		bd[i] = beir.Doc{ID: d.ID, Title: d.Title, Text: d.Text}
	}
	return a.ix.Add(bd)
}

func (a bm25Adapter) Delete(ids []string) error { return a.ix.Delete(ids) }
func (a bm25Adapter) Len() int                  { return a.ix.Len() }

// vecAdapter makes a vector.Index a VectorIndex.
type vecAdapter struct{ ix vector.Index }

func (a vecAdapter) Add(ids []string, v []float32) error { return a.ix.Add(ids, v) }
func (a vecAdapter) Remove(ids []string) (int, error)    { return a.ix.Remove(ids) }
func (a vecAdapter) Len() int                            { return a.ix.Len() }
func (a vecAdapter) Search(q []float32, k int) ([][]fusion.Hit, error) {
	res, err := a.ix.Search(q, k)
	if err != nil {
		return nil, err
	}
	out := make([][]fusion.Hit, len(res))
	for i, rs := range res {
		l := make([]fusion.Hit, len(rs))
		for j, r := range rs {
			l[j] = fusion.Hit{ID: r.ID, Score: float64(r.Score)}
		}
		out[i] = l
	}
	return out, nil
}

// EncoderPool is a set of encoders over one model, so that several
// goroutines can embed at once (an encoder.Encoder serialises its calls).
// It satisfies Encoder.
//
// Small requests (at most batchTexts texts, such as the queries of
// concurrent searches) are batched: one goroutine takes every small request
// waiting when it is free and embeds them in one pass, so that concurrent
// queries share matrix products instead of competing for the cores with
// many tiny ones. Large requests (documents) use a free encoder directly.
type EncoderPool struct {
	encs    chan *encoder.Encoder
	docs    chan struct{} // document-embedding slots (EncodeDocs)
	docWait chan struct{} // document embeddings waiting for a slot
	dim     int
	opts    encoder.Options
	// conv are the model's conventions (folder and overrides): the prompts
	// EncodeQueries and EncodeDocs apply. The encoders normalise when
	// conv.UnitVectors().
	conv encoder.Conventions

	start sync.Once
	reqs  chan *encRequest
	stop  chan struct{}
	close sync.Once
}

// batchTexts is the largest request that is batched, and the most texts
// one batch gathers.
const batchTexts = 32

type encRequest struct {
	ctx    context.Context
	texts  []string
	prompt *string
	out    chan encResult
}

type encResult struct {
	vecs []float32
	err  error
}

// OpenEncoderPool loads the model folder once and returns a pool of n
// encoders sharing it (n ≤ 0: GOMAXPROCS), with opts as given and no
// prompts (the folder's conventions are OpenModelPool's).
func OpenEncoderPool(dir string, opts encoder.Options, n int) (*EncoderPool, error) {
	m, tok, err := encoder.LoadFolder(dir)
	if err != nil {
		return nil, err
	}
	return newPool(n, func() (*encoder.Encoder, error) { return encoder.New(m, encoder.WordPiece(tok), opts) }, nil)
}

// OpenModelPool loads the model of folder f once and returns a pool of n
// encoders (n ≤ 0: GOMAXPROCS) following f.Conventions with batchSize
// texts per forward pass (0: 32): EncodeQueries applies the query prompt,
// EncodeDocs the document prompt, and vectors are L2-normalised when the
// model normalises or compares by cosine. The linear layers run at
// f.Precision.
func OpenModelPool(f *encoder.Folder, batchSize, n int) (*EncoderPool, error) {
	m, tok, err := f.Load()
	if err != nil {
		return nil, err
	}
	rc := retrievalConventions(f.Conventions)
	conv := f.Conventions
	return newPool(n, func() (*encoder.Encoder, error) {
		e, err := encoder.NewWithConventionsAt(m, encoder.WordPiece(tok), rc, batchSize, f.Precision)
		if err == nil {
			conv.MaxLength = e.Conventions().MaxLength
		}
		return e, err
	}, &conv)
}

func newPool(n int, mk func() (*encoder.Encoder, error), conv *encoder.Conventions) (*EncoderPool, error) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &EncoderPool{encs: make(chan *encoder.Encoder, n), docs: make(chan struct{}, docSlots(n)), docWait: make(chan struct{}, docWaiting*docSlots(n)), reqs: make(chan *encRequest, 1024), stop: make(chan struct{})}
	for i := 0; i < n; i++ {
		e, err := mk()
		if err != nil {
			return nil, err
		}
		p.dim = e.Dim()
		p.opts = e.Options()
		p.encs <- e
		if conv != nil {
			p.conv = *conv
		} else {
			p.conv = e.Conventions()
		}
	}
	return p, nil
}

// Encode implements Encoder: it embeds texts with no prompt, batched with
// other small requests (see EncoderPool) or, for a large request, with a
// free encoder of the pool (waiting for one, or for ctx, when all are
// busy).
func (p *EncoderPool) Encode(ctx context.Context, texts []string) ([]float32, error) {
	return p.encode(ctx, texts, nil)
}

// EncodeQueries implements PromptEncoder: Encode with the query prompt.
func (p *EncoderPool) EncodeQueries(ctx context.Context, texts []string) ([]float32, error) {
	return p.encode(ctx, texts, p.conv.QueryPrompt)
}

// Conventions returns the conventions the pool follows (the model
// folder's with the caller's settings; the encoders normalise vectors
// when they say Normalize or cosine).
func (p *EncoderPool) Conventions() encoder.Conventions { return p.conv }

func (p *EncoderPool) encode(ctx context.Context, texts []string, prompt *string) ([]float32, error) {
	if len(texts) > batchTexts || len(texts) == 0 {
		return p.encodeDirect(ctx, texts, prompt)
	}
	select {
	case <-p.stop:
		return nil, errPoolClosed
	default:
	}
	p.start.Do(func() { go p.batcher() })
	r := &encRequest{ctx: ctx, texts: texts, prompt: prompt, out: make(chan encResult, 1)}
	select {
	case p.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.stop:
		return nil, errPoolClosed
	}
	select {
	case res := <-r.out:
		return res.vecs, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.stop:
		return nil, errPoolClosed
	}
}

var errPoolClosed = errors.New("collection: encoder pool closed")

func (p *EncoderPool) encodeDirect(ctx context.Context, texts []string, prompt *string) ([]float32, error) {
	var e *encoder.Encoder
	select {
	case e = <-p.encs:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { p.encs <- e }()
	return e.Embed(ctx, texts, prompt)
}

// batcher embeds the small requests: each round it takes every request
// waiting (up to batchTexts texts), drops those whose context ended, and
// embeds the rest in one call.
func (p *EncoderPool) batcher() {
	var batch []*encRequest
	for {
		batch = batch[:0]
		select {
		case r := <-p.reqs:
			batch = append(batch, r)
		case <-p.stop:
			return
		}
		n := len(batch[0].texts)
	gather:
		for n < batchTexts {
			select {
			case r := <-p.reqs:
				batch = append(batch, r)
				n += len(r.texts)
			default:
				break gather
			}
		}
		live := batch[:0]
		for _, r := range batch {
			if err := r.ctx.Err(); err != nil {
				r.out <- encResult{err: err}
				continue
			}
			live = append(live, r)
		}
		// One pass per prompt (queries share one; Encode has none).
		for len(live) > 0 {
			prompt := live[0].prompt
			var texts []string
			same, rest := live[:0:0], live[:0:0]
			for _, r := range live {
				if samePrompt(r.prompt, prompt) {
					same = append(same, r)
					texts = append(texts, r.texts...)
				} else {
					rest = append(rest, r)
				}
			}
			vecs, err := p.encodeDirect(context.Background(), texts, prompt)
			off := 0
			for _, r := range same {
				if err != nil {
					r.out <- encResult{err: err}
					continue
				}
				m := len(r.texts) * p.dim
				r.out <- encResult{vecs: vecs[off : off+m : off+m]}
				off += m
			}
			live = rest
		}
	}
}

func samePrompt(a, b *string) bool { return a == b || a != nil && b != nil && *a == *b }

// Close stops the batching goroutine; later small requests fail.
func (p *EncoderPool) Close() {
	p.close.Do(func() { close(p.stop) })
}

// Encoder borrows one encoder of the pool for fn (for long jobs that use
// the encoder's own API, such as EncodeIDsTo with progress).
func (p *EncoderPool) Encoder(fn func(e *encoder.Encoder) error) error {
	e := <-p.encs
	defer func() { p.encs <- e }()
	return fn(e)
}

// Dim implements Encoder.
func (p *EncoderPool) Dim() int { return p.dim }

// Options returns the encoders' options, defaults filled in.
func (p *EncoderPool) Options() encoder.Options { return p.opts }
