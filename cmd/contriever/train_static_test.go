package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/contrastive/trainlog"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestTrainStaticThenBeir builds a static model with `train --recipe
// static` and runs `beir --method dense` and `--method hybrid` with it.
func TestTrainStaticThenBeir(t *testing.T) {
	data := writeNoHitsDataset(t)
	out := filepath.Join(t.TempDir(), "static")
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	if err := runTrain([]string{"--recipe", "static", "--corpus", data, "--vocab", vocab, "--out", out, "--static-dim", "8", "--static-window", "3", "--quiet"}); err != nil {
		t.Fatal(err)
	}
	if !static.IsModel(out) {
		t.Fatal("the folder is not a static model")
	}
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil || !strings.Contains(string(card), "| dimensions | 8 |") || !strings.Contains(string(card), "±3") {
		t.Fatalf("model card: %v\n%s", err, card)
	}
	for _, method := range []string{"dense", "hybrid"} {
		args := []string{"--data", data, "--method", method, "--model", out, "--json", "--quiet"}
		if method == "hybrid" {
			args = append(args, "--alpha", "0.3")
		}
		got, err := beirCaptureStdout(t, func() error { return runBeir(args) })
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(got), &res); err != nil {
			t.Fatalf("%s: %v\n%s", method, err, got)
		}
		kind := res["model_kind"]
		if method == "hybrid" {
			kind = res["dense_model_kind"]
		}
		if v, _ := res["ndcg@10"].(float64); v <= 0 || kind != "static" || res["queries"] != 12.0 {
			t.Errorf("%s: %s", method, got)
		}
	}
	if err := runTrain([]string{"--recipe", "nope", "--corpus", data, "--out", out}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown recipe: %v", err)
	}
	if err := runTrain([]string{"--recipe", "static", "--corpus", data, "--vocab", vocab, "--out", filepath.Join(t.TempDir(), "x"), "--static-dim", "4096", "--quiet"}); err == nil {
		t.Error("more dimensions than tokens: no error")
	}
}

// TestTrainTimeCLI: `contriever train --time` needs no --steps, stops when
// the budget is spent, logs a rate that rises then falls, and keeps the
// clock in state.bin.
func TestTrainTimeCLI(t *testing.T) {
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	out := t.TempDir()
	err := runTrain([]string{"--recipe", "bundled", "--corpus", trainCorpus(t), "--cache", "-", "--config", "tiny", "--vocab", vocab, "--time", "1500ms",
		"--batch-size", "4", "--chunk", "32", "--lr", "1e-3", "--log-every", "1", "--out", out, "--quiet"})
	if err != nil {
		t.Fatal(err)
	}
	_, rows, err := trainlog.Read(filepath.Join(out, contrastive.LogName))
	if err != nil || len(rows) < 3 {
		t.Fatalf("%d log rows, %v", len(rows), err)
	}
	peak := 0.0
	for _, r := range rows {
		peak = max(peak, r.LR)
	}
	if rows[0].LR > peak/10 || peak <= rows[len(rows)-1].LR || peak > 1e-3 {
		t.Errorf("rates: first %g, peak %g, last %g", rows[0].LR, peak, rows[len(rows)-1].LR)
	}
	st, err := contrastive.LoadState(filepath.Join(out, contrastive.StateName))
	if err != nil || st.Step != rows[len(rows)-1].Step || st.RNG["time_budget"] == nil {
		t.Fatalf("state: %v", err)
	}
}
