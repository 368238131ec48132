package main

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/contrastive/statictune"
	"github.com/contriever-go/contriever/contrastive/trainlog"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestTrainStaticTuned runs --recipe static-tuned for a few steps: the
// folder loads as a static model that differs from its start, beir runs
// with it, the loss curve is written, a run stopped and resumed ends with
// the same weights as one run straight through, and a time budget ends a
// run by itself.
func TestTrainStaticTuned(t *testing.T) {
	data := writeNoHitsDataset(t)
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	base := []string{"--recipe", "static-tuned", "--corpus", data, "--vocab", vocab, "--static-dim", "8", "--static-window", "3",
		"--batch-size", "8", "--crop-query", "1:3", "--crop-key", "2:6", "--log-every", "2", "--quiet"}
	straight := filepath.Join(t.TempDir(), "straight")
	if err := runTrain(append(slices.Clone(base), "--out", straight, "--steps", "6")); err != nil {
		t.Fatal(err)
	}
	start, err := static.Load(filepath.Join(straight, "init"))
	if err != nil {
		t.Fatal(err)
	}
	tuned, err := static.Load(filepath.Join(straight, "model"))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(start.Weight(), tuned.Weight()) {
		t.Error("the tuned model equals its start")
	}
	card, _ := os.ReadFile(filepath.Join(straight, "model", "README.md"))
	if !strings.Contains(string(card), "| steps | 6 |") {
		t.Errorf("model card:\n%s", card)
	}
	if _, rows, err := trainlog.Read(filepath.Join(straight, "train.csv")); err != nil || len(rows) != 3 {
		t.Errorf("train.csv: %d rows, %v", len(rows), err)
	}
	if _, err := os.Stat(filepath.Join(straight, "train.png")); err != nil {
		t.Error(err)
	}
	if _, err := beirCaptureStdout(t, func() error {
		return runBeir([]string{"--data", data, "--method", "dense", "--model", filepath.Join(straight, "model"), "--json", "--quiet"})
	}); err != nil {
		t.Fatal(err)
	}

	resumed := filepath.Join(t.TempDir(), "resumed")
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--steps", "6", "--stop-at", "3")); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--steps", "6", "--resume")); err != nil {
		t.Fatal(err)
	}
	again, err := static.Load(filepath.Join(resumed, "model"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Weight(), tuned.Weight()) {
		t.Error("a resumed run differs from one run straight through")
	}
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--steps", "6", "--resume", "--batch-size", "4")); err == nil {
		t.Error("resuming with another batch size: no error")
	}

	// A state saved with overlapping crops everywhere (as before
	// --disjoint-below) is refused under the default rule with the flag
	// that resumes it, and resumes with that flag.
	older := filepath.Join(t.TempDir(), "older")
	if err := runTrain(append(slices.Clone(base), "--out", older, "--steps", "6", "--stop-at", "3", "--disjoint-below", "0")); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", older, "--steps", "6", "--resume")); err == nil || !strings.Contains(err.Error(), "resume it with --disjoint-below 0") {
		t.Errorf("resuming a state saved without the rule: %v", err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", older, "--steps", "6", "--resume", "--disjoint-below", "0")); err != nil {
		t.Errorf("resuming with --disjoint-below 0: %v", err)
	}

	timed := filepath.Join(t.TempDir(), "timed")
	if err := runTrain(append(slices.Clone(base), "--out", timed, "--time", "1500ms", "--init", filepath.Join(straight, "init"))); err != nil {
		t.Fatal(err)
	}
	if !static.IsModel(filepath.Join(timed, "model")) {
		t.Error("--time: no model")
	}
}

// TestTrainStaticTunedSmallCorpus trains the default recipe (batch 1024)
// on a corpus of 60 documents: the batch becomes the whole corpus instead
// of the run failing, the card says so, and a stopped run resumes under
// the same rule.
func TestTrainStaticTunedSmallCorpus(t *testing.T) {
	data := writeNoHitsDataset(t)
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	out := filepath.Join(t.TempDir(), "small")
	args := []string{"--corpus", data, "--vocab", vocab, "--static-dim", "8", "--static-window", "3", "--quiet", "--out", out, "--steps", "4"}
	if err := runTrain(append(slices.Clone(args), "--stop-at", "2")); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(slices.Clone(args), "--resume")); err != nil {
		t.Fatal(err)
	}
	card, err := os.ReadFile(filepath.Join(out, "model", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(card), "| batch | 60 pairs") || !strings.Contains(string(card), "| steps | 4 |") {
		t.Errorf("model card:\n%s", card)
	}
}

// TestTunedDisjointBelow checks --disjoint-below: by default the mean key
// crop, the recipe's statictune.DefaultOptions value with the default
// crops; 0 turns it off; other negatives are refused.
func TestTunedDisjointBelow(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
		bad  bool
	}{
		{nil, statictune.DefaultOptions().DisjointBelow, false},
		{[]string{"--crop-key", "2:6"}, 4, false},
		{[]string{"--disjoint-below", "0"}, 0, false},
		{[]string{"--disjoint-below", "100"}, 100, false},
		{[]string{"--disjoint-below", "-2"}, 0, true},
	} {
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		tf := registerTunedTrainFlags(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		o, err := tunedOptions(trainArgs{}, tf)
		if (err != nil) != c.bad {
			t.Errorf("%v: error %v", c.args, err)
			continue
		}
		if !c.bad && o.DisjointBelow != c.want {
			t.Errorf("%v: DisjointBelow %d, want %d", c.args, o.DisjointBelow, c.want)
		}
	}
}
