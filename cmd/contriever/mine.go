package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/finetune"
	"github.com/contriever-go/contriever/internal/atomicfile"
	"github.com/contriever-go/contriever/internal/progress"
)

func init() {
	register(command{
		name:    "mine",
		summary: "mine hard negatives (BM25 or dense) for fine-tuning data; writes DPR-style JSONL",
		run:     runMine,
	})
}

// mineArgs are the settings of `contriever mine`.
type mineArgs struct {
	data, split, corpus    string
	retriever, model       string
	depth, skipTop, random int
	out                    string
	maxLength, batchSize   int
	indexDir               string
	seed                   uint64
	quiet                  bool
	log                    io.Writer // nil: stderr unless quiet
	// prompts override the model's query and document prompts
	// (--query-prompt, --doc-prompt; nil: the folder's).
	queryPrompt, docPrompt *string
}

const mineUsage = "--data DIR|FILE [--split train] --retriever bm25|dense [--model DIR] [--depth 100] [--skip-top N] [--random-negatives N] [--out FILE.jsonl] [--quiet]"

func runMine(args []string) error {
	fs := newFlagSet("mine", mineUsage)
	var a mineArgs
	fs.StringVar(&a.data, "data", "", "training data: a BEIR dataset folder (corpus + queries + qrels/<split>.tsv), an MS MARCO folder (collection.tsv, queries.<split>.tsv, qrels.<split>.tsv), a triples .tsv, or DPR .json/.jsonl (required)")
	fs.StringVar(&a.split, "split", "train", "split of a BEIR or MS MARCO folder")
	fs.StringVar(&a.corpus, "corpus", "", "extra passages to retrieve from (a BEIR folder or corpus.jsonl, or a collection.tsv); default: the data's own corpus or passages")
	fs.StringVar(&a.retriever, "retriever", "bm25", "bm25 (exact Lucene BM25, k1 0.9, b 0.4) or dense (--model, inner product over a flat index)")
	fs.StringVar(&a.model, "model", "", "dense: model folder: HF, sentence-transformers (its pooling, normalisation and prompts are followed) or static (modules.json)")
	fs.IntVar(&a.depth, "depth", 100, "passages retrieved per query; judged positives among them are dropped")
	fs.IntVar(&a.skipTop, "skip-top", 0, "drop the N best remaining passages too (likely unjudged positives)")
	fs.IntVar(&a.random, "random-negatives", 0, "also write N random passages (not positives, not retrieved) as negative_ctxs per query")
	fs.StringVar(&a.out, "out", "-", "output JSONL file (written atomically), - for stdout")
	fs.IntVar(&a.maxLength, "max-length", 256, "dense: tokens per passage and query ([CLS]/[SEP] included)")
	fs.IntVar(&a.batchSize, "batch-size", 64, "dense: texts per forward pass")
	fs.StringVar(&a.indexDir, "index-dir", "", "bm25: keep the index in this new folder (default: a temporary folder, removed at the end)")
	fs.Uint64Var(&a.seed, "seed", 1, "seed of the random negatives")
	fs.BoolVar(&a.quiet, "quiet", false, "no progress on stderr")
	addPromptFlags(fs, "dense: ")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ms, err := modelSettings(fs)
	if err != nil {
		return err
	}
	a.queryPrompt, a.docPrompt = ms.QueryPrompt, ms.DocPrompt
	if a.data == "" {
		fs.Usage()
		return errors.New("--data is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return mine(ctx, a)
}

// mineLoadSet loads training data and any extra corpus.
func mineLoadSet(path, split, corpus string) (*finetune.Set, error) {
	set, err := finetune.Load(path, split)
	if err != nil {
		return nil, err
	}
	if corpus != "" {
		if _, err := set.AddCorpus(corpus); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// mineSearcher prepares the retriever over set's passages; close releases
// it. dense follows the model folder's conventions with the prompts of
// settings (nil: the folder's), truncating at maxLength tokens or the
// folder's maximum length if shorter.
func mineSearcher(ctx context.Context, set *finetune.Set, retriever, model, indexDir string, maxLength, batchSize int, quiet bool, settings engine.ModelSettings) (s finetune.Searcher, closeFn func() error, err error) {
	switch retriever {
	case "bm25":
		dir := indexDir
		cleanup := func() error { return nil }
		if dir == "" {
			if dir, err = os.MkdirTemp("", "contriever-mine-*"); err != nil {
				return nil, nil, err
			}
			tmp := dir
			cleanup = func() error { return os.RemoveAll(tmp) }
		}
		ix, err := finetune.BuildBM25(ctx, dir, set, quiet)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		return ix, func() error { return errors.Join(ix.Close(), cleanup()) }, nil
	case "dense":
		if model == "" {
			return nil, nil, errors.New("--retriever dense needs --model")
		}
		if f, err := engine.ReadModel(model, settings); err == nil {
			settings.MaxLength = min(maxLength, f.Conventions.MaxLength)
		} else {
			settings.MaxLength = maxLength
		}
		enc, err := engine.OpenModel(model, settings, batchSize, 1)
		if err != nil {
			return nil, nil, err
		}
		texts := make([]string, len(set.Passages))
		for i, p := range set.Passages {
			texts[i] = p.Passage()
		}
		vecs, err := engine.Embed(ctx, enc, texts, engine.ConventionsOf(enc).DocPrompt, "embed", quiet)
		if err != nil {
			enc.Close()
			return nil, nil, err
		}
		d, err := finetune.NewDenseFromVectors(enc, vecs)
		if err != nil {
			enc.Close()
			return nil, nil, err
		}
		return d, func() error { enc.Close(); return nil }, nil
	}
	return nil, nil, fmt.Errorf("unknown --retriever %q (want bm25 or dense)", retriever)
}

// mineWrite writes the mined records as JSONL to path (- for stdout).
func mineWrite(path string, set *finetune.Set, mined []finetune.Mined) error {
	fill := func(w io.Writer) error { return finetune.WriteMined(w, set, mined) }
	if path == "-" || path == "" {
		return fill(os.Stdout)
	}
	return atomicfile.Write(path, fill)
}

func mine(ctx context.Context, a mineArgs) error {
	logw := a.log
	if logw == nil {
		logw = os.Stderr
	}
	if a.quiet {
		logw = io.Discard
	}
	if a.depth < 1 || a.skipTop < 0 || a.random < 0 {
		return fmt.Errorf("--depth %d must be positive, --skip-top %d and --random-negatives %d not negative", a.depth, a.skipTop, a.random)
	}
	start := time.Now()
	set, err := mineLoadSet(a.data, a.split, a.corpus)
	if err != nil {
		return err
	}
	fmt.Fprintf(logw, "mine: %s\n", set.Stats())
	s, closeFn, err := mineSearcher(ctx, set, strings.ToLower(a.retriever), a.model, a.indexDir, a.maxLength, a.batchSize, a.quiet,
		engine.ModelSettings{QueryPrompt: a.queryPrompt, DocPrompt: a.docPrompt})
	if err != nil {
		return err
	}
	defer closeFn()
	bar := progress.New("mine", int64(len(set.Examples)), "queries", a.quiet)
	last := 0
	mined, err := finetune.Mine(ctx, set, s, finetune.MineOptions{Depth: a.depth, SkipTop: a.skipTop, Random: a.random, Seed: a.seed,
		Progress: func(done int) { bar.Add(int64(done - last)); last = done }})
	bar.Finish()
	if err != nil {
		return err
	}
	if err := mineWrite(a.out, set, mined); err != nil {
		return err
	}
	var hard, dropped, empty int
	for _, m := range mined {
		hard += len(m.Hard)
		dropped += m.Dropped
		if len(m.Hard) == 0 {
			empty++
		}
	}
	fmt.Fprintf(logw, "mine: %d queries, %.1f hard negatives per query (%d without any), %d retrieved positives dropped, %s\n",
		len(mined), float64(hard)/float64(max(len(mined), 1)), empty, dropped, time.Since(start).Round(time.Millisecond))
	return nil
}
