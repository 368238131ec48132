package finetune

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/contriever-go/contriever/internal/atomicfile"
	"github.com/contriever-go/contriever/internal/progress"
)

// TwoPhase is the two-phase fine-tuning recipe: phase 1 trains from the
// initial model with random negatives only (into Out/phase1); its model
// mines hard negatives for every query (Out/phase1/hard-negatives.jsonl);
// phase 2 trains a fresh model from the initial one on the mined data, with
// the same passages for random negatives, drawing a hard negative with
// probability HardRatio (into Out). With Resume, a phase whose state is
// saved continues, and a mined file already written is reused.
type TwoPhase struct {
	Out         string
	Steps       int64 // phase 2 steps (and phase 1's when Phase1Steps ≤ 0)
	Phase1Steps int64
	HardRatio   float64
	Resume      bool
	MineDepth   int // hard negatives mined per query
	MineSkip    int // top retrieved passages skipped when mining
	Quiet       bool
	Log         io.Writer // phase messages; nil: none
	// StateName and ModelDirName are the names of the saved state and
	// model inside a phase's folder (contrastive.StateName, ModelDirName).
	StateName, ModelDirName string
	// Train trains a fresh model from the initial one on set into out for
	// steps, drawing hard negatives with probability hardRatio, resuming
	// from out's saved state when resume.
	Train func(ctx context.Context, set *Set, out string, hardRatio float64, steps int64, resume bool) error
	// Searcher opens a dense searcher of the model folder over set, and
	// the function that releases it.
	Searcher func(ctx context.Context, set *Set, modelDir string) (Searcher, func() error, error)
}

// Run runs the recipe on set.
func (r TwoPhase) Run(ctx context.Context, set *Set) error {
	logw := r.Log
	if logw == nil {
		logw = io.Discard
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	// Phase 1: random negatives only.
	p1 := filepath.Join(r.Out, "phase1")
	steps1 := r.Phase1Steps
	if steps1 <= 0 {
		steps1 = r.Steps
	}
	fmt.Fprintf(logw, "finetune: phase 1 (random negatives) in %s\n", p1)
	if err := r.Train(ctx, set, p1, 0, steps1, r.Resume && exists(filepath.Join(p1, r.StateName))); err != nil {
		return err
	}
	// Mining with the phase-1 model.
	mined := filepath.Join(p1, "hard-negatives.jsonl")
	if !(r.Resume && exists(mined)) {
		fmt.Fprintf(logw, "finetune: mining %d hard negatives per query with the phase-1 model\n", r.MineDepth)
		s, closeFn, err := r.Searcher(ctx, set, filepath.Join(p1, r.ModelDirName))
		if err != nil {
			return err
		}
		bar := progress.New("mine", int64(len(set.Examples)), "queries", r.Quiet)
		last := 0
		res, err := Mine(ctx, set, s, MineOptions{Depth: r.MineDepth, SkipTop: r.MineSkip,
			Progress: func(done int) { bar.Add(int64(done - last)); last = done }})
		bar.Finish()
		closeFn()
		if err != nil {
			return err
		}
		if err := atomicfile.Write(mined, func(w io.Writer) error { return WriteMined(w, set, res) }); err != nil {
			return err
		}
	}
	// Phase 2: a fresh model from the initial one on the mined data, with
	// the same passages for random negatives.
	set2 := &Set{}
	for _, p := range set.Passages {
		set2.Add(p)
	}
	if _, err := set2.AddDPR(mined); err != nil {
		return err
	}
	fmt.Fprintf(logw, "finetune: phase 2 (hard negatives %.0f%% of the time) in %s\n", 100*r.HardRatio, r.Out)
	return r.Train(ctx, set2, r.Out, r.HardRatio, r.Steps, r.Resume && exists(filepath.Join(r.Out, r.StateName)))
}

// WriteMined writes the mined hard negatives of set's examples to w as DPR
// JSON lines (Set.MinedRecord).
func WriteMined(w io.Writer, set *Set, mined []Mined) error {
	for i := range mined {
		if err := WriteRecord(w, set.MinedRecord(i, mined[i])); err != nil {
			return err
		}
	}
	return nil
}
