package main

// Dense and hybrid retrievers of `contriever beir --method dense|hybrid`.
//
// dense: the corpus (title + " " + text) and the queries are embedded with
// the encoder following the model folder's conventions (pooling,
// normalisation, maximum length, similarity; the query prompt before each
// query, the document prompt before each passage; --pooling, --normalize,
// --max-length, --query-prompt and --doc-prompt override them), the corpus
// vectors go into a flat or IVF inner-product index (of unit vectors when
// the model normalises or compares by cosine), and each query gets its top
// k by inner product. Corpus embeddings are cached as .npy files in
// --cache-dir (default $XDG_CACHE_HOME/contriever or ~/.cache/contriever),
// keyed by the hash of the model files, the hash of the corpus (ids and
// passages), the conventions and the document prompt, so a second run does
// not re-embed.
//
// hybrid: BM25 (the bm25 method's index and flags) and dense lists of depth
// k fused by package engine/fusion: normalised linear interpolation
// α·norm(dense) + (1−α)·norm(bm25) (min-max by default) or reciprocal rank
// fusion. --alpha auto picks α from fusion.AlphaGrid by nDCG@10 on the
// dataset's train qrels (dev when there is no train split), never on the
// split being evaluated.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/engine/fusion"
)

func init() {
	registerBeirMethod(beirMethod{name: "dense", summary: "dense retrieval: --model DIR [--index flat|ivf --nlist N --nprobe M] [--cache-dir DIR]", flags: denseFlags})
	registerBeirMethod(beirMethod{name: "hybrid", summary: "BM25 + dense fused: --model DIR [--fusion linear|rrf] [--alpha F|auto] (plus the bm25 and dense flags)", flags: hybridFlags})
}

// beirDenseFlagValues reads the dense flags, shared by dense and hybrid,
// from the FlagSet they are registered on (once, by the first of the two).
type beirDenseFlagValues struct{ fs *flag.FlagSet }

func beirDenseFlags(fs *flag.FlagSet) beirDenseFlagValues {
	if fs.Lookup("model") == nil {
		fs.String("model", "", "dense, hybrid: HF model folder (config.json, model.safetensors or pytorch_model.bin, vocab.txt)")
		fs.String("index", "flat", "dense, hybrid: vector index, flat (exact), ivf or ivf-pq (also --vector)")
		fs.Var(fs.Lookup("index").Value, "vector", "dense, hybrid: the same as --index (the name index uses)")
		fs.Int("pq-m", 0, "dense, hybrid: ivf-pq sub-quantisers, dividing the dimension (default: dim/8 or the next divisor below)")
		fs.Int("nlist", 0, "dense, hybrid: ivf lists (default 4·sqrt(docs))")
		fs.Int("nprobe", 8, "dense, hybrid: ivf lists searched per query")
		fs.Uint64("seed", 0, "dense, hybrid: ivf k-means seed (default: the vector package's)")
		fs.Bool("sq8", false, "dense, hybrid: ivf scans 8-bit scalar-quantised codes and re-ranks the best 4·k exactly")
		fs.String("pooling", "", "dense, hybrid: override the folder's pooling: mean, cls, max or mean_sqrt_len (default: the folder's 1_Pooling, mean for a plain HF folder)")
		fs.Bool("normalize", false, "dense, hybrid: override the folder's normalisation (default: L2-normalise when modules.json has Normalize or the similarity is cosine; a plain HF folder does not)")
		fs.Int("max-length", 0, "dense, hybrid: override the folder's truncation of passages and queries, in tokens (default: max_seq_length, 512 for a plain HF folder)")
		addPromptFlags(fs, "dense, hybrid: ")
		fs.Int("batch-size", encoder.DefaultBatchSize, "dense, hybrid: texts per forward pass")
		fs.String("precision", "f32", "dense, hybrid: arithmetic of the encoder's linear layers, f32, bf16 or int8 (part of the embedding cache key)")
		fs.String("cache-dir", "", "dense, hybrid: corpus embedding cache (default $XDG_CACHE_HOME/contriever or ~/.cache/contriever; \"off\" disables)")
	}
	return beirDenseFlagValues{fs}
}

func (v beirDenseFlagValues) get(name string) any { return v.fs.Lookup(name).Value.(flag.Getter).Get() }

func (v beirDenseFlagValues) options(quiet bool) (engine.DenseOptions, error) {
	settings, err := modelSettings(v.fs)
	if err != nil {
		return engine.DenseOptions{}, err
	}
	batch := v.get("batch-size").(int)
	if batch < 1 {
		return engine.DenseOptions{}, errors.New("--batch-size must be at least 1")
	}
	cache := v.get("cache-dir").(string)
	switch cache {
	case "":
		cache = engine.DefaultCacheDir()
	case "off":
		cache = ""
	}
	prec, err := encoder.ParsePrecision(v.get("precision").(string))
	if err != nil {
		return engine.DenseOptions{}, err
	}
	index, sq8 := v.get("index").(string), v.get("sq8").(bool)
	if sq8 && index != "ivf" {
		return engine.DenseOptions{}, errors.New("--sq8 needs --index ivf")
	}
	pqM := v.get("pq-m").(int)
	if pqM != 0 && index != "ivf-pq" {
		return engine.DenseOptions{}, errors.New("--pq-m needs --index ivf-pq (or --vector ivf-pq)")
	}
	return engine.DenseOptions{Model: v.get("model").(string), Index: index, NList: v.get("nlist").(int), NProbe: v.get("nprobe").(int),
		Seed: v.get("seed").(uint64), SQ8: sq8, PQM: pqM, Settings: settings, BatchSize: batch,
		CacheDir: cache, Quiet: quiet, Log: os.Stderr, Precision: prec}, nil
}

func denseFlags(fs *flag.FlagSet) func(ctx context.Context, ds *beir.Dataset, env beirEnv) (beir.Retriever, func() error, error) {
	v := beirDenseFlags(fs)
	return func(ctx context.Context, ds *beir.Dataset, env beirEnv) (beir.Retriever, func() error, error) {
		o, err := v.options(env.Quiet)
		if err != nil {
			return nil, nil, err
		}
		r, err := engine.NewDense(ctx, ds, o)
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
	alphaFlag := fs.String("alpha", "", fmt.Sprintf("hybrid: weight of dense in linear fusion, in [0, 1], or auto (chosen by nDCG@10 on the train split, else dev; never the evaluated split); default: the label-free rule, %g for a model tuned on its corpus (its provenance says so), else %g", fusion.TunedAlpha, fusion.DefaultAlpha))
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
		auto, labelFree := *alphaFlag == "auto", *alphaFlag == ""
		alpha := fusion.DefaultAlpha
		if !auto && !labelFree {
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
		ho := engine.HybridOptions{Fusion: *fusionName, Alpha: alpha, Norm: norm, RRFK: *rrfK}
		if _, err := engine.NewHybrid(nil, nil, ho); err != nil { // check the options before the slow parts
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
		dense, err := engine.NewDense(ctx, ds, o)
		if err != nil {
			return fail(err)
		}
		if labelFree && *fusionName == "linear" {
			var rule string
			ho.Alpha, rule = engine.LabelFreeAlpha(dense.Embedder())
			fmt.Fprintf(os.Stderr, "hybrid: %s\n", rule)
		}
		h, err := engine.NewHybrid(bm, dense, ho)
		if err != nil {
			return fail(err)
		}
		if auto {
			a, score, split, nq, err := h.SelectAlpha(ctx, ds.Dir, ds.Split, []string{"train", "dev"}, *alphaSteps, 1000)
			if err != nil {
				return fail(err)
			}
			h.Options.Alpha, h.AlphaSplit, h.AlphaScore = a, split, score
			fmt.Fprintf(os.Stderr, "hybrid: alpha %g chosen on %s (%d queries, nDCG@10 %.4f)\n", a, split, nq, score)
		}
		return h, cleanup, nil
	}
}
