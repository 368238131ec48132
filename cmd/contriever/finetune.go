package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/finetune"
)

func init() {
	register(command{
		name:    "finetune",
		summary: "supervised fine-tuning (in-batch + one hard/random negative per query; MS MARCO recipe)",
		run:     runFinetune,
	})
}

// finetuneArgs are the settings of `contriever finetune`.
type finetuneArgs struct {
	runFlags
	initDir, train, split, corpus, out string
	hardRatio                          float64
	skipHard                           int
	maxLength                          int
	evalHybrid                         bool
	twoPhase                           bool
	phase1Steps                        int64
	mineDepth, mineSkip                int
	log                                io.Writer // nil: stderr unless quiet
	// queryPrompt and docPrompt override the --init model's prompts
	// (--query-prompt, --doc-prompt; nil: the folder's).
	queryPrompt, docPrompt *string
}

const finetuneUsage = "--init DIR --train FILE|DIR --out DIR [--hard-ratio 0.1] [--steps N] [--batch-size B] [--accum K] [--lr 1e-5] [--warmup N] [--temperature 0.05] [--max-length 256] [--resume] [--eval-data DIR --eval-split dev] [--two-phase [--corpus PATH]] [--seed S] [--quiet]"

func runFinetune(args []string) error {
	fs := newFlagSet("finetune", finetuneUsage)
	var a finetuneArgs
	a.register(fs, runDefaults{steps: 20000, stepsHelp: "optimiser steps (each phase with --two-phase); 0 with --eval-data only evaluates --init", lr: 1e-5, evalSplit: "dev",
		batchHelp: "queries per micro-batch (each with its positive and one negative; all passages of the batch are negatives of the other queries)",
		accumHelp: "micro-batches accumulated per optimiser step",
		seedHelp:  "seed of the data order, the negatives and dropout"})
	fs.StringVar(&a.initDir, "init", "", "HF model folder to start from (config.json, weights, vocab.txt or tokenizer.json), e.g. the unsupervised model (required)")
	fs.StringVar(&a.train, "train", "", "training data: DPR .json/.jsonl (e.g. from contriever mine), an MS MARCO folder (collection.tsv, queries.<split>.tsv, qrels.<split>.tsv), a triples .tsv, or a BEIR folder (required)")
	fs.StringVar(&a.split, "split", "train", "split of an MS MARCO or BEIR folder")
	fs.StringVar(&a.corpus, "corpus", "", "passages for random negatives (and for --two-phase mining): a BEIR folder or corpus.jsonl, or a collection.tsv; default: the training data's own passages")
	fs.StringVar(&a.out, "out", "", "output folder: model/ (HF folder), state.bin (resumable), train.csv, train.png; --two-phase adds phase1/ (required)")
	fs.Float64Var(&a.hardRatio, "hard-ratio", 0.1, "probability that a query's extra negative is one of its hard negatives (else random)")
	fs.IntVar(&a.skipHard, "skip-hard", 0, "ignore the first N hard negatives of each query")
	fs.IntVar(&a.maxLength, "max-length", 256, "tokens per query and passage, [CLS]/[SEP] included")
	fs.BoolVar(&a.evalHybrid, "eval-hybrid", false, "evaluation: also log hybrid metrics (RRF k=60 of the dense and BM25 top 100; BM25 indexed once)")
	fs.BoolVar(&a.twoPhase, "two-phase", false, "Contriever-msmarco's recipe: phase 1 with random negatives only (out/phase1), mine hard negatives with the phase-1 model (dense), phase 2 from --init again with --hard-ratio")
	fs.Int64Var(&a.phase1Steps, "phase1-steps", 0, "--two-phase: steps of phase 1 (default --steps)")
	fs.IntVar(&a.mineDepth, "mine-depth", 100, "--two-phase: passages retrieved per query when mining")
	fs.IntVar(&a.mineSkip, "mine-skip-top", 0, "--two-phase: drop the N best non-positive passages when mining")
	addPromptFlags(fs, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ms, serr := modelSettings(fs)
	if serr != nil {
		return serr
	}
	a.queryPrompt, a.docPrompt = ms.QueryPrompt, ms.DocPrompt
	if a.steps == 0 && a.evalData != "" && a.initDir != "" {
		return finetuneEvalOnly(context.Background(), a, os.Stdout)
	}
	if a.initDir == "" || a.train == "" || a.out == "" || a.steps <= 0 {
		fs.Usage()
		return errors.New("--init, --train, --out and a positive --steps are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if a.maxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.maxTime)
		defer cancel()
	}
	err := finetuneMain(ctx, a)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(os.Stderr, "finetune: stopped; state saved in %s (continue with --resume)\n", a.out)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
	}
	return err
}

// finetuneMain runs one fine-tuning, or the two phases of the recipe.
func finetuneMain(ctx context.Context, a finetuneArgs) error {
	logw := a.log
	if logw == nil {
		logw = os.Stderr
	}
	if a.quiet {
		logw = io.Discard
	}
	if _, err := parseDType(a.dtype); err != nil {
		return err
	}
	if a.out == "" {
		return errors.New("--out is required")
	}
	if a.batch < 2 {
		return fmt.Errorf("--batch-size %d: in-batch negatives need at least 2", a.batch)
	}
	set, err := mineLoadSet(a.train, a.split, a.corpus)
	if err != nil {
		return err
	}
	if set.Skipped > 0 {
		fmt.Fprintf(logw, "finetune: %d examples without a positive skipped\n", set.Skipped)
	}
	// The --init model's prompts (or those given) apply to the training
	// texts and to mining with the phase-1 model, whose folder has none.
	initModel, err := engine.ReadModel(a.initDir, engine.ModelSettings{QueryPrompt: a.queryPrompt, DocPrompt: a.docPrompt})
	if err != nil {
		return err
	}
	a.queryPrompt, a.docPrompt = initModel.Conventions.QueryPrompt, initModel.Conventions.DocPrompt
	if !a.twoPhase {
		return finetuneRun(ctx, a, set, a.out, a.hardRatio, a.steps, logw)
	}

	return finetune.TwoPhase{Out: a.out, Steps: a.steps, Phase1Steps: a.phase1Steps, HardRatio: a.hardRatio, Resume: a.resume,
		MineDepth: a.mineDepth, MineSkip: a.mineSkip, Quiet: a.quiet, Log: logw,
		StateName: contrastive.StateName, ModelDirName: contrastive.ModelDirName,
		Train: func(ctx context.Context, set *finetune.Set, out string, hardRatio float64, steps int64, resume bool) error {
			ap := a
			ap.resume = resume
			return finetuneRun(ctx, ap, set, out, hardRatio, steps, logw)
		},
		Searcher: func(ctx context.Context, set *finetune.Set, modelDir string) (finetune.Searcher, func() error, error) {
			return mineSearcher(ctx, set, "dense", modelDir, "", a.maxLength, 64, a.quiet, engine.ModelSettings{QueryPrompt: a.queryPrompt, DocPrompt: a.docPrompt})
		},
	}.Run(ctx, set)
}

func finetuneFileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// finetuneRun trains a model from a.initDir on set into out for steps
// through contrastive's Trainer and Run.
func finetuneRun(ctx context.Context, a finetuneArgs, set *finetune.Set, out string, hardRatio float64, steps int64, logw io.Writer) error {
	dtype, _ := parseDType(a.dtype)
	model, tok, err := encoder.LoadFolder(a.initDir)
	if err != nil {
		return err
	}
	vocab := filepath.Join(a.initDir, "vocab.txt")
	if !finetuneFileExists(vocab) {
		vocab = ""
	}
	maxLen := min(a.maxLength, model.Config.MaxPositionEmbeddings)
	so := finetune.SourceOptions{HardRatio: hardRatio, SkipHard: a.skipHard, MaxLen: maxLen, Seed: a.seed}
	if a.queryPrompt != nil {
		so.QueryPrompt = *a.queryPrompt
	}
	if a.docPrompt != nil {
		so.DocPrompt = *a.docPrompt
	}
	src, err := finetune.NewSource(set, encoder.WordPiece(tok), so)
	if err != nil {
		return err
	}
	st := set.Stats()
	fmt.Fprintf(logw, "finetune: %s\n", st)
	if hardRatio > 0 && st.WithHard == 0 {
		fmt.Fprintf(logw, "finetune: warning: no example has hard negatives; every negative will be random (mine some with contriever mine)\n")
	}
	cfg := contrastive.DefaultConfig(contrastive.ObjectiveInBatch)
	cfg.Batch, cfg.Accum, cfg.Temperature, cfg.MaxLen = a.batch, a.accum, a.temperature, maxLen
	cfg.Dropout, cfg.Seed = !a.noDropout, a.seed
	cfg.Schedule = contrastive.LinearSchedule(a.lr, a.warmup, steps)
	tr, err := contrastive.StartTrainer(model, src, cfg, out, a.resume)
	if err != nil {
		return err
	}
	if a.resume {
		fmt.Fprintf(logw, "finetune: resumed at step %d\n", tr.StepCount())
	}
	opts := contrastive.RunOptions{Steps: steps, OutDir: out, VocabPath: vocab, DType: dtype,
		LogEvery: a.logEvery, CheckpointEvery: a.checkpointEvery, Progress: logw}
	if a.evalData != "" {
		ev, err := finetuneEvaluator(ctx, a, tok)
		if err != nil {
			return err
		}
		opts.EvalEvery, opts.EvalCols = a.evalEvery, ev.Columns()
		opts.Eval = func(ctx context.Context, m *encoder.Model) (map[string]float64, error) {
			t0 := time.Now()
			vals, err := ev.Evaluate(ctx, m)
			if err == nil {
				fmt.Fprintf(logw, "\nfinetune: %s/%s at step %d: %s (%s)\n", a.evalData, a.evalSplit, tr.StepCount(), finetuneFormat(vals, ev.Columns()), time.Since(t0).Round(time.Second))
			}
			return vals, err
		}
		fmt.Fprintf(logw, "finetune: evaluating on %s/%s: %d documents, %d queries\n", a.evalData, a.evalSplit, ev.Docs(), ev.Queries())
	}
	start := time.Now()
	err = contrastive.Run(ctx, tr, opts)
	// The saved model carries the prompts it was trained with.
	if prompts := finetunePrompts(a); len(prompts) > 0 {
		if md := filepath.Join(out, contrastive.ModelDirName); finetuneFileExists(filepath.Join(md, "config.json")) {
			err = errors.Join(err, checkpoint.WriteSTPrompts(md, prompts))
		}
	}
	hard, random := src.NegativeCounts()
	fmt.Fprintf(logw, "finetune: %d steps in %s (%d hard and %d random negatives drawn)\n", tr.StepCount(), time.Since(start).Round(time.Second), hard, random)
	return err
}

// finetunePrompts are the non-empty prompts of the training texts, named
// as sentence-transformers names them.
func finetunePrompts(a finetuneArgs) map[string]string {
	out := map[string]string{}
	if a.queryPrompt != nil && *a.queryPrompt != "" {
		out["query"] = *a.queryPrompt
	}
	if a.docPrompt != nil && *a.docPrompt != "" {
		out["document"] = *a.docPrompt
	}
	return out
}

// finetuneEvaluator prepares the evaluation of --eval-data.
func finetuneEvaluator(ctx context.Context, a finetuneArgs, tok *wordpiece.Tokenizer) (*finetune.Evaluator, error) {
	ev, err := finetune.NewEvaluator(a.evalData, a.evalSplit, encoder.WordPiece(tok), a.evalDocLen)
	if err != nil {
		return nil, err
	}
	if a.evalHybrid {
		if err := ev.AddBM25(ctx); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

func finetuneFormat(vals map[string]float64, cols []string) string {
	var sb strings.Builder
	for i, c := range cols {
		if i > 0 {
			sb.WriteString("  ")
		}
		fmt.Fprintf(&sb, "%s %.4f", c, vals[c])
	}
	return sb.String()
}

// finetuneEvalOnly evaluates the --init model (--steps 0).
func finetuneEvalOnly(ctx context.Context, a finetuneArgs, w io.Writer) error {
	model, tok, err := encoder.LoadFolder(a.initDir)
	if err != nil {
		return err
	}
	ev, err := finetuneEvaluator(ctx, a, tok)
	if err != nil {
		return err
	}
	t0 := time.Now()
	vals, err := ev.Evaluate(ctx, model)
	if err != nil {
		return err
	}
	cols := ev.Columns()
	if bm := ev.BM25Metrics(); bm != nil {
		for k, v := range bm {
			vals["bm25_"+k] = v
			cols = append(cols, "bm25_"+k)
		}
		slices.Sort(cols[len(cols)-len(bm):])
	}
	fmt.Fprintf(w, "%s %s/%s: %s (%s)\n", a.initDir, a.evalData, a.evalSplit, finetuneFormat(vals, cols), time.Since(t0).Round(time.Second))
	return nil
}
