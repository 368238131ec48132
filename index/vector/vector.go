// Package vector holds the dense-vector indexes of the project: an exact
// Flat index and an inverted-file IVF index, both scoring by inner product
// (cosine through normalisation at add and query time), both persisted in
// one versioned, checksummed binary format. Scores are computed with the
// project's sgemm (internal/blas32): a batch of queries is multiplied with
// blocks of stored vectors and the top k of each query is kept in a small
// heap, ties broken by score then id (descending, as trec_eval and
// document.Compare), so results are deterministic.
//
// The Index interface is deliberately small. Extra capabilities are found
// by type assertion: a Trainer must be trained before Add (IVF), a Prober
// has a per-query number of probed lists (IVF). IVF optionally scans 8-bit
// scalar codes (WithSQ8) or product-quantisation codes (WithPQ, as FAISS's
// IndexIVFPQ) of its vectors and re-ranks the best candidates exactly, or
// keeps only the codes and returns approximate scores (WithCodesOnly).
package vector

import (
	"errors"
	"fmt"
	"math"
	"runtime"
)

// Result is one search hit: a document id and its score (inner product, or
// cosine similarity for a Cosine index).
type Result struct {
	ID    string
	Score float32
}

// Index is a dense-vector index searched by inner product. Implementations
// are safe for concurrent use: searches run concurrently with each other;
// Add, Remove and training are exclusive.
type Index interface {
	// Add stores vectors (len(ids) rows of Dim() floats, row-major) under
	// ids. Add never replaces: an id already present, or repeated within
	// ids, is an error wrapping ErrDuplicateID and nothing is added. To
	// replace a document, Remove it first.
	Add(ids []string, vectors []float32) error
	// Search returns, for each of the len(queries)/Dim() queries, its best
	// k results sorted by score descending, then id descending. Fewer than k
	// are returned when the index holds fewer vectors (or, for IVF, the
	// probed lists hold fewer).
	Search(queries []float32, k int) ([][]Result, error)
	// Remove deletes the given ids and returns how many were present.
	// Unknown ids are ignored.
	Remove(ids []string) (int, error)
	// Len is the number of stored vectors.
	Len() int
	// Dim is the vector dimension.
	Dim() int
	// Metric is InnerProduct or Cosine.
	Metric() Metric
	// Save writes the index to path atomically (temporary file, fsync,
	// rename). Load, LoadFlat or LoadIVF read it back.
	Save(path string) error
}

// Trainer is implemented by indexes that must learn from data before vectors
// can be added (IVF learns its coarse centroids).
type Trainer interface {
	// Train learns the index's parameters from len(vectors)/Dim() sample
	// vectors. It does not add them.
	Train(vectors []float32) error
	// Trained reports whether Train has run (or the index was loaded
	// trained).
	Trained() bool
}

// Prober is implemented by indexes that search a subset of their lists per
// query (IVF).
type Prober interface {
	// SetNProbe sets how many lists each query searches; values are clamped
	// to [1, number of lists].
	SetNProbe(n int)
	// NProbe returns the current number of lists searched per query.
	NProbe() int
}

// Metric says how vectors are compared.
type Metric uint8

const (
	// InnerProduct scores by the raw dot product (Contriever's metric).
	InnerProduct Metric = 1
	// Cosine normalises vectors to unit length at Add and queries at
	// Search, then scores by dot product. Zero vectors stay zero.
	Cosine Metric = 2
)

// String returns "ip" or "cosine".
func (m Metric) String() string {
	switch m {
	case InnerProduct:
		return "ip"
	case Cosine:
		return "cosine"
	}
	return fmt.Sprintf("Metric(%d)", uint8(m))
}

// ParseMetric parses "ip" (also "dot", "inner_product") or "cosine".
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "ip", "dot", "inner_product":
		return InnerProduct, nil
	case "cosine", "cos":
		return Cosine, nil
	}
	return 0, fmt.Errorf("vector: unknown metric %q (want ip or cosine)", s)
}

// Sentinel errors callers can test with errors.Is.
var (
	// ErrDuplicateID: Add was given an id already in the index or twice in
	// one call.
	ErrDuplicateID = errors.New("vector: duplicate id")
	// ErrDimension: a vector slice is not a whole number of rows of the
	// index dimension, or len(vectors) does not match len(ids).
	ErrDimension = errors.New("vector: dimension mismatch")
	// ErrNotTrained: Add or Search on an IVF index before Train.
	ErrNotTrained = errors.New("vector: index not trained")
	// ErrInvalid: bad arguments (k <= 0, empty id, non-finite values, too
	// few training vectors).
	ErrInvalid = errors.New("vector: invalid argument")
	// ErrCorrupt: a saved index is truncated, altered or not an index file.
	ErrCorrupt = errors.New("vector: corrupt index file")
)

// options collects the settings of the constructors.
type options struct {
	metric        Metric
	seed          uint64
	nprobe        int
	iters         int
	maxPerCentr   int
	workers       int
	progressLabel string
	sq8           bool
	rerank        int
	pqM           int  // product quantiser sub-spaces (WithPQ); 0: none
	codesOnly     bool // keep no float copy of the vectors (WithCodesOnly)
}

func defaultOptions() options {
	return options{metric: InnerProduct, seed: 1234, nprobe: 1, iters: 10, maxPerCentr: 256}
}

// Option configures NewFlat and NewIVF.
type Option func(*options)

// WithMetric selects InnerProduct (default) or Cosine.
func WithMetric(m Metric) Option { return func(o *options) { o.metric = m } }

// WithSeed seeds IVF's k-means (initial centroids and training sample);
// default 1234.
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = seed } }

// WithNProbe sets IVF's initial number of probed lists (default 1).
func WithNProbe(n int) Option { return func(o *options) { o.nprobe = n } }

// WithTrainIters sets the number of Lloyd iterations of IVF's k-means
// (default 10, as FAISS's IVF).
func WithTrainIters(n int) Option { return func(o *options) { o.iters = n } }

// WithMaxPointsPerCentroid bounds IVF's training set to n·nlist vectors,
// drawn at random when more are given (default 256, as FAISS).
func WithMaxPointsPerCentroid(n int) Option { return func(o *options) { o.maxPerCentr = n } }

// WithWorkers sets the number of goroutines a search or training uses
// (default runtime.GOMAXPROCS(0)).
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// WithSQ8 makes an IVF index also store its vectors as 8-bit scalar codes
// (per-dimension ranges learned by Train, as FAISS's QT_8bit) and scan the
// probed lists through the codes: one byte per dimension is read instead of
// four. The best candidates of that approximate ranking (see WithRerank)
// are then re-scored exactly with the float32 vectors, which the index
// keeps for that purpose, so returned scores are exact inner products.
// It saves scan bandwidth, not memory: the codes add dim bytes per vector
// to the 4·dim of the floats (+25%; the saved file is unchanged, the codes
// are recomputed at load).
//
// Measured with `contriever bench index --sq8` (100k×768 clustered, nlist
// 1024, k 10, 2 threads, default re-rank depth 40): recall@10 equal to the
// float IVF's at nprobe 1, 8, 32 and 128; one query at a time 0.94×, 1.17×,
// 1.62× and 2.0× the float IVF's QPS (the scan reads a quarter of the
// bytes; at nprobe 1 the centroid scan dominates); batched 1000 queries at
// a time 0.54×, 0.81×, 0.71× and 0.85× (sgemm already reads each list once
// per batch, and re-ranking reads 40 scattered float vectors per query);
// memory 374 MB instead of 301 MB. On an index that fits in the caches
// (20k×128) the scan is not memory-bound and SQ8 is slower throughout
// (0.3-0.7×): use it for large indexes searched one query at a time.
func WithSQ8() Option { return func(o *options) { o.sq8 = true } }

// WithRerank sets how many candidates per query an SQ8 IVF index re-scores
// exactly: max(n, k) for a search of the top k; 0 (the default) means
// DefaultRerankFactor·k. IVF.SetRerank changes it later.
func WithRerank(n int) Option { return func(o *options) { o.rerank = n } }

// WithPQ makes an IVF index store its vectors as product-quantisation
// codes of m bytes (m sub-quantisers of 256 centroids each, on the residual
// of each vector with respect to its list's centroid, as FAISS's
// IndexIVFPQ) and scan them with ADC lookup tables (see pq.go). m must
// divide the dimension. Unless WithCodesOnly is also given the index keeps
// the float vectors too and re-scores the best candidates exactly (see
// WithRerank), so returned scores are exact; with WithCodesOnly it keeps
// only the codes and returns the approximate scores.
func WithPQ(m int) Option { return func(o *options) { o.pqM = m } }

// WithCodesOnly makes an SQ8 or PQ IVF index keep only its codes, no float
// copy of the vectors: memory is dim bytes a vector (SQ8) or m bytes (PQ)
// instead of 4·dim, and the scores returned are the approximate ones of
// the codes (no exact re-rank). Saved files hold the codes.
func WithCodesOnly() Option { return func(o *options) { o.codesOnly = true } }

func (o *options) nworkers() int {
	if o.workers > 0 {
		return o.workers
	}
	return runtime.GOMAXPROCS(0)
}

func applyOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	if o.metric != InnerProduct && o.metric != Cosine {
		return o, fmt.Errorf("%w: metric %v", ErrInvalid, o.metric)
	}
	if o.iters < 0 || o.maxPerCentr < 0 || o.rerank < 0 || o.pqM < 0 {
		return o, fmt.Errorf("%w: negative training parameter", ErrInvalid)
	}
	if o.pqM > 0 && o.sq8 {
		return o, fmt.Errorf("%w: WithPQ and WithSQ8 together", ErrInvalid)
	}
	if o.codesOnly && o.pqM == 0 && !o.sq8 {
		return o, fmt.Errorf("%w: WithCodesOnly needs WithSQ8 or WithPQ", ErrInvalid)
	}
	return o, nil
}

// checkRows validates a row-major block of vectors against dim and returns
// the number of rows.
func checkRows(v []float32, dim int, what string) (int, error) {
	if dim <= 0 || len(v)%dim != 0 {
		return 0, fmt.Errorf("%w: %s has %d floats, not a multiple of dim %d", ErrDimension, what, len(v), dim)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, fmt.Errorf("%w: %s row %d has non-finite value %v", ErrInvalid, what, i/dim, x)
		}
	}
	return len(v) / dim, nil
}

// checkAdd validates Add's arguments: sizes, empty and repeated ids, ids
// already present (has), and finite values.
func checkAdd(ids []string, vectors []float32, dim int, has func(string) bool) error {
	n, err := checkRows(vectors, dim, "vectors")
	if err != nil {
		return err
	}
	if n != len(ids) {
		return fmt.Errorf("%w: %d ids but %d vectors of dim %d", ErrDimension, len(ids), n, dim)
	}
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if id == "" {
			return fmt.Errorf("%w: empty id", ErrInvalid)
		}
		if has(id) {
			return fmt.Errorf("%w: %q is already in the index", ErrDuplicateID, id)
		}
		if _, ok := seen[id]; ok {
			return fmt.Errorf("%w: %q given twice", ErrDuplicateID, id)
		}
		seen[id] = struct{}{}
	}
	return nil
}

// normalizeRows scales each row of v (dim floats) to unit L2 norm in place;
// zero rows are left as they are.
func normalizeRows(v []float32, dim int) {
	for off := 0; off+dim <= len(v); off += dim {
		row := v[off : off+dim]
		var s float64
		for _, x := range row {
			s += float64(x) * float64(x)
		}
		if s == 0 {
			continue
		}
		inv := float32(1 / math.Sqrt(s))
		for i := range row {
			row[i] *= inv
		}
	}
}

// prepareQueries validates queries and, for Cosine, returns a normalised
// copy.
func prepareQueries(queries []float32, dim int, m Metric, k int) ([]float32, int, error) {
	if k <= 0 {
		return nil, 0, fmt.Errorf("%w: k = %d", ErrInvalid, k)
	}
	nq, err := checkRows(queries, dim, "queries")
	if err != nil {
		return nil, 0, err
	}
	if m == Cosine {
		q := make([]float32, len(queries))
		copy(q, queries)
		normalizeRows(q, dim)
		return q, nq, nil
	}
	return queries, nq, nil
}
