package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/internal/benchstat"
)

// beirMethod is a retrieval method of `contriever beir --method NAME`.
// Methods register from init functions with registerBeirMethod.
type beirMethod struct {
	name    string
	summary string
	// flags adds the method's own flags to fs (before parsing) and returns
	// the function that, after parsing, prepares a retriever for the
	// dataset (building or loading its index). The time it takes is
	// reported as the index time. cleanup, when not nil, runs at the end.
	flags func(fs *flag.FlagSet) func(ctx context.Context, ds *beir.Dataset, env beirEnv) (r beir.Retriever, cleanup func() error, err error)
}

// beirEnv are the common settings a method's setup may use.
type beirEnv struct {
	Quiet bool
	// Set reports whether a flag was given on the command line.
	Set func(name string) bool
}

var beirMethods = map[string]beirMethod{}

// registerBeirMethod adds a `contriever beir --method` choice.
func registerBeirMethod(m beirMethod) {
	if _, dup := beirMethods[m.name]; dup {
		panic("contriever: duplicate beir method " + m.name)
	}
	beirMethods[m.name] = m
}

func init() {
	register(command{name: "beir", summary: "run a retriever on a BEIR dataset and evaluate it (BM25 on bundled SciFact by default)", run: runBeir})
	registerBeirMethod(beirMethod{name: "bm25", summary: "exact Lucene BM25 over a bleve index", flags: bm25Flags})
}

func bm25Flags(fs *flag.FlagSet) func(ctx context.Context, ds *beir.Dataset, env beirEnv) (beir.Retriever, func() error, error) {
	def := bm25.DefaultParams()
	k1 := fs.Float64("k1", def.K1, "bm25: k1 (stored in the index)")
	b := fs.Float64("b", def.B, "bm25: b (stored in the index)")
	indexDir := fs.String("index-dir", "", "bm25: index folder to reuse, or to build and keep when absent (default: a temporary folder, removed at the end)")
	multifield := fs.Bool("multifield", false, "bm25: index title and text as two fields (Pyserini multifield) instead of one (flat)")
	luceneNorms := fs.Bool("lucene-norms", false, "bm25: score with Lucene's one-byte document lengths, as Pyserini's published runs (default: exact lengths)")
	return func(ctx context.Context, ds *beir.Dataset, env beirEnv) (beir.Retriever, func() error, error) {
		params := bm25.Params{K1: *k1, B: *b}
		dir := *indexDir
		var cleanup func() error
		if dir != "" {
			if _, err := os.Stat(dir); err == nil {
				ix, err := bm25.Open(dir)
				if err != nil {
					return nil, nil, err
				}
				if (env.Set("k1") || env.Set("b")) && ix.Params() != params {
					if err := ix.SetParams(params); err != nil {
						ix.Close()
						return nil, nil, err
					}
				}
				if env.Set("lucene-norms") && ix.Stats().LuceneNorms != *luceneNorms {
					if err := ix.SetLuceneNorms(*luceneNorms); err != nil {
						ix.Close()
						return nil, nil, err
					}
				}
				return engine.BM25{Index: ix}, ix.Close, nil
			}
		} else {
			tmp, err := os.MkdirTemp("", "contriever-bm25-*")
			if err != nil {
				return nil, nil, err
			}
			dir = tmp
			cleanup = func() error { return os.RemoveAll(tmp) }
		}
		total := 0
		if !env.Quiet {
			total, _ = beir.CountLines(ds.CorpusPath)
		}
		ix, err := bm25.Build(ctx, dir, ds.Corpus, bm25.Options{Params: params, Multifield: *multifield, LuceneNorms: *luceneNorms, Quiet: env.Quiet, Total: total})
		if err != nil {
			if cleanup != nil {
				cleanup()
			}
			return nil, nil, err
		}
		return engine.BM25{Index: ix}, func() error {
			err := ix.Close()
			if cleanup != nil {
				if cerr := cleanup(); err == nil {
					err = cerr
				}
			}
			return err
		}, nil
	}
}

func runBeir(args []string) error {
	names := make([]string, 0, len(beirMethods))
	for n := range beirMethods {
		names = append(names, n)
	}
	sort.Strings(names)
	fs := newFlagSet("beir", "--data DIR [--split test] --method "+strings.Join(names, "|")+" [method flags] [--top-k 1000] [--run FILE] [--json]")
	data := fs.String("data", "data/scifact", "BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv; plain or .gz)")
	split := fs.String("split", "test", "qrels split")
	method := fs.String("method", "bm25", "retrieval method: "+strings.Join(names, ", "))
	topK := fs.Int("top-k", 1000, "hits retrieved and evaluated per query")
	runPath := fs.String("run", "", "write the run to this TREC run file")
	tag := fs.String("tag", "", "run tag written in the run file (default contriever-METHOD)")
	asJSON := fs.Bool("json", false, "print one JSON object (fractions) instead of a table")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	metricList := fs.String("metrics", "", "comma-separated metrics (default ndcg@10,recall@100,map@100,mrr@10,p@10)")
	keepSelf := fs.Bool("keep-self-hits", false, "keep hits whose doc id equals the query id (removed by default, as BEIR and Pyserini)")
	intersection := evalIntersectionFlag(fs)
	setups := make(map[string]func(context.Context, *beir.Dataset, beirEnv) (beir.Retriever, func() error, error))
	for _, n := range names {
		setups[n] = beirMethods[n].flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	setup, ok := setups[*method]
	if !ok {
		return fmt.Errorf("unknown --method %q (have %s)", *method, strings.Join(names, ", "))
	}
	if *topK < 1 {
		return errors.New("--top-k must be at least 1")
	}
	metrics, err := evalParseMetrics(*metricList)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	start := time.Now()
	ds, err := beir.Load(*data, *split)
	if err != nil {
		return err
	}
	tLoad := time.Since(start)
	t0 := time.Now()
	r, cleanup, err := setup(ctx, ds, beirEnv{Quiet: *quiet, Set: func(n string) bool { return set[n] }})
	if err != nil {
		return err
	}
	if cleanup != nil {
		defer func() {
			if cerr := cleanup(); cerr != nil {
				fmt.Fprintf(os.Stderr, "contriever beir: cleanup: %v\n", cerr)
			}
		}()
	}
	tIndex := time.Since(t0)
	br, err := beir.Bench(ctx, r, ds, beir.BenchConfig{TopK: *topK, Metrics: metrics, Eval: beir.EvalOptions{KeepSelfHits: *keepSelf, Intersection: *intersection}})
	if err != nil {
		return err
	}
	if *runPath != "" {
		t := *tag
		if t == "" {
			t = "contriever-" + *method
		}
		if err := beir.WriteRunFile(*runPath, br.Run, t); err != nil {
			return err
		}
	}
	total := time.Since(start)
	res := br.Result
	if *asJSON {
		out := evalJSON(res)
		out["dataset"] = ds.Dir
		out["split"] = ds.Split
		out["method"] = *method
		out["top_k"] = *topK
		out["load_s"] = tLoad.Seconds()
		out["index_s"] = tIndex.Seconds()
		out["retrieve_s"] = br.Retrieve.Seconds()
		out["eval_s"] = br.Evaluate.Seconds()
		out["total_s"] = total.Seconds()
		if bm, ok := r.(engine.BM25); ok {
			st := bm.Index.Stats()
			out["k1"], out["b"], out["lucene_norms"] = st.Params.K1, st.Params.B, st.LuceneNorms
			out["docs"] = st.Docs
		}
		if d, ok := r.(interface{ Describe() map[string]any }); ok { // dense, hybrid (retrievers.go)
			for k, v := range d.Describe() {
				out[k] = v
			}
		}
		return evalWriteJSON(os.Stdout, out)
	}
	desc := *method
	if bm, ok := r.(engine.BM25); ok {
		st := bm.Index.Stats()
		lengths := "exact lengths"
		if st.LuceneNorms {
			lengths = "Lucene one-byte lengths"
		}
		desc = fmt.Sprintf("bm25 (k1 %g, b %g, %s, %d docs, fields %s)", st.Params.K1, st.Params.B, lengths, st.Docs, beirFieldList(st))
	}
	fmt.Printf("dataset %s, split %s: %d queries evaluated (%s), %s\nmethod  %s, top %d\n\n", ds.Dir, ds.Split, res.Queries, evalAveraging(*intersection), evalNoHits(res), desc, *topK)
	if err := evalPrintTable(os.Stdout, res); err != nil {
		return err
	}
	qps := float64(len(ds.Queries)) / br.Retrieve.Seconds()
	fmt.Printf("\ntime    load %s, index %s, retrieve %s (%.0f queries/s), eval %s, total %s\n",
		beirRound(tLoad), beirRound(tIndex), beirRound(br.Retrieve), qps, beirRound(br.Evaluate), beirRound(total))
	if *runPath != "" {
		fmt.Printf("run     %s\n", *runPath)
	}
	return nil
}

func beirFieldList(st bm25.Stats) string {
	var parts []string
	for _, f := range st.Fields {
		parts = append(parts, fmt.Sprintf("%s avgdl %.1f", f.Name, f.AvgDL))
	}
	return strings.Join(parts, "; ")
}

func beirRound(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d
	}
}

func init() {
	registerBench(command{
		name:    "bm25",
		summary: "BM25 on a BEIR dataset: build docs/s, batched and single-query speed, vs bleve's own scorer",
		run:     runBenchBM25,
	})
}

// runBenchBM25 measures index build, batched retrieval (all cores) and
// one-query-at-a-time latency of the exact BM25 scorer, and, for contrast
// on the same index, bleve's own match-query search (its scorer, not
// Lucene BM25), each repeated; it reports medians.
func runBenchBM25(args []string) error {
	fs := newFlagSet("bench bm25", "[--data DIR] [--reps 3] [--json]")
	data := fs.String("data", "data/scifact", "BEIR dataset folder")
	split := fs.String("split", "test", "qrels split whose queries are timed")
	reps := fs.Int("reps", 3, "repetitions (medians are reported)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reps < 1 {
		return errors.New("--reps must be at least 1")
	}
	ds, err := beir.Load(*data, *split)
	if err != nil {
		return err
	}
	ndocs, err := beir.CountLines(ds.CorpusPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var buildS, batch1000S, batch10S, singleP50, singleP99, bleveP50 []float64
	for r := 0; r < *reps; r++ {
		dir, err := os.MkdirTemp("", "contriever-bench-bm25-*")
		if err != nil {
			return err
		}
		t0 := time.Now()
		ix, err := bm25.Build(ctx, dir, ds.Corpus, bm25.Options{Quiet: true})
		if err != nil {
			os.RemoveAll(dir)
			return err
		}
		buildS = append(buildS, time.Since(t0).Seconds())
		if _, err := (engine.BM25{Index: ix}).Retrieve(ctx, ds.Queries[:1], 10); err != nil { // loads the view
			return err
		}
		t0 = time.Now()
		if _, err := (engine.BM25{Index: ix}).Retrieve(ctx, ds.Queries, 1000); err != nil {
			return err
		}
		batch1000S = append(batch1000S, time.Since(t0).Seconds())
		t0 = time.Now()
		if _, err := (engine.BM25{Index: ix}).Retrieve(ctx, ds.Queries, 10); err != nil {
			return err
		}
		batch10S = append(batch10S, time.Since(t0).Seconds())
		lat := make([]float64, len(ds.Queries))
		for i, q := range ds.Queries {
			t := time.Now()
			if _, err := ix.Search(ctx, q.Text, 10); err != nil {
				return err
			}
			lat[i] = time.Since(t).Seconds()
		}
		sort.Float64s(lat)
		singleP50 = append(singleP50, lat[len(lat)/2])
		singleP99 = append(singleP99, lat[len(lat)*99/100])
		ix.Close()
		// bleve's own search on the same folder, for contrast.
		bi, err := bleve.Open(dir)
		if err != nil {
			return err
		}
		for i, q := range ds.Queries {
			mq := bleve.NewMatchQuery(q.Text)
			mq.SetField("contents")
			req := bleve.NewSearchRequestOptions(mq, 10, 0, false)
			t := time.Now()
			if _, err := bi.Search(req); err != nil {
				bi.Close()
				return err
			}
			lat[i] = time.Since(t).Seconds()
		}
		sort.Float64s(lat)
		bleveP50 = append(bleveP50, lat[len(lat)/2])
		bi.Close()
		os.RemoveAll(dir)
	}
	nq := float64(len(ds.Queries))
	out := map[string]any{
		"dataset": ds.Dir, "docs": ndocs, "queries": len(ds.Queries), "reps": *reps,
		"threads":                  runtime.GOMAXPROCS(0),
		"build_s":                  benchstat.Median(buildS),
		"build_docs_per_s":         float64(ndocs) / benchstat.Median(buildS),
		"batch_top1000_qps":        nq / benchstat.Median(batch1000S),
		"batch_top10_qps":          nq / benchstat.Median(batch10S),
		"single_top10_p50_ms":      1e3 * benchstat.Median(singleP50),
		"single_top10_p99_ms":      1e3 * benchstat.Median(singleP99),
		"bleve_match_top10_p50_ms": 1e3 * benchstat.Median(bleveP50),
	}
	if *asJSON {
		return evalWriteJSON(os.Stdout, out)
	}
	fmt.Printf("BM25 on %s: %d docs, %d queries, %d threads, medians of %d runs\n\n", ds.Dir, ndocs, len(ds.Queries), runtime.GOMAXPROCS(0), *reps)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "build (index on disk)\t%.2f s\t%.0f docs/s\n", benchstat.Median(buildS), float64(ndocs)/benchstat.Median(buildS))
	fmt.Fprintf(tw, "batched, top 1000\t%.3f s\t%.0f queries/s\n", benchstat.Median(batch1000S), nq/benchstat.Median(batch1000S))
	fmt.Fprintf(tw, "batched, top 10\t%.3f s\t%.0f queries/s\n", benchstat.Median(batch10S), nq/benchstat.Median(batch10S))
	fmt.Fprintf(tw, "one at a time, top 10\tp50 %.3f ms\tp99 %.3f ms\n", 1e3*benchstat.Median(singleP50), 1e3*benchstat.Median(singleP99))
	fmt.Fprintf(tw, "bleve match query (its scorer), top 10\tp50 %.3f ms\tratio ours/bleve %.2f\n", 1e3*benchstat.Median(bleveP50), benchstat.Median(singleP50)/benchstat.Median(bleveP50))
	return tw.Flush()
}
