package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestIndexTrain trains a tiny model for a few steps through `index
// --train`, then opens the index: the manifest records the recipe, steps,
// seed and init, the model copy is the trained model, and dense search
// works. A time budget and --train static go the same way.
func TestIndexTrain(t *testing.T) {
	data := writeNoHitsDataset(t)
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	small := "--batch-size 4 --chunk 32 --log-every 1"
	for _, tc := range []struct {
		name string
		args []string
		want func(ti *engine.TrainingInfo) bool
	}{
		{"tuned", []string{"--train", "1m", "--train-steps", "4", "--train-seed", "7"}, func(ti *engine.TrainingInfo) bool {
			return ti.Recipe == recipeValidated && ti.Steps == 4 && ti.Seed == 7 && ti.Budget == "" && strings.HasPrefix(ti.Init, "static") &&
				!strings.Contains(ti.Settings, "--lr") && strings.Contains(ti.Settings, "--batch-size 8")
		}},
		{"steps", []string{"--train", "1m", "--recipe", "bundled", "--train-steps", "3", "--train-seed", "7"}, func(ti *engine.TrainingInfo) bool {
			return ti.Recipe == recipeBundled && ti.Steps == 3 && ti.Seed == 7 && ti.Budget == "" && ti.Init == "scratch (config tiny)" &&
				strings.Contains(ti.Settings, "--temperature 0.2") && strings.Contains(ti.Settings, "--batch-size 4")
		}},
		{"budget", []string{"--train", "1500ms", "--recipe", "paper"}, func(ti *engine.TrainingInfo) bool {
			return ti.Recipe == recipePaper && ti.Steps > 0 && ti.Budget == "1.5s" && strings.Contains(ti.Settings, "--temperature 0.05")
		}},
		{"static", []string{"--train", "static"}, func(ti *engine.TrainingInfo) bool {
			return ti.Recipe == recipeStatic && ti.Steps == 0 && ti.Init == "none"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := filepath.Join(t.TempDir(), "idx")
			args := append([]string{"--corpus", data, "--out", idx, "--train-config", "tiny", "--vocab", vocab, "--quiet", "--eval", "test"}, tc.args...)
			switch tc.name {
			case "static":
				args = append(args, "--train-args", "--static-dim 8 --static-window 3")
			case "tuned":
				args = append(args, "--train-args", "--static-dim 8 --static-window 3 --batch-size 8 --crop-query 1:3 --crop-key 2:6 --log-every 1")
			default:
				args = append(args, "--train-args", small)
			}
			out, err := beirCaptureStdout(t, func() error { return runIndex(args) })
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "trained ") || !strings.Contains(out, "bm25") || !strings.Contains(out, "dense") || !strings.Contains(out, "hybrid") {
				t.Errorf("output:\n%s", out)
			}
			c, err := engine.Open(context.Background(), idx, engine.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			m := c.Manifest()
			if m.Training == nil || !tc.want(m.Training) || m.Training.Dir != idx+".train" {
				t.Fatalf("training record %+v", m.Training)
			}
			if m.Model.Source != filepath.Join(idx+".train", "model") {
				t.Errorf("model source %s", m.Model.Source)
			}
			if tc.name == "tuned" {
				if n, err := tunedSteps(filepath.Join(idx+".train", contrastive.StateName)); err != nil || n != m.Training.Steps {
					t.Errorf("state: %d steps, %v", n, err)
				}
			} else if tc.name != "static" {
				st, err := contrastive.LoadState(filepath.Join(idx+".train", contrastive.StateName))
				if err != nil || st.Step != m.Training.Steps {
					t.Errorf("state: %v", err)
				}
			}
			ds, err := beir.Load(data, "test")
			if err != nil {
				t.Fatal(err)
			}
			run, err := c.Dense().Retrieve(context.Background(), ds.Queries[:2], 3)
			if err != nil || len(run[ds.Queries[0].ID]) != 3 || len(run[ds.Queries[1].ID]) != 3 {
				t.Errorf("dense: %v %v", run, err)
			}
			if _, err := os.Stat(filepath.Join(idx, engine.ModelDir)); err != nil {
				t.Error(err)
			}
		})
	}
	// Refusals: an existing index without --force, bad budgets, static from an initial model.
	idx := filepath.Join(t.TempDir(), "idx")
	os.MkdirAll(idx, 0o755)
	for _, args := range [][]string{
		{"--train", "1m"},
		{"--train", "soon", "--force"},
		{"--train", "static", "--model", vocab, "--force"},
		{"--train", "1m", "--no-dense"},
	} {
		if err := runIndex(append([]string{"--corpus", data, "--out", idx, "--vocab", vocab, "--quiet"}, args...)); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
