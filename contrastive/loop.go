package contrastive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/contriever-go/contriever/contrastive/trainlog"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
)

// Files Run writes in its output folder.
const (
	ModelDirName = "model"     // HF folder of the query encoder, latest
	StateName    = "state.bin" // training state, latest
	LogName      = "train.csv" // CSV log
	PlotName     = "train.png" // plot of the log
)

// RunOptions controls Run.
type RunOptions struct {
	// Steps is the step count to reach (the run stops when the trainer
	// has taken this many). A trainer with a time budget (UseBudget) stops
	// when the budget is spent, or at Steps if that comes first.
	Steps int64
	// OutDir receives model/, state.bin, train.csv and train.png.
	OutDir string
	// VocabPath is copied into the HF folder as vocab.txt.
	VocabPath string
	// DType of the saved model.safetensors (checkpoint.F32 by default).
	DType checkpoint.DType
	// LogEvery writes a CSV row (and redraws the plot) every so many
	// steps (default 10); CheckpointEvery saves the model and the state
	// (default 1000, and always at the end).
	LogEvery, CheckpointEvery int64
	// Eval, when set, is called every EvalEvery steps (and at the end)
	// with the query encoder; its values go into the EvalCols columns of
	// the log and the plot (for example "ndcg@10").
	Eval      func(ctx context.Context, m *encoder.Model) (map[string]float64, error)
	EvalEvery int64
	EvalCols  []string
	// SkipInitialEval leaves out the evaluation at step 0 of a new run.
	SkipInitialEval bool
	// Progress receives the progress line (nil: stderr; io.Discard
	// silences it, as --quiet should).
	Progress io.Writer
}

// Run trains until opt.Steps, logging, plotting, evaluating and saving
// checkpoints. A trainer restored from a state continues its log (rows
// after its step are dropped). When ctx is cancelled it saves a checkpoint
// and returns ctx.Err(), so the run can be resumed.
func Run(ctx context.Context, tr *Trainer, opt RunOptions) error {
	if opt.LogEvery <= 0 {
		opt.LogEvery = 10
	}
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = 1000
	}
	if opt.Progress == nil {
		opt.Progress = os.Stderr
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return fmt.Errorf("contrastive: %w", err)
	}
	extra := append([]string{"accuracy"}, opt.EvalCols...)
	logPath := filepath.Join(opt.OutDir, LogName)
	lg, err := trainlog.Resume(logPath, extra, tr.StepCount())
	if err != nil {
		return err
	}
	defer lg.Close()
	save := func() error {
		defer tr.pauseClock()()
		return tr.SaveCheckpoint(filepath.Join(opt.OutDir, ModelDirName), filepath.Join(opt.OutDir, StateName), opt.VocabPath, opt.DType)
	}
	eval := func(row *trainlog.Row) error {
		if opt.Eval == nil {
			return nil
		}
		defer tr.pauseClock()() // evaluation is not training time
		vals, err := opt.Eval(ctx, tr.Model())
		if err != nil {
			return fmt.Errorf("contrastive: evaluation at step %d: %w", tr.StepCount(), err)
		}
		for k, v := range vals {
			row.Extra[k] = v
		}
		return nil
	}
	if tr.StepCount() == 0 && opt.Eval != nil && !opt.SkipInitialEval {
		row := trainlog.Row{Step: 0, Loss: math.NaN(), LR: math.NaN(), PairsPerS: math.NaN(), Extra: map[string]float64{}}
		if err := eval(&row); err != nil {
			return err
		}
		if err := lg.Write(row); err != nil {
			return err
		}
	}
	start, startStep := time.Now(), tr.StepCount()
	var lossSum, accSum, pairs float64
	var n int
	var busy time.Duration
	spent := func() bool { return tr.clock != nil && tr.clock.Done() }
	for tr.StepCount() < opt.Steps && !spent() {
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				return errors.Join(err, serr)
			}
			fmt.Fprintln(opt.Progress)
			return err
		}
		st, err := tr.Step()
		if err != nil {
			return err
		}
		restart := tr.pauseClock() // logging, evaluation and saving are not training time
		lossSum += st.Loss
		accSum += st.Accuracy
		pairs += float64(st.Pairs)
		busy += st.Elapsed
		n++
		step := st.Step
		final := step >= opt.Steps || spent()
		evalNow := opt.Eval != nil && (final || (opt.EvalEvery > 0 && step%opt.EvalEvery == 0))
		if step%opt.LogEvery == 0 || final || evalNow {
			row := trainlog.Row{Step: step, Loss: lossSum / float64(n), LR: st.LR, PairsPerS: pairs / busy.Seconds(),
				Extra: map[string]float64{"accuracy": accSum / float64(n)}}
			if evalNow {
				if err := eval(&row); err != nil {
					return err
				}
			}
			if err := lg.Write(row); err != nil {
				return err
			}
			if _, rows, err := trainlog.Read(logPath); err == nil {
				if err := trainlog.Plot(filepath.Join(opt.OutDir, PlotName), rows, opt.EvalCols...); err != nil {
					return err
				}
			}
			done := step - startStep
			eta := time.Duration(float64(time.Since(start)) / float64(done) * float64(opt.Steps-step))
			total := fmt.Sprint(opt.Steps)
			if c := tr.clock; c != nil {
				eta, total = max(0, c.Budget().Total-c.Elapsed()), "?"
			}
			end := "\r"
			if final {
				end = "\n"
			}
			fmt.Fprintf(opt.Progress, "\rstep %d/%s  loss %.4f  acc %.3f  lr %.3g  %.1f pairs/s  ETA %s   %s",
				step, total, row.Loss, row.Extra["accuracy"], row.LR, row.PairsPerS, eta.Round(time.Second), end)
			lossSum, accSum, pairs, n, busy = 0, 0, 0, 0, 0
		}
		if step%opt.CheckpointEvery == 0 || final {
			if err := save(); err != nil {
				return err
			}
		}
		restart()
	}
	return nil
}
