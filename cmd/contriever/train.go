package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/contrastive/data"
	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
)

func init() {
	register(command{
		name:    "train",
		summary: "unsupervised contrastive training (random crops, MoCo or in-batch negatives)",
		run:     runTrain,
	})
}

// trainArgs are the settings of `contriever train`.
type trainArgs struct {
	runFlags
	corpus, cache, initDir, config, vocab, out string
	objective                                  string
	queueSize                                  int
	momentum                                   float64
	ratioMin, ratioMax, deletion               float64
	chunk                                      int
	residualScale, positionScale               float64
	skipInitialEval                            bool
	stopAt                                     int64
	progress                                   io.Writer // nil: stderr unless quiet
	recipe                                     string
	budget                                     time.Duration
	lrGiven                                    bool // --lr on the command line (not the recipe's)
}

const trainUsage = "--corpus PATH [--init DIR | --config small|tiny] [--objective inbatch|moco] --steps N [--batch-size 64] [--accum 1] --out DIR [--resume] [flags]"

func runTrain(args []string) error {
	var a trainArgs
	fs, staticFlags, tunedFlags := trainFlagSet(&a)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := checkRecipe(a.recipe); err != nil {
		return err
	}
	if a.initDir == "" {
		var err error
		if a.vocab, err = resolveVocab(a.vocab); err != nil {
			return err
		}
	}
	if a.recipe == recipeStatic {
		return trainStatic(a, staticFlags)
	}
	fs.Visit(func(f *flag.Flag) { a.lrGiven = a.lrGiven || f.Name == "lr" })
	if err := applyRecipe(fs, a.recipe); err != nil {
		return err
	}
	if isTunedRecipe(a.recipe) {
		return trainStaticTuned(a, staticFlags, tunedFlags)
	}
	if a.corpus == "" || a.out == "" || (a.steps <= 0 && a.budget <= 0) {
		fs.Usage()
		return errors.New("--corpus, --out and a positive --steps or --time are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := train(ctx, a)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(os.Stderr, "train: stopped; state saved in %s (continue with --resume)\n", filepath.Join(a.out, contrastive.StateName))
		if errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
	}
	return err
}

// trainFlagSet registers the flags of `contriever train` into a.
func trainFlagSet(a *trainArgs) (*flag.FlagSet, *staticTrainFlags, *tunedTrainFlags) {
	fs := newFlagSet("train", trainUsage)
	a.register(fs, runDefaults{steps: 0, stepsHelp: "optimiser steps to reach (required)", lr: 5e-5, evalSplit: "test",
		batchHelp: "pairs per micro-batch",
		accumHelp: "micro-batches accumulated per optimiser step (MoCo: larger effective batch; in-batch: negatives stay within a micro-batch)",
		seedHelp:  "seed of the model initialisation, the data order, the crops and dropout"})
	fs.StringVar(&a.corpus, "corpus", "", "training text: a BEIR corpus (folder or corpus.jsonl[.gz], title + text), JSONL with a \"text\" field, or plain text files (one document per line); tokenised once and cached next to it (required)")
	fs.StringVar(&a.cache, "cache", "", "token cache file (default: <corpus>.ctok, or tokens.ctok inside a corpus folder; - for none)")
	fs.StringVar(&a.initDir, "init", "", "start from this HF model folder (config.json, weights, vocab.txt or tokenizer.json) instead of a random model")
	fs.StringVar(&a.config, "config", "small", "named configuration for a model trained from scratch: small (4 layers, hidden 256) or tiny (2 layers, 128); ignored with --init")
	fs.StringVar(&a.vocab, "vocab", defaultVocab, "vocab.txt of a model trained from scratch (bert-base-uncased's; when the default is not found here, the copy built into the binary); ignored with --init")
	fs.StringVar(&a.out, "out", "", "output folder: model/ (HF folder of the query encoder), state.bin (resumable state), train.csv, train.png (required)")
	fs.StringVar(&a.objective, "objective", contrastive.ObjectiveInBatch, "inbatch (negatives: the other keys of the batch) or moco (momentum encoder and a queue of keys)")
	fs.IntVar(&a.queueSize, "queue-size", 8192, "MoCo queue size (keys)")
	fs.Float64Var(&a.momentum, "momentum", 0.9995, "MoCo momentum of the key encoder")
	fs.Float64Var(&a.ratioMin, "ratio-min", 0.05, "smallest crop, as a fraction of the chunk")
	fs.Float64Var(&a.ratioMax, "ratio-max", 0.5, "largest crop, as a fraction of the chunk")
	fs.Float64Var(&a.deletion, "deletion", 0.1, "probability of deleting each token of a crop")
	fs.IntVar(&a.chunk, "chunk", 256, "tokens per chunk cut from the stream")
	fs.Float64Var(&a.residualScale, "residual-scale", 1, "from scratch: multiply each block's output projections (attention.output.dense, output.dense) by this at initialisation (0: every block starts as the identity)")
	fs.Float64Var(&a.positionScale, "position-scale", 1, "from scratch: multiply the position and token-type embeddings by this at initialisation")
	fs.BoolVar(&a.skipInitialEval, "skip-initial-eval", false, "do not evaluate the initial model")
	fs.Int64Var(&a.stopAt, "stop-at", 0, "stop at this step, saving a resumable state (the schedule still runs to --steps; 0: --steps)")
	fs.StringVar(&a.recipe, "recipe", recipeValidated, "validated (the default) or its other name static-tuned: the static model's token rows trained contrastively on the corpus ("+recipeString(recipeValidated)+"), chosen on SciFact train; static (PPMI + SVD token vectors, no training loop); bundled (the bundled transformer's recipe, chosen while watching SciFact test: "+recipeString(recipeBundled)+"); paper (Contriever's settings: "+recipeString(recipePaper)+"); flags given on the command line override the recipe's")
	fs.DurationVar(&a.budget, "time", 0, "wall-clock training budget (e.g. 20m): warmup and decay end with it (evaluation time excluded)")
	staticFlags := registerStaticTrainFlags(fs)
	tunedFlags := registerTunedTrainFlags(fs)
	return fs, staticFlags, tunedFlags
}

// parseDType parses --dtype with checkpoint.ParseDType.
func parseDType(s string) (checkpoint.DType, error) {
	d, err := checkpoint.ParseDType(s)
	if err != nil {
		return 0, fmt.Errorf("--dtype %q: want f32, f16 or bf16 (%w)", s, err)
	}
	return d, nil
}

// train runs `contriever train` with settings a until a.steps, ctx's end
// or a.maxTime; a cancelled run saves its state and returns ctx's error.
func train(ctx context.Context, a trainArgs) error {
	dtype, err := parseDType(a.dtype)
	if err != nil {
		return err
	}
	logw := a.progress
	if logw == nil {
		logw = os.Stderr
	}
	if a.quiet {
		logw = io.Discard
	}
	// Tokenizer and model.
	vocabPath := a.vocab
	var model *encoder.Model
	if a.initDir != "" {
		if model, err = encoder.Load(a.initDir); err != nil {
			return err
		}
		vocabPath = filepath.Join(a.initDir, "vocab.txt")
		if _, err := os.Stat(vocabPath); err != nil {
			vocabPath = a.initDir // tokenizer.json
		}
	} else {
		cfg, err := encoder.NamedConfig(a.config)
		if err != nil {
			return err
		}
		if model, err = encoder.NewRandom(cfg, a.seed, false); err != nil {
			return err
		}
		contrastive.InitScales{Residual: float32(a.residualScale), Position: float32(a.positionScale)}.Apply(model)
	}
	tok, err := wordpiece.Load(vocabPath)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if err := encoder.CheckVocab(model, tok); err != nil {
		return fmt.Errorf("%s: %w", vocabPath, err)
	}
	copyVocab := vocabPath
	if st, err := os.Stat(vocabPath); err == nil && st.IsDir() {
		copyVocab = filepath.Join(vocabPath, "vocab.txt")
		if _, err := os.Stat(copyVocab); err != nil {
			copyVocab = ""
		}
	}

	// Data.
	vid, err := data.HashFile(firstFile(vocabPath))
	if err != nil {
		return err
	}
	stream, info, err := data.Build(a.corpus, tok, data.BuildOptions{VocabID: vid, CachePath: a.cache, Quiet: a.quiet})
	if err != nil {
		return err
	}
	if info.WriteErr != nil {
		fmt.Fprintf(logw, "train: token cache not written: %v\n", info.WriteErr)
	}
	crop := data.CropConfig{ChunkLen: a.chunk, RatioMin: a.ratioMin, RatioMax: a.ratioMax, DeleteProb: a.deletion, CLS: tok.CLS(), SEP: tok.SEP()}
	sampler, err := data.NewSampler(stream, crop, a.seed)
	if err != nil {
		return err
	}
	fmt.Fprintf(logw, "train: %d tokens (%s cache %s), %d chunks of %d per epoch\n", stream.Len(), info.Cache, info.CachePath, sampler.ChunksPerEpoch(), a.chunk)

	// Trainer.
	cfg := contrastive.DefaultConfig(a.objective)
	cfg.Batch, cfg.Accum, cfg.QueueSize, cfg.Momentum, cfg.Temperature = a.batch, a.accum, a.queueSize, a.momentum, a.temperature
	cfg.MaxLen = min(int(float64(a.chunk)*a.ratioMax)+2, model.Config.MaxPositionEmbeddings)
	cfg.Dropout = !a.noDropout
	cfg.Seed = a.seed
	cfg.Schedule = contrastive.LinearSchedule(a.lr, a.warmup, a.steps)
	tr, err := contrastive.StartTrainer(model, sampler, cfg, a.out, a.resume)
	if err != nil {
		return err
	}
	if err := trainUseBudget(tr, a); err != nil {
		return err
	}
	if a.resume {
		fmt.Fprintf(logw, "train: resumed at step %d\n", tr.StepCount())
	}

	stopAt := a.steps
	if a.budget > 0 && a.steps <= 0 {
		stopAt = math.MaxInt64 // the budget ends the run
	}
	if a.stopAt > 0 && a.stopAt < a.steps {
		stopAt = a.stopAt
	}
	opts := contrastive.RunOptions{Steps: stopAt, OutDir: a.out, VocabPath: copyVocab, DType: dtype,
		LogEvery: a.logEvery, CheckpointEvery: a.checkpointEvery, Progress: logw}
	var ev *contrastive.DenseEval
	if a.evalData != "" {
		ev, err = contrastive.NewDenseEval(a.evalData, a.evalSplit, encoder.WordPiece(tok), a.evalDocLen)
		if err != nil {
			return err
		}
		opts.Eval, opts.EvalEvery, opts.EvalCols, opts.SkipInitialEval = ev.Evaluate, a.evalEvery, ev.Columns(), a.skipInitialEval
		fmt.Fprintf(logw, "train: evaluating on %s/%s: %d documents (cut at %d tokens), %d queries\n", a.evalData, a.evalSplit, ev.Docs(), a.evalDocLen, ev.Queries())
	}
	if a.maxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.maxTime)
		defer cancel()
	}
	start := time.Now()
	err = contrastive.Run(ctx, tr, opts)
	fmt.Fprintf(logw, "train: %d steps in %s\n", tr.StepCount(), time.Since(start).Round(time.Second))
	if errors.Is(err, context.DeadlineExceeded) && ev != nil {
		// --max-time ended the run: evaluate where it stopped.
		vals, eerr := ev.Evaluate(context.Background(), tr.Model())
		if eerr != nil {
			return errors.Join(err, eerr)
		}
		fmt.Fprintf(logw, "train: at step %d: %s\n", tr.StepCount(), formatVals(vals))
	}
	return err
}

// firstFile is path, or the vocab.txt / tokenizer.json of a folder.
func firstFile(path string) string {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return path
	}
	for _, n := range []string{"tokenizer.json", "vocab.txt"} {
		if _, err := os.Stat(filepath.Join(path, n)); err == nil {
			return filepath.Join(path, n)
		}
	}
	return path
}

// formatVals prints metric values sorted by name.
func formatVals(vals map[string]float64) string {
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "%s %.4f", k, vals[k])
	}
	return b.String()
}

func init() {
	registerBench(command{
		name:    "train",
		summary: "one training step (forward + backward + AdamW) of a random model: s/step, seq/s",
		run:     runBenchTrain,
	})
}

// runBenchTrain times the speed case: a step of the small config
// on 64 sequences of 128 tokens (no padding), forward with dropout, mean
// pooling, backward through the whole model, AdamW; comparable with
// ../shared/anchors/bert_bench.py --train.
func runBenchTrain(args []string) error {
	fs := newFlagSet("bench train", "[--config small] [--batch 64] [--seq 128] [--threads 2] [--reps 5]")
	cfgName := fs.String("config", "small", "model configuration: base, small or tiny")
	batch := fs.Int("batch", 64, "sequences per step")
	seq := fs.Int("seq", 128, "tokens per sequence")
	threads := fs.Int("threads", 2, "threads (GOMAXPROCS); 0 keeps the current value")
	reps := fs.Int("reps", 5, "timed steps (the median is reported)")
	warmup := fs.Int("warmup", 1, "untimed steps first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *batch <= 0 || *seq < 2 || *reps <= 0 || *warmup < 0 {
		return errors.New("--batch, --reps must be positive and --seq at least 2")
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	cfg, err := encoder.NamedConfig(*cfgName)
	if err != nil {
		return err
	}
	if *seq > cfg.MaxPositionEmbeddings {
		return fmt.Errorf("--seq %d exceeds the model's %d positions", *seq, cfg.MaxPositionEmbeddings)
	}
	m, err := encoder.NewRandom(cfg, 1, false)
	if err != nil {
		return err
	}
	B, T, H := *batch, *seq, cfg.HiddenSize
	b := encoder.RandomBatch(cfg, B, T, 2)
	grad := m.ZeroLike()
	tw := contrastive.NewTower(m, grad, B, T, true)
	params := contrastive.TrainableParams(m, grad)
	opt := optim.NewAdamW(params, optim.DefaultAdamW())
	demb := make([]float32, B*H)
	for i := range demb {
		demb[i] = float32((i%7)-3) * 1e-3
	}
	step := func(i int) error {
		optim.ZeroGrads(params)
		if _, err := tw.Embed(b, encoder.ForwardOptions{Train: true, Seed: uint64(i)}); err != nil {
			return err
		}
		if err := tw.Backward(demb); err != nil {
			return err
		}
		opt.Step(1e-4)
		return nil
	}
	for i := 0; i < *warmup; i++ {
		if err := step(i); err != nil {
			return err
		}
	}
	times := make([]float64, *reps)
	for i := range times {
		t0 := time.Now()
		if err := step(*warmup + i); err != nil {
			return err
		}
		times[i] = time.Since(t0).Seconds()
	}
	sort.Float64s(times)
	med := times[len(times)/2]
	fmt.Printf("train step %s %d×%d, %d threads: median %.3f s/step (min %.3f, max %.3f) = %.1f seq/s, %.0f tok/s\n",
		*cfgName, B, T, runtime.GOMAXPROCS(0), med, times[0], times[len(times)-1], float64(B)/med, float64(B*T)/med)
	return nil
}
