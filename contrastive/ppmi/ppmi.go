// Package ppmi builds a static embedding model from a corpus alone, with
// no training loop: token vectors from a truncated SVD of the corpus's
// positive pointwise mutual information (PPMI) co-occurrence matrix, as in
// Levy, Goldberg and Dagan (2015), over the word-piece ids of a BERT
// tokenizer.
//
// Co-occurrences are the tokens at distance 1..Window of each other within
// one document, counted in parallel into sorted runs of 64-bit pair keys
// that are merged as they accumulate (memory: the distinct pairs plus one
// buffer per worker). PPMI uses context-distribution smoothing (α 0.75)
// and keeps positive values only. The SVD is randomized (Halko et al.,
// 2011: a Gaussian test matrix, a few power iterations) on sparse×dense
// products and internal/blas32 GEMMs; the token vectors are U·√S. Each
// token's vector is multiplied by its IDF weight (BM25's
// ln(1 + (D − df + 0.5)/(df + 0.5))), so that the plain mean of a text's
// token vectors — what encoder/static and sentence-transformers'
// StaticEmbedding compute — is, up to a positive factor that cosine
// ignores, the IDF-weighted mean.
//
// The build is deterministic for a seed: pair counts do not depend on the
// schedule of workers, every sparse row is summed in a fixed order, and
// the singular vectors get a fixed sign.
package ppmi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"time"

	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/progress"
)

// Options configure Build. Zero fields take the defaults of
// DefaultOptions.
type Options struct {
	Dim        int     // vector dimensions (default 768)
	Window     int     // co-occurrence window ±W tokens (default 15)
	Alpha      float64 // context-distribution smoothing (default 0.75)
	PowerIters int     // randomized SVD power iterations (default 2; negative: none)
	Oversample int     // extra columns of the randomized range finder (default 16)
	Seed       uint64  // seed of the Gaussian test matrix (default 1)
	Workers    int     // goroutines (default GOMAXPROCS)
	ChunkPairs int     // pair keys buffered per worker before a sort (default 4M)
	// TotalDocs, when known, lets the progress line show an ETA.
	TotalDocs int
	// Log receives the progress lines and a summary of each stage; nil is
	// silent.
	Log io.Writer
}

// DefaultOptions returns the settings chosen on SciFact's train queries:
// 768 dimensions (BERT-base's width, so an index costs what a BERT-base
// model's does), window ±15, α 0.75, 2 power iterations, oversampling 16.
func DefaultOptions() Options {
	return Options{Dim: 768, Window: 15, Alpha: 0.75, PowerIters: 2, Oversample: 16, Seed: 1, ChunkPairs: 1 << 22}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Dim == 0 {
		o.Dim = d.Dim
	}
	if o.Window == 0 {
		o.Window = d.Window
	}
	if o.Alpha == 0 {
		o.Alpha = d.Alpha
	}
	if o.PowerIters == 0 {
		o.PowerIters = d.PowerIters
	} else if o.PowerIters < 0 {
		o.PowerIters = 0
	}
	if o.Oversample == 0 {
		o.Oversample = d.Oversample
	}
	if o.Seed == 0 {
		o.Seed = d.Seed
	}
	if o.ChunkPairs == 0 {
		o.ChunkPairs = d.ChunkPairs
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// ErrOptions reports invalid Options.
var ErrOptions = errors.New("ppmi: invalid options")

func (o Options) validate() error {
	switch {
	case o.Dim < 1 || o.Dim > 4096:
		return fmt.Errorf("%w: dim %d (want 1..4096)", ErrOptions, o.Dim)
	case o.Window < 1 || o.Window > 1000:
		return fmt.Errorf("%w: window %d (want 1..1000)", ErrOptions, o.Window)
	case !(o.Alpha > 0 && o.Alpha <= 1):
		return fmt.Errorf("%w: alpha %g (want (0, 1])", ErrOptions, o.Alpha)
	case o.PowerIters < 0 || o.PowerIters > 20:
		return fmt.Errorf("%w: power iterations %d (want 0..20)", ErrOptions, o.PowerIters)
	case o.Oversample < 0 || o.Oversample > 1024:
		return fmt.Errorf("%w: oversample %d (want 0..1024)", ErrOptions, o.Oversample)
	case o.ChunkPairs < 2*o.Window+2:
		return fmt.Errorf("%w: chunk of %d pairs is smaller than a window", ErrOptions, o.ChunkPairs)
	}
	return nil
}

// Model is the result of Build.
type Model struct {
	// Weight is the VocabSize×Dim embedding matrix (row-major): token t's
	// vector U_t·√S times its IDF. Tokens that never co-occur have a zero
	// row.
	Weight []float32
	Dim    int
	// IDF is each token's IDF weight (0 for tokens absent from the corpus).
	IDF []float32
	// Singular are the singular values of the PPMI matrix, largest first.
	Singular []float64
	Stats    Stats
}

// Stats describe a build.
type Stats struct {
	Docs        int           `json:"docs"`
	Tokens      int64         `json:"tokens"`
	Vocab       int           `json:"vocab"`        // tokenizer vocabulary size
	Active      int           `json:"active"`       // tokens with a co-occurrence
	Pairs       int64         `json:"pairs"`        // distinct unordered token pairs
	PPMINonZero int64         `json:"ppmi_nonzero"` // positive entries of the PPMI matrix
	Count       time.Duration `json:"count_ns"`     // tokenising and counting
	SVD         time.Duration `json:"svd_ns"`       // PPMI and SVD
}

// Build reads every document from docs, tokenises it with tok (without
// special tokens) and returns the static model described in the package
// documentation.
func Build(ctx context.Context, docs func(fn func(doc string) error) error, tok *wordpiece.Tokenizer, o Options) (*Model, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	V := tok.VocabSize()
	if uint64(V) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: vocabulary of %d tokens", ErrOptions, V)
	}
	quiet := o.Log == nil
	logf := func(format string, args ...any) {
		if !quiet {
			fmt.Fprintf(o.Log, format, args...)
		}
	}
	t0 := time.Now()
	var bar *progress.Bar
	if !quiet {
		bar = progress.NewWriter(o.Log, "ppmi: count", int64(o.TotalDocs), "docs")
	}
	c, err := countPairs(ctx, docs, tok, o, bar)
	bar.Finish()
	if err != nil {
		return nil, err
	}
	if c.docs == 0 {
		return nil, errors.New("ppmi: the corpus has no documents")
	}
	st := Stats{Docs: c.docs, Tokens: c.tokens, Vocab: V, Pairs: int64(c.pairs.len()), Count: time.Since(t0)}
	t1 := time.Now()
	x, _, ids := buildCooc(c.pairs, V)
	c.pairs = run{}
	st.Active = len(ids)
	if st.Active < o.Dim {
		return nil, fmt.Errorf("ppmi: only %d tokens co-occur in the corpus, fewer than %d dimensions", st.Active, o.Dim)
	}
	a, at := ppmiMatrices(x, o.Alpha)
	x = nil
	st.PPMINonZero = a.nnz()
	logf("ppmi: %d docs, %d tokens, %d active tokens, %d pairs, %d positive PPMI entries (count %s)\n",
		st.Docs, st.Tokens, st.Active, st.Pairs, st.PPMINonZero, st.Count.Round(time.Millisecond))
	if !quiet {
		bar = progress.NewWriter(o.Log, "ppmi: svd", int64(o.PowerIters+2), "passes")
	}
	svd, err := randomizedSVD(a, at, o.Dim, o.Oversample, o.PowerIters, o.Seed, o.Workers, bar)
	bar.Finish()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := &Model{Dim: o.Dim, Weight: make([]float32, V*o.Dim), IDF: make([]float32, V), Singular: svd.sigma}
	D := float64(c.docs)
	for t, df := range c.df {
		if df > 0 {
			m.IDF[t] = float32(IDF(D, float64(df)))
		}
	}
	scale := make([]float32, o.Dim)
	for k, s := range svd.sigma {
		scale[k] = float32(math.Sqrt(s))
	}
	for i, id := range ids {
		src := svd.u[i*o.Dim : (i+1)*o.Dim]
		dst := m.Weight[int(id)*o.Dim : (int(id)+1)*o.Dim]
		w := m.IDF[id]
		for k := range dst {
			dst[k] = src[k] * scale[k] * w
		}
	}
	st.SVD = time.Since(t1)
	m.Stats = st
	logf("ppmi: svd %d dims, σ₁ %.4g, σ_%d %.4g (%s)\n", o.Dim, svd.sigma[0], o.Dim, svd.sigma[o.Dim-1], st.SVD.Round(time.Millisecond))
	return m, nil
}

// IDF is BM25's (Lucene's) inverse document frequency of a token found in
// df of docs documents: ln(1 + (docs − df + 0.5)/(df + 0.5)).
func IDF(docs, df float64) float64 {
	return math.Log(1 + (docs-df+0.5)/(df+0.5))
}
