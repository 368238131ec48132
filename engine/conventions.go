package engine

// A model's conventions (encoder.Conventions: pooling, normalisation,
// maximum length, prompts, similarity) as the engine carries them: read
// from the model folder (encoder.ReadFolder), overridden by the caller's
// ModelSettings, applied by the encoder pool (queries with the query
// prompt, documents with the document prompt, unit vectors for a model
// that normalises or compares by cosine), recorded in the index manifest
// and the embedding cache key, and checked when an index is reopened.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/static"
)

// ErrSettings reports an index reopened with a model or settings that
// differ from those it was built with (its manifest's).
var ErrSettings = errors.New("the index was built with another model or other settings")

// ModelSettings override a model folder's conventions; the zero value
// keeps the folder's.
type ModelSettings struct {
	Pooling     *encoder.Pooling // nil: the folder's
	Normalize   *bool            // nil: the folder's
	MaxLength   int              // 0: the folder's
	QueryPrompt *string          // prepended to queries; nil: the folder's query prompt
	DocPrompt   *string          // prepended to documents; nil: the folder's document prompt
}

// Apply returns c with the settings given in s.
func (s ModelSettings) Apply(c encoder.Conventions) encoder.Conventions {
	if s.Pooling != nil {
		c.Pooling = *s.Pooling
	}
	if s.Normalize != nil {
		c.Normalize = *s.Normalize
	}
	if s.MaxLength > 0 {
		c.MaxLength = s.MaxLength
	}
	if s.QueryPrompt != nil {
		p := *s.QueryPrompt
		c.QueryPrompt = &p
	}
	if s.DocPrompt != nil {
		p := *s.DocPrompt
		c.DocPrompt = &p
	}
	return c
}

// ReadModel reads the conventions of the model folder dir
// (encoder.ReadFolder: its sentence-transformers files, or Contriever's for
// a plain HF folder) and applies s to them.
func ReadModel(dir string, s ModelSettings) (*encoder.Folder, error) {
	f, err := encoder.ReadFolder(dir)
	if err != nil {
		return nil, err
	}
	f.Conventions = s.Apply(f.Conventions)
	if err := f.Conventions.Validate(); err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	return f, nil
}

// DiffConventions names each field in which want differs from have, as
// `field: have X, want Y` (JSON values), in field order; nil when they
// agree.
func DiffConventions(have, want encoder.Conventions) []string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal([]byte(have.String()), &a) != nil || json.Unmarshal([]byte(want.String()), &b) != nil {
		return []string{"conventions: " + have.String() + " vs " + want.String()}
	}
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		x, y := string(a[k]), string(b[k])
		if x == "" {
			x = "none"
		}
		if y == "" {
			y = "none"
		}
		if x != y {
			out = append(out, fmt.Sprintf("%s: index %s, asked %s", k, x, y))
		}
	}
	return out
}

// checkSettings returns an error wrapping ErrSettings naming what differs
// between the conventions an index was built with and those asked.
func checkSettings(dir string, have, want encoder.Conventions) error {
	if d := DiffConventions(have, want); len(d) > 0 {
		return fmt.Errorf("index %s: %w: %s (rebuild the index with these settings, or open it without them)", dir, ErrSettings, strings.Join(d, "; "))
	}
	return nil
}

// vectorConventions are the conventions that decide a set of vectors
// embedded with prompt: the prompts that were not applied are left out, so
// that a query prompt does not change the key of cached document vectors.
func vectorConventions(c encoder.Conventions, prompt *string) encoder.Conventions {
	c.Prompts, c.DefaultPromptName, c.QueryPrompt, c.DocPrompt = nil, "", nil, prompt
	return c
}

// retrievalConventions are c as the encoder pool applies them: vectors are
// L2-normalised when the model normalises or compares by cosine, so that
// the inner-product indexes rank as the model's similarity does.
func retrievalConventions(c encoder.Conventions) encoder.Conventions {
	c.Normalize = c.UnitVectors()
	return c
}

// OpenModelEncoder opens the model folder dir with its conventions and s
// applied (ReadModel) as one encoder for retrieval: vectors L2-normalised
// when the model normalises or compares by cosine, its Conventions
// carrying the query and document prompts (EmbedTo with QueryPrompt or
// DocPrompt), batchSize texts per forward pass (0: 32).
func OpenModelEncoder(dir string, s ModelSettings, batchSize int) (*encoder.Encoder, error) {
	f, err := ReadModel(dir, s)
	if err != nil {
		return nil, err
	}
	m, tok, err := f.Load()
	if err != nil {
		return nil, err
	}
	return encoder.NewWithConventions(m, encoder.WordPiece(tok), retrievalConventions(f.Conventions), batchSize)
}

// ConventionsOf returns the conventions an embedder follows: the
// encoder pool's or a prompted embedder's (OpenModel), else those of its
// options (no prompts, dot product).
func ConventionsOf(e Embedder) encoder.Conventions {
	if c, ok := e.(interface{ Conventions() encoder.Conventions }); ok {
		return c.Conventions()
	}
	o := e.Options()
	c := encoder.DefaultConventions()
	c.Pooling, c.Normalize = o.Pooling, o.Normalize
	if o.MaxLength > 0 {
		c.MaxLength = o.MaxLength
	}
	return c
}

// EmbedPromptedTo embeds texts with prompt (nil: none) into dst
// (len(texts)·Dim() floats) with progress: the encoder pool tokenises
// prompt + text and leaves the prompt's tokens out of the pooling when the
// model says include_prompt false; another embedder gets prompt + text.
func EmbedPromptedTo(ctx context.Context, e Embedder, dst []float32, texts []string, prompt *string, progress func(done int)) error {
	return embedPromptedTo(ctx, e, dst, texts, prompt, false, progress)
}

// EmbedQueriesPromptedTo is EmbedPromptedTo for queries: a model that
// embeds queries its own way (an asymmetric static model) uses its query
// vectors.
func EmbedQueriesPromptedTo(ctx context.Context, e Embedder, dst []float32, texts []string, prompt *string, progress func(done int)) error {
	return embedPromptedTo(ctx, e, dst, texts, prompt, true, progress)
}

// queryEmbedder is an Embedder that embeds queries with weights of their
// own (StaticEmbedder); EmbedQueries and EncodeQueries find it by type
// assertion.
type queryEmbedder interface {
	EmbedQueriesTo(ctx context.Context, dst []float32, texts []string, progress func(done int)) error
}

// embedPromptedTo is EmbedPromptedTo, of queries when query is true.
func embedPromptedTo(ctx context.Context, e Embedder, dst []float32, texts []string, prompt *string, query bool, progress func(done int)) error {
	if p, ok := e.(*EncoderPool); ok {
		return p.embedPromptedTo(ctx, dst, texts, prompt, progress)
	}
	if pe, ok := e.(*promptedEmbedder); ok {
		e = pe.Embedder
	}
	if qe, ok := e.(queryEmbedder); ok && query {
		return qe.EmbedQueriesTo(ctx, dst, prompted(texts, prompt), progress)
	}
	return e.EmbedTo(ctx, dst, prompted(texts, prompt), progress)
}

// prompted returns prompt + text for each text (texts itself for nil).
func prompted(texts []string, prompt *string) []string {
	if prompt == nil {
		return texts
	}
	out := make([]string, len(texts))
	for i, t := range texts {
		out[i] = *prompt + t
	}
	return out
}

// embedPromptedTo is EmbedPromptedTo with one encoder of the pool.
func (p *EncoderPool) embedPromptedTo(ctx context.Context, dst []float32, texts []string, prompt *string, progress func(done int)) error {
	if len(dst) != len(texts)*p.dim {
		return fmt.Errorf("encoder pool: %d floats for %d texts of dimension %d", len(dst), len(texts), p.dim)
	}
	return p.Encoder(func(e *encoder.Encoder) error {
		return e.EmbedTo(ctx, dst, texts, prompt, progress)
	})
}

// promptedEmbedder gives an embedder without prompts of its own (a static
// model) the conventions asked: queries and documents get their prompt
// prepended.
type promptedEmbedder struct {
	Embedder
	conv encoder.Conventions
}

func (p *promptedEmbedder) Conventions() encoder.Conventions { return p.conv }

// Provenance passes on the wrapped model's provenance (LabelFreeAlpha).
func (p *promptedEmbedder) Provenance() *static.Provenance {
	if q, ok := p.Embedder.(provenancer); ok {
		return q.Provenance()
	}
	return nil
}

func (p *promptedEmbedder) EncodeQueries(ctx context.Context, texts []string) ([]float32, error) {
	out := make([]float32, len(texts)*p.Dim())
	return out, embedPromptedTo(ctx, p.Embedder, out, texts, p.conv.QueryPrompt, true, nil)
}

func (p *promptedEmbedder) EncodeDocs(ctx context.Context, texts []string) ([]float32, error) {
	return p.Embedder.Encode(ctx, prompted(texts, p.conv.DocPrompt))
}

// OpenModel opens the model folder dir for retrieval with its conventions
// and s applied: a transformer (ReadModel, OpenModelPool with n encoders
// of batchSize texts a pass) or a static model (OpenEmbedder; the prompts
// given are prepended to the texts). It is the one opener of beir, index
// and the index folder (through OpenModelAt).
func OpenModel(dir string, s ModelSettings, batchSize, n int) (Embedder, error) {
	return OpenModelAt(dir, s, batchSize, n, encoder.F32)
}

// OpenModelAt is OpenModel with a transformer's linear layers at precision
// p; a static model takes only F32 (it has no linear layers to run at
// another precision) and refuses the others with an error.
func OpenModelAt(dir string, s ModelSettings, batchSize, n int, p encoder.Precision) (Embedder, error) {
	if modelKind(dir) == KindStatic {
		if err := staticPrecision(dir, p); err != nil {
			return nil, err
		}
		o := encoder.Options{MaxLength: s.MaxLength, BatchSize: batchSize}
		if s.Pooling != nil {
			o.Pooling = *s.Pooling
		}
		e, err := OpenEmbedder(dir, o, n)
		if err != nil {
			return nil, err
		}
		c := ConventionsOf(e)
		c.QueryPrompt, c.DocPrompt = s.QueryPrompt, s.DocPrompt
		return &promptedEmbedder{Embedder: e, conv: c}, nil
	}
	f, err := ReadModel(dir, s)
	if err != nil {
		return nil, err
	}
	f.Precision = p
	return OpenModelPool(f, batchSize, n)
}

// ErrStaticPrecision reports a reduced precision asked of a static model.
var ErrStaticPrecision = errors.New("a static model embeds by table lookup in float32; --precision bf16 or int8 applies to transformers only")

// staticPrecision refuses a precision other than F32 for the static model
// dir.
func staticPrecision(dir string, p encoder.Precision) error {
	if p != encoder.F32 {
		return fmt.Errorf("model %s: precision %s: %w", dir, p, ErrStaticPrecision)
	}
	return nil
}

// openWithConventions opens the model copy md of an index with the
// conventions c its manifest records, a transformer's linear layers at
// precision p.
func openWithConventions(md, kind string, c encoder.Conventions, n int, p encoder.Precision) (Embedder, error) {
	if kind == KindStatic {
		if err := staticPrecision(md, p); err != nil {
			return nil, err
		}
		e, err := OpenEmbedder(md, encoder.Options{MaxLength: c.MaxLength}, n)
		if err != nil {
			return nil, err
		}
		return &promptedEmbedder{Embedder: e, conv: c}, nil
	}
	f, err := encoder.ReadFolder(md)
	if err != nil {
		return nil, fmt.Errorf("model copy: %w", err)
	}
	f.Conventions, f.Precision = c, p
	return OpenModelPool(f, 0, n)
}

// encodeDocs embeds passages with the document prompt (a PromptEncoder's
// EncodeDocs; Encode otherwise).
func encodeDocs(ctx context.Context, e Encoder, texts []string) ([]float32, error) {
	if pe, ok := e.(PromptEncoder); ok {
		return pe.EncodeDocs(ctx, texts)
	}
	return e.Encode(ctx, texts)
}
