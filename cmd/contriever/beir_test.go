package main

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/internal/fixture"
)

// beirCaptureStdout runs fn with os.Stdout redirected and returns what it
// printed.
func beirCaptureStdout(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	ferr := fn()
	os.Stdout = old
	w.Close()
	return <-done, ferr
}

// TestBeirAndEvalCommands runs `contriever beir` with --json and --run on
// the bundled SciFact, then `contriever eval` on the written run: the JSON
// has exactly the documented keys and both commands agree.
func TestBeirAndEvalCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 5k-document index")
	}
	data := fixture.Repo(t, "data", "scifact")
	runPath := filepath.Join(t.TempDir(), "bm25.trec")
	out, err := beirCaptureStdout(t, func() error {
		return runBeir([]string{"--data", data, "--method", "bm25", "--json", "--quiet", "--run", runPath})
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	keys := []string{"ndcg@10", "recall@100", "map@100", "mrr@10", "p@10"}
	for _, k := range keys {
		v, ok := got[k].(float64)
		if !ok || v <= 0 || v > 1 {
			t.Errorf("%s = %v, want a fraction in (0, 1]", k, got[k])
		}
	}
	if got["queries"] != float64(300) {
		t.Errorf("queries = %v, want 300", got["queries"])
	}
	if v, _ := got["ndcg@10"].(float64); v < 0.665 {
		t.Errorf("nDCG@10 %v < 0.665", v)
	}
	if v, _ := got["recall@100"].(float64); v < 0.90 {
		t.Errorf("Recall@100 %v < 0.90", v)
	}

	evalOut, err := beirCaptureStdout(t, func() error {
		return runEval([]string{"--qrels", filepath.Join(data, "qrels", "test.tsv"), "--run", runPath, "--json"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(evalOut), &ev); err != nil {
		t.Fatalf("eval stdout: %v\n%s", err, evalOut)
	}
	for _, k := range append(keys, "queries") {
		if ev[k] != got[k] {
			t.Errorf("eval %s = %v, beir printed %v", k, ev[k], got[k])
		}
	}

	table, err := beirCaptureStdout(t, func() error {
		return runEval([]string{"--qrels", filepath.Join(data, "qrels", "test.tsv"), "--run", runPath})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nDCG@10", "Recall@100", "MAP@100", "MRR@10", "P@10"} {
		if !strings.Contains(table, name) {
			t.Errorf("table lacks %s:\n%s", name, table)
		}
	}
}

func TestBeirEvalFlagErrors(t *testing.T) {
	if err := runBeir([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("beir --help: %v", err)
	}
	if err := runEval([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("eval --help: %v", err)
	}
	if err := runBeir([]string{"--method", "nope", "--quiet"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown method: %v", err)
	}
	if err := runEval([]string{"--run", "x"}); err == nil {
		t.Error("eval without --qrels succeeded")
	}
	if err := runEval([]string{"--qrels", "x", "--run", "y", "--metrics", "ndcg@0"}); err == nil {
		t.Error("bad metric accepted")
	}
	bad := filepath.Join(t.TempDir(), "run")
	os.WriteFile(bad, []byte("q Q0 d 1 x t\n"), 0o644)
	qrels := filepath.Join(fixture.Repo(t, "data", "scifact"), "qrels", "test.tsv")
	if err := runEval([]string{"--qrels", qrels, "--run", bad}); err == nil || !strings.Contains(err.Error(), bad+":1") {
		t.Errorf("bad run file: %v (want file:line)", err)
	}
}
