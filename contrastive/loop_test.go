package contrastive

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/contrastive/trainlog"
	"github.com/contriever-go/contriever/encoder"
)

// TestRunCheckpointsAndResume: Run logs, plots, evaluates and saves; a run
// cancelled at step 4 and resumed from its state to step 8 ends with the
// same weights as a straight run, and its log has each step once.
func TestRunCheckpointsAndResume(t *testing.T) {
	held := newTripleSource(77).Next(8) // fixed evaluation batch
	evals := 0
	eval := func(ctx context.Context, m *encoder.Model) (map[string]float64, error) {
		evals++
		tw := NewTower(m, nil, 8, 34, false)
		q, err := tw.Embed(asBatch(&held.Q), encoder.ForwardOptions{})
		if err != nil {
			return nil, err
		}
		q = append([]float32(nil), q...)
		k, err := NewTower(m, nil, 8, 34, false).Embed(asBatch(&held.K), encoder.ForwardOptions{})
		if err != nil {
			return nil, err
		}
		out := InBatch(q, k, 8, m.Config.HiddenSize, 0.05, nil, nil)
		return map[string]float64{"heldout_acc": out.Accuracy}, nil
	}
	opts := func(dir string) RunOptions {
		return RunOptions{Steps: 8, OutDir: dir, LogEvery: 2, CheckpointEvery: 4, Eval: eval, EvalEvery: 4,
			EvalCols: []string{"heldout_acc"}, Progress: io.Discard}
	}
	newTr := func() *Trainer {
		m, _ := encoder.NewRandom(tinyConfig(), 8, false)
		cfg := DefaultConfig(ObjectiveInBatch)
		cfg.Batch, cfg.MaxLen = 8, 34
		tr, err := NewTrainer(m, newTripleSource(1), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}

	straightDir := t.TempDir()
	straight := newTr()
	if err := Run(context.Background(), straight, opts(straightDir)); err != nil {
		t.Fatal(err)
	}
	if evals != 3 { // steps 0, 4, 8
		t.Fatalf("%d evaluations, want 3", evals)
	}
	for _, f := range []string{ModelDirName + "/config.json", ModelDirName + "/model.safetensors", StateName, LogName, PlotName} {
		if _, err := os.Stat(filepath.Join(straightDir, f)); err != nil {
			t.Fatalf("missing %s: %v", f, err)
		}
	}
	_, rows, err := trainlog.Read(filepath.Join(straightDir, LogName))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0].Step != 0 || rows[4].Step != 8 {
		t.Fatalf("log steps: %+v", rows)
	}
	if _, ok := rows[2].Extra["heldout_acc"]; !ok || rows[2].Step != 4 {
		t.Fatalf("no evaluation at step 4: %+v", rows[2])
	}

	// Cancelled at step 4 (from inside the evaluation), then resumed.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	o := opts(dir)
	first := newTr()
	o.Eval = func(c context.Context, m *encoder.Model) (map[string]float64, error) {
		if first.StepCount() == 4 {
			cancel()
		}
		return eval(c, m)
	}
	if err := Run(ctx, first, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	st, err := LoadState(filepath.Join(dir, StateName))
	if err != nil || st.Step != 4 {
		t.Fatalf("state after cancel: step %d, %v", st.Step, err)
	}
	second := newTr()
	if err := second.Restore(st); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), second, opts(dir)); err != nil {
		t.Fatal(err)
	}
	if !sameBits(second.Model().Flat(), straight.Model().Flat()) {
		t.Fatal("cancelled and resumed run differs from the straight run")
	}
	_, rows2, err := trainlog.Read(filepath.Join(dir, LogName))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows2) != len(rows) {
		t.Fatalf("resumed log has %d rows, straight %d", len(rows2), len(rows))
	}
	for i := range rows {
		same := rows[i].Loss == rows2[i].Loss || rows[i].Step == 0 // step 0 has no loss (NaN)
		if rows[i].Step != rows2[i].Step || !same {
			t.Fatalf("log row %d: straight %+v, resumed %+v", i, rows[i], rows2[i])
		}
	}
}
