package main

// Dense and hybrid retrievers of `contriever beir --method dense|hybrid`.
//
// dense: the corpus (title + " " + text) and the queries are embedded with
// the encoder (truncated to --max-length tokens, 512 by default), the corpus
// vectors go into a flat or IVF inner-product index, and each query gets its
// top k by inner product. Corpus embeddings are cached as .npy files in
// --cache-dir (default $XDG_CACHE_HOME/contriever or ~/.cache/contriever),
// keyed by the hash of the model files, the hash of the corpus (ids and
// passages), the pooling, normalisation and maximum length, so a second run
// does not re-embed.
//
// hybrid: BM25 (the bm25 method's index and flags) and dense lists of depth
// k fused by package index/fusion: normalised linear interpolation
// α·norm(dense) + (1−α)·norm(bm25) (min-max by default) or reciprocal rank
// fusion. --alpha auto picks α from fusion.AlphaGrid by nDCG@10 on the
// dataset's train qrels (dev when there is no train split), never on the
// split being evaluated.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/index/collection"
	"github.com/contriever-go/contriever/index/fusion"
	"github.com/contriever-go/contriever/index/vector"
)

func init() {
	registerBeirMethod(beirMethod{name: "dense", summary: "dense retrieval: --model DIR [--index flat|ivf --nlist N --nprobe M] [--cache-dir DIR]", flags: denseFlags})
	registerBeirMethod(beirMethod{name: "hybrid", summary: "BM25 + dense fused: --model DIR [--fusion linear|rrf] [--alpha F|auto] (plus the bm25 and dense flags)", flags: hybridFlags})
}

// denseOptions configure newDenseRetriever.
type denseOptions struct {
	Model     string // HF model folder (required)
	Index     string // "flat" (default) or "ivf"
	NList     int    // ivf lists; 0: 4·sqrt(n)
	NProbe    int    // ivf lists searched per query; 0: 8
	Seed      uint64 // ivf k-means seed; 0: default
	SQ8       bool   // ivf: 8-bit quantised scan with exact re-ranking
	PQM       int    // ivf-pq: PQ sub-quantisers; 0: vector.DefaultPQM
	Pooling   encoder.Pooling
	Normalize bool
	MaxLength int    // 0: 512
	BatchSize int    // 0: 32
	CacheDir  string // "": no cache (callers pass collection.DefaultCacheDir() for the default)
	Quiet     bool
}

// denseRetriever is a beir.Retriever over embedded corpus vectors.
type denseRetriever struct {
	pool  *collection.EncoderPool
	ix    vector.Index
	quiet bool
	// CachePath is the embedding cache file; CacheHit reports that the
	// corpus vectors came from it.
	CachePath string
	CacheHit  bool
}

// newDenseRetriever embeds the dataset's corpus (or reads it from the
// cache) and indexes it.
func newDenseRetriever(ctx context.Context, ds *beir.Dataset, o denseOptions) (*denseRetriever, error) {
	if o.Model == "" {
		return nil, errors.New("dense retrieval needs --model DIR")
	}
	if o.Index == "" {
		o.Index = "flat"
	}
	if o.Index != "flat" && o.Index != "ivf" && o.Index != "ivf-pq" {
		return nil, fmt.Errorf("--index %q: want flat, ivf or ivf-pq", o.Index)
	}
	hash, err := collection.ModelHash(o.Model)
	if err != nil {
		return nil, err
	}
	pool, err := collection.OpenEncoderPool(o.Model, encoder.Options{Pooling: o.Pooling, Normalize: o.Normalize, MaxLength: o.MaxLength, BatchSize: o.BatchSize}, 1)
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
	vecs, path, hit, err := collection.CachedEmbed(ctx, pool, hash, ids, texts, o.CacheDir, "embed corpus", o.Quiet)
	if err != nil {
		return nil, err
	}
	if !o.Quiet && path != "" {
		state := "written"
		if hit {
			state = "read"
		}
		fmt.Fprintf(os.Stderr, "dense: corpus embeddings %s %s\n", state, path)
	}
	texts = nil
	var ix vector.Index
	if o.Index == "flat" {
		ix, err = vector.NewFlat(pool.Dim())
	} else {
		nlist := o.NList
		if nlist <= 0 {
			nlist = int(math.Round(4 * math.Sqrt(float64(len(ids)))))
		}
		nlist = max(1, min(nlist, len(ids)))
		nprobe := o.NProbe
		if nprobe <= 0 {
			nprobe = 8
		}
		opts := []vector.Option{vector.WithNProbe(nprobe)}
		if o.Seed != 0 {
			opts = append(opts, vector.WithSeed(o.Seed))
		}
		if o.SQ8 {
			opts = append(opts, vector.WithSQ8())
		}
		if o.Index == "ivf-pq" {
			m := o.PQM
			if m <= 0 {
				m = vector.DefaultPQM(pool.Dim())
			}
			opts = append(opts, vector.WithPQ(m))
		}
		var ivf *vector.IVF
		if ivf, err = vector.NewIVF(pool.Dim(), nlist, opts...); err == nil {
			err = ivf.Train(vecs)
		}
		ix = ivf
	}
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if err := ix.Add(ids, vecs); err != nil {
			return nil, err
		}
	}
	return &denseRetriever{pool: pool, ix: ix, quiet: o.Quiet, CachePath: path, CacheHit: hit}, nil
}

// Describe returns the retriever's settings for `beir --json` output.
func (r *denseRetriever) Describe() map[string]any {
	o := r.pool.Options()
	d := map[string]any{"dim": r.pool.Dim(), "docs": r.ix.Len(), "pooling": o.Pooling.String(), "max_length": o.MaxLength,
		"normalize": o.Normalize, "embedding_cache": r.CachePath, "embedding_cache_hit": r.CacheHit, "vector_index": "flat"}
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
func (r *denseRetriever) Retrieve(ctx context.Context, queries []beir.Query, k int) (beir.Run, error) {
	texts := make([]string, len(queries))
	for i, q := range queries {
		texts[i] = q.Text
	}
	qv, err := collection.Embed(ctx, r.pool, texts, "embed queries", r.quiet)
	if err != nil {
		return nil, err
	}
	res, err := r.ix.Search(qv, k)
	if err != nil {
		return nil, err
	}
	run := make(beir.Run, len(queries))
	for i, q := range queries {
		hs := make([]beir.Hit, len(res[i]))
		for j, h := range res[i] {
			hs[j] = beir.Hit{DocID: h.ID, Score: float64(h.Score)}
		}
		run[q.ID] = hs
	}
	return run, nil
}

// hybridOptions configure a hybridRetriever.
type hybridOptions struct {
	Fusion string  // "linear" (default) or "rrf"
	Alpha  float64 // linear: weight of dense in [0, 1]
	Norm   fusion.Normalization
	RRFK   int // rrf constant; 0: 60
}

// hybridRetriever fuses a BM25 and a dense retriever.
type hybridRetriever struct {
	bm25, dense beir.Retriever
	o           hybridOptions
	// AlphaSplit and AlphaScore record where --alpha auto chose α and the
	// nDCG@10 it reached there.
	AlphaSplit string
	AlphaScore float64
}

// newHybridRetriever returns the fusion of bm25 and dense with o.
func newHybridRetriever(bm25, dense beir.Retriever, o hybridOptions) (*hybridRetriever, error) {
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
	return &hybridRetriever{bm25: bm25, dense: dense, o: o}, nil
}

// Describe returns the retriever's settings for `beir --json` output:
// the fusion, α and how it was chosen, and the dense part's settings.
func (h *hybridRetriever) Describe() map[string]any {
	d := map[string]any{"fusion": h.o.Fusion}
	if h.o.Fusion == "rrf" {
		d["rrf_k"] = h.o.RRFK
	} else {
		d["alpha"], d["norm"] = h.o.Alpha, h.o.Norm.String()
		if h.AlphaSplit != "" {
			d["alpha_split"], d["alpha_split_ndcg@10"] = h.AlphaSplit, h.AlphaScore
		}
	}
	if dr, ok := h.dense.(*denseRetriever); ok {
		for k, v := range dr.Describe() {
			d["dense_"+k] = v
		}
	}
	return d
}

// Retrieve implements beir.Retriever: both methods retrieve k hits per
// query, which are fused; the fused top k are kept.
func (h *hybridRetriever) Retrieve(ctx context.Context, queries []beir.Query, k int) (beir.Run, error) {
	bmRun, dRun, err := h.lists(ctx, queries, k)
	if err != nil {
		return nil, err
	}
	return fuseRuns(queries, dRun, bmRun, h.o, k)
}

func (h *hybridRetriever) lists(ctx context.Context, queries []beir.Query, k int) (bmRun, dRun beir.Run, err error) {
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

// fuseRuns fuses the dense and BM25 runs query by query and keeps k hits.
func fuseRuns(queries []beir.Query, dRun, bmRun beir.Run, o hybridOptions, k int) (beir.Run, error) {
	run := make(beir.Run, len(queries))
	for _, q := range queries {
		var res []fusion.Result
		var err error
		if o.Fusion == "rrf" {
			res, err = fusion.RRF(toFusion(dRun[q.ID]), toFusion(bmRun[q.ID]), o.RRFK)
		} else {
			res, err = fusion.Linear(toFusion(dRun[q.ID]), toFusion(bmRun[q.ID]), o.Alpha, o.Norm)
		}
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

// selectHybridAlpha picks α for linear fusion on a held-out split of the
// dataset (train, else dev; never evalSplit): it retrieves that split's
// queries with both methods once, then fuses and evaluates nDCG@10 for each
// α of fusion.AlphaGrid(steps) with fusion.SelectAlpha. It returns α, its
// nDCG@10, the split used and the number of queries.
func selectHybridAlpha(ctx context.Context, h *hybridRetriever, dir, evalSplit string, splits []string, steps, k int) (alpha, score float64, split string, nq int, err error) {
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
	o := h.o
	alpha, score, err = fusion.SelectAlpha(fusion.AlphaGrid(steps), func(a float64) (float64, error) {
		o.Alpha = a
		run, err := fuseRuns(held.Queries, dRun, bmRun, o, k)
		if err != nil {
			return 0, err
		}
		return beir.Evaluate(held.Qrels, run, metric, beir.EvalOptions{}).Mean[0], nil
	})
	return alpha, score, split, len(held.Queries), err
}

// beirDenseFlagValues are the dense flags, shared by dense and hybrid.
type beirDenseFlagValues struct {
	model, index, pooling, cacheDir *string
	nlist, nprobe, maxLen, batch    *int
	pqM                             *int
	normalize, sq8                  *bool
	seed                            *uint64
}

// beirDenseFlagSets remembers the dense flags registered on a FlagSet, so
// that dense and hybrid share them.
var beirDenseFlagSets = map[*flag.FlagSet]*beirDenseFlagValues{}

func beirDenseFlags(fs *flag.FlagSet) *beirDenseFlagValues {
	if v, ok := beirDenseFlagSets[fs]; ok {
		return v
	}
	v := &beirDenseFlagValues{
		model:     fs.String("model", "", "dense, hybrid: HF model folder (config.json, model.safetensors or pytorch_model.bin, vocab.txt)"),
		index:     fs.String("index", "flat", "dense, hybrid: vector index, flat (exact), ivf or ivf-pq (also --vector)"),
		nlist:     fs.Int("nlist", 0, "dense, hybrid: ivf lists (default 4·sqrt(docs))"),
		nprobe:    fs.Int("nprobe", 8, "dense, hybrid: ivf lists searched per query"),
		seed:      fs.Uint64("seed", 0, "dense, hybrid: ivf k-means seed (default: the vector package's)"),
		sq8:       fs.Bool("sq8", false, "dense, hybrid: ivf scans 8-bit scalar-quantised codes and re-ranks the best 4·k exactly"),
		pqM:       fs.Int("pq-m", 0, "dense, hybrid: ivf-pq sub-quantisers, dividing the dimension (default: dim/8 or the next divisor below)"),
		pooling:   fs.String("pooling", "mean", "dense, hybrid: mean (Contriever) or cls"),
		normalize: fs.Bool("normalize", false, "dense, hybrid: L2-normalise vectors (Contriever does not)"),
		maxLen:    fs.Int("max-length", encoder.DefaultMaxLength, "dense, hybrid: truncate passages and queries to N tokens"),
		batch:     fs.Int("batch-size", encoder.DefaultBatchSize, "dense, hybrid: texts per forward pass"),
		cacheDir:  fs.String("cache-dir", "", "dense, hybrid: corpus embedding cache (default $XDG_CACHE_HOME/contriever or ~/.cache/contriever; \"off\" disables)"),
	}
	fs.StringVar(v.index, "vector", "flat", "dense, hybrid: the same as --index (the name index uses)")
	beirDenseFlagSets[fs] = v
	return v
}

func (v *beirDenseFlagValues) options(quiet bool) (denseOptions, error) {
	pool, err := encoder.ParsePooling(*v.pooling)
	if err != nil {
		return denseOptions{}, err
	}
	if *v.maxLen < 2 || *v.batch < 1 {
		return denseOptions{}, errors.New("--max-length must be at least 2 and --batch-size at least 1")
	}
	cache := *v.cacheDir
	switch cache {
	case "":
		cache = collection.DefaultCacheDir()
	case "off":
		cache = ""
	}
	if *v.sq8 && *v.index != "ivf" {
		return denseOptions{}, errors.New("--sq8 needs --index ivf")
	}
	if *v.pqM != 0 && *v.index != "ivf-pq" {
		return denseOptions{}, errors.New("--pq-m needs --index ivf-pq (or --vector ivf-pq)")
	}
	return denseOptions{Model: *v.model, Index: *v.index, NList: *v.nlist, NProbe: *v.nprobe, Seed: *v.seed, SQ8: *v.sq8, PQM: *v.pqM, Pooling: pool,
		Normalize: *v.normalize, MaxLength: *v.maxLen, BatchSize: *v.batch, CacheDir: cache, Quiet: quiet}, nil
}

func denseFlags(fs *flag.FlagSet) func(ctx context.Context, ds *beir.Dataset, env beirEnv) (beir.Retriever, func() error, error) {
	v := beirDenseFlags(fs)
	return func(ctx context.Context, ds *beir.Dataset, env beirEnv) (beir.Retriever, func() error, error) {
		o, err := v.options(env.Quiet)
		if err != nil {
			return nil, nil, err
		}
		r, err := newDenseRetriever(ctx, ds, o)
		if err != nil {
			return nil, nil, err
		}
		return r, nil, nil
	}
}

// beirBM25Flags are the bm25 method's flags, which hybrid passes on.
var beirBM25Flags = []string{"k1", "b", "index-dir", "multifield", "lucene-norms"}

func hybridFlags(fs *flag.FlagSet) func(ctx context.Context, ds *beir.Dataset, env beirEnv) (beir.Retriever, func() error, error) {
	v := beirDenseFlags(fs)
	fusionName := fs.String("fusion", "linear", "hybrid: linear (normalised interpolation) or rrf (reciprocal rank fusion)")
	alphaFlag := fs.String("alpha", "0.5", "hybrid: weight of dense in linear fusion, in [0, 1], or auto (chosen by nDCG@10 on the train split, else dev; never the evaluated split)")
	normName := fs.String("norm", "minmax", "hybrid: score normalisation of linear fusion, minmax or zscore")
	rrfK := fs.Int("rrf-k", fusion.DefaultRRFK, "hybrid: rrf constant k")
	alphaSteps := fs.Int("alpha-steps", 20, "hybrid: --alpha auto tries 0, 1/N, ..., 1")
	// The BM25 half is the bm25 method itself, set up on a private flag set
	// that receives the values of the shared bm25 flags.
	bmFS := flag.NewFlagSet("hybrid-bm25", flag.ContinueOnError)
	bmSetup := bm25Flags(bmFS)
	return func(ctx context.Context, ds *beir.Dataset, env beirEnv) (beir.Retriever, func() error, error) {
		o, err := v.options(env.Quiet)
		if err != nil {
			return nil, nil, err
		}
		norm, err := fusion.ParseNormalization(*normName)
		if err != nil {
			return nil, nil, err
		}
		auto := *alphaFlag == "auto"
		alpha := 0.5
		if !auto {
			if alpha, err = strconv.ParseFloat(*alphaFlag, 64); err != nil || !(alpha >= 0 && alpha <= 1) {
				return nil, nil, fmt.Errorf("--alpha %q: want a number in [0, 1] or auto", *alphaFlag)
			}
		}
		if auto && *fusionName != "linear" {
			return nil, nil, errors.New("--alpha auto applies to --fusion linear")
		}
		if *alphaSteps < 1 {
			return nil, nil, errors.New("--alpha-steps must be at least 1")
		}
		ho := hybridOptions{Fusion: *fusionName, Alpha: alpha, Norm: norm, RRFK: *rrfK}
		if _, err := newHybridRetriever(nil, nil, ho); err != nil { // check the options before the slow parts
			return nil, nil, err
		}
		for _, name := range beirBM25Flags {
			if f := fs.Lookup(name); f != nil && env.Set(name) {
				if err := bmFS.Set(name, f.Value.String()); err != nil {
					return nil, nil, err
				}
			}
		}
		bm, cleanup, err := bmSetup(ctx, ds, env)
		if err != nil {
			return nil, nil, err
		}
		fail := func(err error) (beir.Retriever, func() error, error) {
			if cleanup != nil {
				cleanup()
			}
			return nil, nil, err
		}
		dense, err := newDenseRetriever(ctx, ds, o)
		if err != nil {
			return fail(err)
		}
		h, err := newHybridRetriever(bm, dense, ho)
		if err != nil {
			return fail(err)
		}
		if auto {
			a, score, split, nq, err := selectHybridAlpha(ctx, h, ds.Dir, ds.Split, []string{"train", "dev"}, *alphaSteps, 1000)
			if err != nil {
				return fail(err)
			}
			h.o.Alpha, h.AlphaSplit, h.AlphaScore = a, split, score
			fmt.Fprintf(os.Stderr, "hybrid: alpha %g chosen on %s (%d queries, nDCG@10 %.4f)\n", a, split, nq, score)
		}
		return h, cleanup, nil
	}
}
