package main

import (
	"flag"
	"time"
)

// runFlags are the settings `contriever train` and `contriever finetune`
// share: both drive contrastive.Run (schedule, AdamW, gradient
// accumulation, checkpoints, resume, the CSV log and plot, periodic
// evaluation), so they take these flags with the same names and meanings.
type runFlags struct {
	steps                     int64
	batch, accum              int
	lr                        float64
	warmup                    int
	temperature               float64
	resume                    bool
	evalData, evalSplit       string
	evalEvery                 int64
	evalDocLen                int
	checkpointEvery, logEvery int64
	seed                      uint64
	noDropout                 bool
	dtype                     string
	maxTime                   time.Duration
	quiet                     bool
}

// runDefaults are what differs between the commands: defaults, and the
// help of flags whose meaning depends on the training data.
type runDefaults struct {
	steps                int64
	stepsHelp            string
	batchHelp, accumHelp string
	lr                   float64
	evalSplit            string
	seedHelp             string
}

// register defines the shared flags on fs.
func (r *runFlags) register(fs *flag.FlagSet, d runDefaults) {
	fs.Int64Var(&r.steps, "steps", d.steps, d.stepsHelp)
	fs.IntVar(&r.batch, "batch-size", 64, d.batchHelp)
	fs.IntVar(&r.accum, "accum", 1, d.accumHelp)
	fs.Float64Var(&r.lr, "lr", d.lr, "peak learning rate (AdamW β 0.9/0.98, eps 1e-6, weight decay 0.01)")
	fs.IntVar(&r.warmup, "warmup", -1, "linear warmup steps, then linear decay to 0 at --steps (-1: 5% of --steps)")
	fs.Float64Var(&r.temperature, "temperature", 0.05, "InfoNCE temperature τ")
	fs.BoolVar(&r.resume, "resume", false, "continue the run saved in --out's state.bin bit for bit (same flags required)")
	fs.StringVar(&r.evalData, "eval-data", "", "BEIR dataset folder: log dense nDCG@10 and Recall@100 on --eval-split")
	fs.StringVar(&r.evalSplit, "eval-split", d.evalSplit, "split of --eval-data")
	fs.Int64Var(&r.evalEvery, "eval-every", 0, "evaluate every N steps (0: at the start and the end only)")
	fs.IntVar(&r.evalDocLen, "eval-doc-len", 256, "evaluation: cut documents at N tokens ([CLS]/[SEP] included; BEIR uses 512, 256 is faster)")
	fs.Int64Var(&r.checkpointEvery, "checkpoint-every", 1000, "save model/ and state.bin every N steps (and at the end)")
	fs.Int64Var(&r.logEvery, "log-every", 10, "write a train.csv row and redraw train.png every N steps")
	fs.Uint64Var(&r.seed, "seed", 1, d.seedHelp)
	fs.BoolVar(&r.noDropout, "no-dropout", false, "train without dropout (Contriever keeps BERT's 0.1 in both encoders)")
	fs.StringVar(&r.dtype, "dtype", "f32", "dtype of model/model.safetensors: f32, f16 or bf16")
	fs.DurationVar(&r.maxTime, "max-time", 0, "stop after this long (e.g. 60m), saving a resumable state; the schedule still runs to --steps")
	fs.BoolVar(&r.quiet, "quiet", false, "no progress on stderr")
}
