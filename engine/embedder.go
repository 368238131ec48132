package engine

// One way to embed, whatever the model: the transformer encoder pool and
// static embedding models (package encoder/static) both satisfy Embedder,
// and OpenEmbedder picks by the folder (a static model is recognised by its
// modules.json). Every command that takes --model loads it through
// OpenEmbedder, directly or through Build, Open and NewDense.

import (
	"context"
	"fmt"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/engine/fusion"
)

// Model kinds, as recorded in ModelInfo.Kind.
const (
	KindTransformer = "transformer" // a BERT-style HF folder (config.json, weights, vocab)
	KindStatic      = "static"      // a sentence-transformers StaticEmbedding folder
)

// Embedder embeds texts: the BERT encoder pool (*EncoderPool) and static
// models (*StaticEmbedder). It is an Encoder for the Composite.
type Embedder interface {
	Encoder
	// EmbedTo writes the embeddings of texts into dst (len(texts)·Dim()
	// floats, row i for texts[i]), calling progress (when not nil) with
	// the number of texts done so far.
	EmbedTo(ctx context.Context, dst []float32, texts []string, progress func(done int)) error
	// Options returns the encoding options, defaults filled in (a static
	// model: mean pooling, normalised, MaxLength = word pieces + 2).
	Options() encoder.Options
	// Kind returns KindTransformer or KindStatic.
	Kind() string
	// Close releases background work; later small requests may fail.
	Close()
}

// OpenEmbedder loads the model folder dir: a static model when dir holds a
// StaticEmbedding modules.json (static.IsModel), else a transformer whose
// pool has n encoders (n ≤ 0: GOMAXPROCS). opts apply to transformers; a
// static model takes only MaxLength (its texts are cut to MaxLength−2 word
// pieces, what a transformer of that length sees) and always pools by the
// normalised mean.
func OpenEmbedder(dir string, opts encoder.Options, n int) (Embedder, error) {
	if static.IsModel(dir) {
		if opts.Pooling == encoder.PoolCLS {
			return nil, fmt.Errorf("model %s: a static model pools by the mean; --pooling cls does not apply", dir)
		}
		if err := staticPrecision(dir, opts.Precision); err != nil {
			return nil, err
		}
		m, err := static.Load(dir)
		if err != nil {
			return nil, err
		}
		ml := opts.MaxLength
		if ml == 0 {
			ml = encoder.DefaultMaxLength
		}
		if ml > 2 {
			m.MaxTokens = ml - 2
		}
		return &StaticEmbedder{m: m, maxLength: ml}, nil
	}
	return OpenEncoderPool(dir, opts, n)
}

// modelKind returns the kind of the model folder dir.
func modelKind(dir string) string {
	if static.IsModel(dir) {
		return KindStatic
	}
	return KindTransformer
}

// StaticEmbedder is an Embedder over a static model: a table lookup and a
// mean, safe for concurrent use.
type StaticEmbedder struct {
	m         *static.Model
	maxLength int
}

// staticChunk is the number of texts embedded between progress calls and
// context checks.
const staticChunk = 1024

// Encode implements Encoder.
func (s *StaticEmbedder) Encode(ctx context.Context, texts []string) ([]float32, error) {
	out := make([]float32, len(texts)*s.m.Dim())
	return out, s.EmbedTo(ctx, out, texts, nil)
}

// EmbedTo implements Embedder.
func (s *StaticEmbedder) EmbedTo(ctx context.Context, dst []float32, texts []string, progress func(done int)) error {
	return s.embedTo(ctx, dst, texts, s.m.Embed, progress)
}

// embedTo is EmbedTo with embed, the model's document or query side.
func (s *StaticEmbedder) embedTo(ctx context.Context, dst []float32, texts []string, embed func([]string) []float32, progress func(done int)) error {
	d := s.m.Dim()
	if len(dst) != len(texts)*d {
		return fmt.Errorf("static embedder: %d floats for %d texts of dimension %d", len(dst), len(texts), d)
	}
	for lo := 0; lo < len(texts); lo += staticChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+staticChunk, len(texts))
		copy(dst[lo*d:hi*d], embed(texts[lo:hi]))
		if progress != nil {
			progress(hi)
		}
	}
	return nil
}

// EmbedQueriesTo is EmbedTo for queries: an asymmetric model embeds them
// with its query vectors (static.Model.EmbedQueries).
func (s *StaticEmbedder) EmbedQueriesTo(ctx context.Context, dst []float32, texts []string, progress func(done int)) error {
	return s.embedTo(ctx, dst, texts, s.m.EmbedQueries, progress)
}

// EncodeQueries implements PromptEncoder: Encode for queries.
func (s *StaticEmbedder) EncodeQueries(ctx context.Context, texts []string) ([]float32, error) {
	out := make([]float32, len(texts)*s.m.Dim())
	return out, s.EmbedQueriesTo(ctx, out, texts, nil)
}

// EncodeDocs implements PromptEncoder: Encode.
func (s *StaticEmbedder) EncodeDocs(ctx context.Context, texts []string) ([]float32, error) {
	return s.Encode(ctx, texts)
}

// Dim implements Encoder.
func (s *StaticEmbedder) Dim() int { return s.m.Dim() }

// Options implements Embedder.
func (s *StaticEmbedder) Options() encoder.Options {
	return encoder.Options{Pooling: encoder.PoolMean, Normalize: true, MaxLength: s.maxLength, BatchSize: staticChunk}
}

// Kind implements Embedder.
func (s *StaticEmbedder) Kind() string { return KindStatic }

// Close implements Embedder (nothing to release).
func (s *StaticEmbedder) Close() {}

// Model returns the static model.
func (s *StaticEmbedder) Model() *static.Model { return s.m }

// EmbedTo implements Embedder: one encoder of the pool embeds texts,
// tokenised at once, with progress.
func (p *EncoderPool) EmbedTo(ctx context.Context, dst []float32, texts []string, progress func(done int)) error {
	if len(dst) != len(texts)*p.dim {
		return fmt.Errorf("encoder pool: %d floats for %d texts of dimension %d", len(dst), len(texts), p.dim)
	}
	return p.Encoder(func(e *encoder.Encoder) error {
		return e.EncodeIDsTo(ctx, dst, e.Tokenize(texts), progress)
	})
}

// Kind implements Embedder.
func (p *EncoderPool) Kind() string { return KindTransformer }

// Provenance returns how the static model was made (nil: unknown).
func (s *StaticEmbedder) Provenance() *static.Provenance { return s.m.Provenance }

// provenancer is an Embedder that knows how its model was made.
type provenancer interface {
	Provenance() *static.Provenance
}

// LabelFreeAlpha returns the label-free fusion weight for the model of e
// and its rule's name (fusion.LabelFree): the tuned weight when the model's
// provenance says the validated recipe trained it on its corpus for at
// least fusion.TunedMinSteps steps or fusion.TunedMinPasses passes over
// its tokens, the conservative default otherwise.
func LabelFreeAlpha(e Embedder) (alpha float64, rule string) {
	tuned := false
	if p, ok := e.(provenancer); ok {
		if pr := p.Provenance(); pr != nil && pr.Recipe == static.RecipeTuned && (pr.Steps >= fusion.TunedMinSteps || pr.Passes >= fusion.TunedMinPasses) {
			tuned = true
		}
	}
	return fusion.LabelFree(tuned)
}
