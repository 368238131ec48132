package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/contriever-go/contriever/api"
	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/internal/progress"
)

func init() {
	register(command{
		name:    "index",
		summary: "build an index folder (documents, BM25, model copy, vectors, manifest) from a corpus for `serve`",
		run:     runIndex,
	})
}

func runIndex(args []string) error {
	fs := newFlagSet("index", "--corpus PATH --model DIR --out IDX [--train 20m|static [--recipe validated|bundled|paper]] [--vector flat|ivf --nlist N --nprobe M] [--no-bm25] [--no-dense] [--batch-size 32] [--quiet]")
	corpus := fs.String("corpus", "", "BEIR corpus.jsonl[.gz], or a BEIR dataset folder holding one (required)")
	model := fs.String("model", "", "HF model folder (copied into the index); required unless --no-dense")
	out := fs.String("out", "", "index folder to create (required)")
	vec := fs.String("vector", "flat", "vector index: flat (exact), ivf or ivf-pq (product-quantised scan, exact re-rank)")
	nlist := fs.Int("nlist", 0, "ivf: number of lists (default 4·sqrt(docs))")
	nprobe := fs.Int("nprobe", 8, "ivf: lists searched per query (serve --nprobe overrides)")
	embeddings := fs.String("embeddings", "", "dense: build from vectors computed elsewhere, a float32 [n, dim] .npy (with --ids; the model still encodes queries)")
	embIDs := fs.String("ids", "", "with --embeddings: the document id of each row, one a line or a JSON array")
	pqM := fs.Int("pq-m", 0, "ivf-pq: product-quantisation sub-quantisers, dividing the dimension (default: dim/8 or the next divisor below)")
	sq8 := fs.Bool("sq8", false, "ivf: scan 8-bit scalar-quantised codes and re-rank the best 4·k exactly (faster one query at a time on large indexes; 25% more memory)")
	seed := fs.Uint64("seed", 0, "ivf: k-means seed (default: the vector package's)")
	noBM25 := fs.Bool("no-bm25", false, "no BM25 index")
	noDense := fs.Bool("no-dense", false, "no model and no vector index")
	batch := fs.Int("batch-size", encoder.DefaultBatchSize, "texts per forward pass")
	fs.Int("max-length", 0, "override the folder's truncation of passages (and queries at serve time), in tokens (default: max_seq_length, 512 for a plain HF folder)")
	fs.String("pooling", "", "override the folder's pooling: mean, cls, max or mean_sqrt_len (default: the folder's 1_Pooling, mean for a plain HF folder)")
	fs.Bool("normalize", false, "override the folder's normalisation (default: L2-normalise when modules.json has Normalize or the similarity is cosine)")
	addPromptFlags(fs, "")
	def := bm25.DefaultParams()
	k1 := fs.Float64("k1", def.K1, "bm25 k1")
	b := fs.Float64("b", def.B, "bm25 b")
	multifield := fs.Bool("multifield", false, "bm25: title and text as two fields")
	luceneNorms := fs.Bool("lucene-norms", false, "bm25: Lucene one-byte document lengths")
	cacheDir := fs.String("cache-dir", "", "corpus embedding cache (default $XDG_CACHE_HOME/contriever or ~/.cache/contriever; \"off\" disables)")
	force := fs.Bool("force", false, "replace an existing --out folder")
	evalSplit := fs.String("eval", "", "after building, evaluate BM25, dense and hybrid (α chosen on the train or dev qrels) on this qrels split of the --corpus BEIR folder and print them side by side (the quickstart: --eval test)")
	update := fs.Bool("update", false, "add (or replace) the corpus documents in the existing --out index instead of building a new one (its own model and settings are used; --model, --query-prompt, --doc-prompt, --pooling, --normalize or --max-length that differ from them are refused)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	precName := fs.String("precision", "f32", "arithmetic of the encoder's linear layers (f32, bf16 or int8), recorded in the index for serve")
	tf := registerIndexTrainFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	prec, err := encoder.ParsePrecision(*precName)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *tf.train != "" && (*noDense || *update) {
		return errors.New("--train needs the dense index (not with --no-dense or --update)")
	}
	if *corpus == "" || *out == "" || (*model == "" && !*noDense && !*update && *tf.train == "") {
		fs.Usage()
		return errors.New("--corpus, --out and --model (unless --no-dense) are required")
	}
	if *noDense && *noBM25 {
		return errors.New("--no-bm25 and --no-dense leave nothing to index")
	}
	if *batch <= 0 {
		return errors.New("--batch-size must be positive")
	}
	if *vec != "flat" && *vec != "ivf" && *vec != "ivf-pq" {
		return fmt.Errorf("--vector %q: want flat, ivf or ivf-pq", *vec)
	}
	if (*embeddings == "") != (*embIDs == "") || (*embeddings != "" && (*noDense || *update)) {
		return errors.New("--embeddings and --ids go together, and need a dense index (not --no-dense or --update)")
	}
	if *pqM != 0 && *vec != "ivf-pq" {
		return errors.New("--pq-m needs --vector ivf-pq")
	}
	if *sq8 && *vec == "ivf-pq" {
		return errors.New("--sq8 and --vector ivf-pq exclude each other")
	}
	settings, err := modelSettings(fs)
	if err != nil {
		return err
	}
	path := *corpus
	if st, err := os.Stat(path); err != nil {
		return err
	} else if *evalSplit != "" && !st.IsDir() {
		return errors.New("--eval needs --corpus to be a BEIR dataset folder (with queries.jsonl and qrels/)")
	} else if st.IsDir() {
		if path, err = beir.FindFile(path, "corpus.jsonl"); err != nil {
			return err
		}
	}
	cache := *cacheDir
	switch cache {
	case "":
		cache = engine.DefaultCacheDir()
	case "off":
		cache = ""
	}
	if *noDense {
		cache = ""
	}
	total := 0
	if !*quiet {
		total, _ = beir.CountLines(path)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *quiet {
		logger = nil
	}
	start := time.Now()
	if *update {
		return indexUpdate(ctx, *out, path, total, *quiet, logger, engine.OpenOptions{Logger: logger, Model: *model, Settings: settings})
	}
	var training *engine.TrainingInfo
	if *tf.train != "" {
		if _, err := os.Stat(*out); err == nil && !*force {
			return fmt.Errorf("index %s: %w (remove it or pass --force)", *out, engine.ErrExists)
		}
		dir, info, err := indexTrain(ctx, tf, path, *model, *out, *force, *quiet)
		if err != nil {
			return err
		}
		*model, training = dir, info
		fmt.Printf("trained %s (recipe %s, %d steps, %s) in %s\n", dir, info.Recipe, info.Steps, info.Init, time.Duration(info.Seconds*float64(time.Second)).Round(time.Second))
	}
	m, err := engine.Build(ctx, *out, func(fn func(beir.Doc) error) error { return beir.ReadCorpus(path, fn) }, engine.BuildOptions{
		Model: *model, NoBM25: *noBM25, NoDense: *noDense,
		Vector: *vec, NList: *nlist, NProbe: *nprobe, Seed: *seed, SQ8: *sq8, PQM: *pqM,
		Settings: settings, BatchSize: *batch,
		BM25:     bm25.Options{Params: bm25.Params{K1: *k1, B: *b}, Multifield: *multifield, LuceneNorms: *luceneNorms, Total: total},
		Vectors:  vectorsFrom(*embeddings, *embIDs),
		CacheDir: cache, Overwrite: *force, Quiet: *quiet, Logger: logger, Training: training,
		Precision: prec,
	})
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(*out)
	fmt.Printf("index %s: %d documents", abs, m.Docs)
	if m.BM25 != nil {
		fmt.Printf(", bm25 (k1 %g, b %g)", m.BM25.K1, m.BM25.B)
	}
	if m.Vectors != nil {
		fmt.Printf(", %s vectors of dimension %d", m.Vectors.Type, m.Model.Dim)
		if m.Model.Arithmetic != "" {
			fmt.Printf(" (%s)", m.Model.Arithmetic)
		}
		if m.Vectors.Type == "ivf" || m.Vectors.Type == "ivf-pq" {
			fmt.Printf(" (nlist %d, nprobe %d", m.Vectors.NList, m.Vectors.NProbe)
			if m.Vectors.SQ8 {
				fmt.Print(", SQ8")
			}
			if m.Vectors.PQM > 0 {
				fmt.Printf(", PQ m %d", m.Vectors.PQM)
			}
			fmt.Print(")")
		}
	}
	fmt.Printf(", built in %s\n", time.Since(start).Round(10*time.Millisecond))
	if m.Model != nil && m.Model.Embedded != nil {
		e := m.Model.Embedded
		fmt.Printf("embedding throughput: %.1f docs/s (%d docs in %.1fs; model %s, dim %d, pooling %s, max-length %d, batch %d, %d threads)\n",
			e.DocsPerS, e.Docs, e.Seconds, m.Model.Hash[:min(12, len(m.Model.Hash))], m.Model.Dim, m.Model.Pooling, m.Model.MaxLength, e.BatchSize, e.Threads)
	}
	if *evalSplit != "" {
		return indexEval(ctx, *out, *corpus, *evalSplit, *quiet)
	}
	return nil
}

// indexEval evaluates the methods of a freshly built index folder on a BEIR
// split: BM25, dense, and hybrid with linear fusion whose α is chosen on
// the train (else dev) qrels, printed side by side.
func indexEval(ctx context.Context, dir, data, split string, quiet bool) error {
	ds, err := beir.Load(data, split)
	if err != nil {
		return err
	}
	c, err := engine.Open(ctx, dir, engine.OpenOptions{})
	if err != nil {
		return err
	}
	defer c.Close()
	type row struct {
		name string
		r    beir.Retriever
	}
	var rows []row
	var bm, dense beir.Retriever
	if c.BM25() != nil {
		bm = engine.BM25{Index: c.BM25()}
		rows = append(rows, row{"bm25", bm})
	}
	if c.Vectors() != nil {
		dense = c.Dense()
		rows = append(rows, row{"dense", dense})
	}
	note := ""
	if bm != nil && dense != nil {
		lfAlpha, lfRule := engine.LabelFreeAlpha(c.Encoder())
		h, err := engine.NewHybrid(bm, dense, engine.HybridOptions{Alpha: lfAlpha})
		if err != nil {
			return err
		}
		a, score, held, nq, err := h.SelectAlpha(ctx, data, split, []string{"train", "dev"}, 20, 1000)
		if err != nil {
			note = fmt.Sprintf("hybrid: %s, recorded in the index as serve's default (no α chosen on qrels: %v)", lfRule, err)
		} else {
			h.Options.Alpha = a
			note = fmt.Sprintf("hybrid: linear fusion, min-max, α %g chosen on %s (%d queries, nDCG@10 %.4f); recorded in the index as serve's default", a, held, nq, score)
			if err := c.SetHybrid(engine.HybridInfo{Alpha: a, Norm: "minmax", Split: held, Queries: nq, NDCG10: score, Depth: 1000, Data: data}); err != nil {
				return err
			}
		}
		rows = append(rows, row{"hybrid", h})
	}
	metrics := []beir.Metric{{Measure: beir.NDCG, K: 10}, {Measure: beir.Recall, K: 100}, {Measure: beir.MRR, K: 10}}
	fmt.Printf("\n%s, split %s (%d queries), top 1000:\n", data, split, len(ds.Queries))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "method\tnDCG@10\tRecall@100\tMRR@10\tretrieve\t\n")
	for _, r := range rows {
		br, err := beir.Bench(ctx, r.r, ds, beir.BenchConfig{TopK: 1000, Metrics: metrics})
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%s\t\n", r.name, br.Result.Mean[0], br.Result.Mean[1], br.Result.Mean[2], br.Retrieve.Round(time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if note != "" {
		fmt.Println(note)
	}
	return nil
}

// indexUpdate adds the documents of a corpus to an existing index folder
// (replacing those with the same ids), as POST /docs does, then flushes.
// The documents are durable batch by batch: an interrupted update leaves
// the index valid, holding the batches done.
func indexUpdate(ctx context.Context, dir, corpus string, total int, quiet bool, logger *slog.Logger, oo engine.OpenOptions) error {
	c, err := engine.Open(ctx, dir, oo)
	if err != nil {
		return err
	}
	b, err := c.Backend()
	if err != nil {
		c.Close()
		return err
	}
	defer b.Close()
	bar := progress.New("update", int64(total), "docs", quiet)
	var batch []api.Document
	n := 0
	put := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := b.PutDocs(ctx, batch); err != nil {
			return err
		}
		bar.Add(int64(len(batch)))
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err = beir.ReadCorpus(corpus, func(d beir.Doc) error {
		batch = append(batch, api.Document{ID: d.ID, Title: d.Title, Text: d.Text})
		if len(batch) == 256 {
			return put()
		}
		return nil
	})
	if err == nil {
		err = put()
	}
	bar.Finish()
	if ferr := b.Flush(context.Background()); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	fmt.Printf("index %s: %d documents added or replaced, %d in all\n", dir, n, c.Store().Len())
	return nil
}
