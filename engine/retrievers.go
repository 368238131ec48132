package engine

// The retrievers of the project as beir.Retriever: BM25 (an index/bm25
// index), dense (the corpus embedded with the encoder into a flat or IVF
// inner-product index, embeddings cached as .npy files keyed by the model,
// the corpus and the encoder options) and hybrid (both lists fused by
// package engine/fusion, with α chosen on held-out qrels by SelectAlpha).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/index/vector"
)

// BM25 is a beir.Retriever over a BM25 index.
type BM25 struct {
	Index *bm25.Index
}

// Retrieve answers a batch of queries on all cores. Every query has an
// entry in the run, empty when nothing matched.
func (r BM25) Retrieve(ctx context.Context, queries []beir.Query, k int) (beir.Run, error) {
	results, err := r.Index.SearchBatch(ctx, beir.Texts(queries), k)
	if err != nil {
		var qe *bm25.QueryError
		if errors.As(err, &qe) {
			return nil, fmt.Errorf("query %q: %w", queries[qe.Index].ID, qe.Err)
		}
		return nil, err
	}
	return beir.RunOf(queries, results), nil
}

// DenseOptions configure NewDense.
type DenseOptions struct {
	Model  string // model folder: HF, sentence-transformers or static (required; OpenModel)
	Index  string // "flat" (default), "ivf" or "ivf-pq"
	NList  int    // ivf lists; 0: 4·sqrt(n) (IVFLists)
	NProbe int    // ivf lists searched per query; 0: DefaultNProbe
	Seed   uint64 // ivf k-means seed; 0: default
	SQ8    bool   // ivf: 8-bit quantised scan with exact re-ranking
	// PQM: "ivf-pq" sub-quantisers; 0: vector.DefaultPQM.
	PQM int
	// Settings override the model folder's conventions (pooling,
	// normalisation, maximum length, query and document prompts).
	Settings  ModelSettings
	BatchSize int    // 0: 32
	CacheDir  string // "": no cache (callers pass DefaultCacheDir() for the default)
	Quiet     bool
	// Log receives the line naming the embedding cache file (nil: none).
	Log io.Writer
	// Precision of the encoder's linear layers (f32 by default); part of
	// the embedding cache key.
	Precision encoder.Precision
}

// Dense is a beir.Retriever over embedded corpus vectors.
type Dense struct {
	pool  Embedder
	ix    vector.Index
	quiet bool
	// CachePath is the embedding cache file; CacheHit reports that the
	// corpus vectors came from it.
	CachePath string
	CacheHit  bool
}

// NewDense embeds the dataset's corpus (or reads it from the cache) and
// indexes it.
func NewDense(ctx context.Context, ds *beir.Dataset, o DenseOptions) (*Dense, error) {
	if o.Model == "" {
		return nil, errors.New("dense retrieval needs --model DIR")
	}
	if o.Index == "" {
		o.Index = "flat"
	}
	if o.Index != "flat" && o.Index != "ivf" && o.Index != "ivf-pq" {
		return nil, fmt.Errorf("--index %q: want flat, ivf or ivf-pq", o.Index)
	}
	hash, err := ModelHash(o.Model)
	if err != nil {
		return nil, err
	}
	pool, err := OpenModelAt(o.Model, o.Settings, o.BatchSize, 1, o.Precision)
	if err != nil {
		return nil, err
	}
	var ids, texts []string
	if err := ds.Corpus(func(d beir.Doc) error {
		ids = append(ids, d.ID)
		texts = append(texts, d.Passage())
		return nil
	}); err != nil {
		return nil, err
	}
	vecs, path, hit, err := CachedEmbed(ctx, pool, hash, ids, texts, o.CacheDir, "embed corpus", o.Quiet)
	if err != nil {
		return nil, err
	}
	if !o.Quiet && path != "" && o.Log != nil {
		state := "written"
		if hit {
			state = "read"
		}
		fmt.Fprintf(o.Log, "dense: corpus embeddings %s %s\n", state, path)
	}
	texts = nil
	ix, err := NewVectorIndex(pool.Dim(), ids, vecs, &VecInfo{Type: o.Index, NList: o.NList, NProbe: o.NProbe, SQ8: o.SQ8, PQM: o.PQM}, o.Seed)
	if err != nil {
		return nil, err
	}
	return &Dense{pool: pool, ix: ix, quiet: o.Quiet, CachePath: path, CacheHit: hit}, nil
}

// Embedder returns the retriever's model.
func (r *Dense) Embedder() Embedder { return r.pool }

// Describe returns the retriever's settings for `beir --json` output.
func (r *Dense) Describe() map[string]any {
	c := ConventionsOf(r.pool)
	d := map[string]any{"model_kind": r.pool.Kind(), "dim": r.pool.Dim(), "docs": r.ix.Len(), "pooling": c.Pooling.String(), "max_length": c.MaxLength,
		"normalize": c.Normalize, "similarity": string(c.Similarity), "query_prompt": c.QueryPrompt, "doc_prompt": c.DocPrompt,
		"embedding_cache": r.CachePath, "embedding_cache_hit": r.CacheHit, "vector_index": "flat",
		"precision": r.pool.Options().Precision.Arithmetic()}
	if p, ok := r.ix.(*vector.IVF); ok {
		d["vector_index"], d["nlist"], d["nprobe"] = "ivf", p.NList(), p.NProbe()
		if p.SQ8() {
			d["sq8"], d["rerank"] = true, p.Rerank()
		}
		if p.PQ() > 0 {
			d["vector_index"], d["pq_m"], d["rerank"] = "ivf-pq", p.PQ(), p.Rerank()
		}
	}
	return d
}

// Retrieve implements beir.Retriever: it embeds the queries and returns
// each one's top k by inner product.
func (r *Dense) Retrieve(ctx context.Context, queries []beir.Query, k int) (beir.Run, error) {
	qv, err := EmbedQueries(ctx, r.pool, beir.Texts(queries), "embed queries", r.quiet)
	if err != nil {
		return nil, err
	}
	qids := make([]string, len(queries))
	for i, q := range queries {
		qids[i] = q.ID
	}
	return searchRun(r.ix, qids, qv, k)
}

// searchRun searches ix with the query vectors (flat, row i for qids[i])
// and returns the top k of each as a run.
func searchRun(ix vector.Index, qids []string, queries []float32, k int) (beir.Run, error) {
	res, err := SearchVectors(ix, queries, k)
	if err != nil {
		return nil, err
	}
	run := make(beir.Run, len(qids))
	for i, qid := range qids {
		run[qid] = res[i]
	}
	return run, nil
}

// SearchVectors searches ix with the query vectors (flat, Dim() floats a
// row) and returns the top k of each as hits, best first.
func SearchVectors(ix vector.Index, queries []float32, k int) ([][]beir.Hit, error) {
	res, err := ix.Search(queries, k)
	if err != nil {
		return nil, err
	}
	out := make([][]beir.Hit, len(res))
	for i, rs := range res {
		hs := make([]beir.Hit, len(rs))
		for j, h := range rs {
			hs[j] = beir.Hit{DocID: h.ID, Score: float64(h.Score)}
		}
		out[i] = hs
	}
	return out, nil
}

// ExactRun is dense retrieval over vectors already computed: the document
// vectors (flat, dim floats per row, row i for docIDs[i]) go into a flat
// inner-product index and each query vector (row i for qids[i]) gets its
// top k.
func ExactRun(dim int, docIDs []string, docs []float32, qids []string, queries []float32, k int) (beir.Run, error) {
	ix, err := vector.NewFlat(dim)
	if err != nil {
		return nil, err
	}
	if err := ix.Add(docIDs, docs); err != nil {
		return nil, err
	}
	return searchRun(ix, qids, queries, k)
}

// HybridOptions configure a Hybrid.
type HybridOptions struct {
	Fusion string  // "linear" (default) or "rrf"
	Alpha  float64 // linear: weight of dense in [0, 1]
	Norm   fusion.Normalization
	RRFK   int // rrf constant; 0: 60
}

// Hybrid fuses a BM25 and a dense retriever.
type Hybrid struct {
	bm25, dense beir.Retriever
	// Options are the fusion settings; SelectAlpha's choice may be stored
	// in Options.Alpha.
	Options HybridOptions
	// AlphaSplit and AlphaScore record where α was chosen and the nDCG@10
	// it reached there.
	AlphaSplit string
	AlphaScore float64
}

// NewHybrid returns the fusion of bm25 and dense with o.
func NewHybrid(bm25, dense beir.Retriever, o HybridOptions) (*Hybrid, error) {
	if o.Fusion == "" {
		o.Fusion = "linear"
	}
	if o.Fusion != "linear" && o.Fusion != "rrf" {
		return nil, fmt.Errorf("--fusion %q: want linear or rrf", o.Fusion)
	}
	if !(o.Alpha >= 0 && o.Alpha <= 1) {
		return nil, fmt.Errorf("--alpha %g: %w", o.Alpha, fusion.ErrAlpha)
	}
	if o.RRFK == 0 {
		o.RRFK = fusion.DefaultRRFK
	}
	return &Hybrid{bm25: bm25, dense: dense, Options: o}, nil
}

// Describe returns the retriever's settings for `beir --json` output:
// the fusion, α and how it was chosen, and the dense part's settings.
func (h *Hybrid) Describe() map[string]any {
	d := map[string]any{"fusion": h.Options.Fusion}
	if h.Options.Fusion == "rrf" {
		d["rrf_k"] = h.Options.RRFK
	} else {
		d["alpha"], d["norm"] = h.Options.Alpha, h.Options.Norm.String()
		if h.AlphaSplit != "" {
			d["alpha_split"], d["alpha_split_ndcg@10"] = h.AlphaSplit, h.AlphaScore
		}
	}
	if dr, ok := h.dense.(*Dense); ok {
		for k, v := range dr.Describe() {
			d["dense_"+k] = v
		}
	}
	return d
}

// Retrieve implements beir.Retriever: both methods retrieve k hits per
// query, which are fused; the fused top k are kept.
func (h *Hybrid) Retrieve(ctx context.Context, queries []beir.Query, k int) (beir.Run, error) {
	bmRun, dRun, err := h.lists(ctx, queries, k)
	if err != nil {
		return nil, err
	}
	return FuseRuns(queries, dRun, bmRun, h.Options, k)
}

func (h *Hybrid) lists(ctx context.Context, queries []beir.Query, k int) (bmRun, dRun beir.Run, err error) {
	if bmRun, err = h.bm25.Retrieve(ctx, queries, k); err != nil {
		return nil, nil, fmt.Errorf("hybrid, bm25 part: %w", err)
	}
	if dRun, err = h.dense.Retrieve(ctx, queries, k); err != nil {
		return nil, nil, fmt.Errorf("hybrid, dense part: %w", err)
	}
	return bmRun, dRun, nil
}

func toFusion(hs []beir.Hit) []fusion.Hit {
	out := make([]fusion.Hit, len(hs))
	for i, h := range hs {
		out[i] = fusion.Hit{ID: h.DocID, Score: h.Score}
	}
	return out
}

// Fuse fuses one query's dense and BM25 lists with o (the one fusion
// dispatch of the project: linear with o.Alpha and o.Norm, or RRF with
// o.RRFK).
func Fuse(dense, bm25 []fusion.Hit, o HybridOptions) ([]fusion.Result, error) {
	if o.Fusion == "rrf" {
		return fusion.RRF(dense, bm25, o.RRFK)
	}
	return fusion.Linear(dense, bm25, o.Alpha, o.Norm)
}

// FuseRuns fuses the dense and BM25 runs query by query and keeps k hits.
func FuseRuns(queries []beir.Query, dRun, bmRun beir.Run, o HybridOptions, k int) (beir.Run, error) {
	run := make(beir.Run, len(queries))
	for _, q := range queries {
		res, err := Fuse(toFusion(dRun[q.ID]), toFusion(bmRun[q.ID]), o)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.ID, err)
		}
		if len(res) > k {
			res = res[:k]
		}
		hs := make([]beir.Hit, len(res))
		for i, r := range res {
			hs[i] = beir.Hit{DocID: r.ID, Score: r.Score}
		}
		run[q.ID] = hs
	}
	return run, nil
}

// SelectAlpha picks α for linear fusion on a held-out split of the dataset
// in dir (the first of splits that loads, never evalSplit): it retrieves
// that split's queries with both methods once, then fuses and evaluates
// nDCG@10 for each α of fusion.AlphaGrid(steps) with fusion.SelectAlpha.
// It returns α, its nDCG@10, the split used and the number of queries.
func (h *Hybrid) SelectAlpha(ctx context.Context, dir, evalSplit string, splits []string, steps, k int) (alpha, score float64, split string, nq int, err error) {
	var held *beir.Dataset
	var tried []string
	for _, s := range splits {
		if s == evalSplit {
			continue
		}
		tried = append(tried, s)
		if d, lerr := beir.Load(dir, s); lerr == nil {
			held, split = d, s
			break
		}
	}
	if held == nil {
		return 0, 0, "", 0, fmt.Errorf("--alpha auto: no held-out qrels in %s (tried %s; the evaluated split %q is never used)", dir, strings.Join(tried, ", "), evalSplit)
	}
	bmRun, dRun, err := h.lists(ctx, held.Queries, k)
	if err != nil {
		return 0, 0, "", 0, err
	}
	metric := []beir.Metric{{Measure: beir.NDCG, K: 10}}
	o := h.Options
	alpha, score, err = fusion.SelectAlpha(fusion.AlphaGrid(steps), func(a float64) (float64, error) {
		o.Alpha = a
		run, err := FuseRuns(held.Queries, dRun, bmRun, o, k)
		if err != nil {
			return 0, err
		}
		return beir.Evaluate(held.Qrels, run, metric, beir.EvalOptions{}).Mean[0], nil
	})
	return alpha, score, split, len(held.Queries), err
}

// Dense returns the dense retriever over the collection's encoder and
// vectors (quiet), or nil when the collection has no vectors.
func (c *Collection) Dense() *Dense {
	if c.vec == nil {
		return nil
	}
	return &Dense{pool: c.pool, ix: c.vec, quiet: true}
}
