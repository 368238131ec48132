package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/finetune"
	"github.com/contriever-go/contriever/internal/fixture"
)

// finetuneTinyModel writes a tiny random BERT with the repository's
// bert-base-uncased vocabulary as an HF folder.
func finetuneTinyModel(t *testing.T) string {
	t.Helper()
	c := checkpoint.DefaultBertConfig()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.MaxPositionEmbeddings = 32, 2, 2, 64, 64
	m, err := encoder.NewRandom(c, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "init")
	if err := checkpoint.WriteHFDir(dir, m.Config, m.Tensors(), checkpoint.F32, fixture.Repo(t, "data", "vocab", "vocab.txt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func finetuneFixture(t *testing.T) string {
	return fixture.Repo(t, "finetune", "testdata", "msmarco")
}

// TestMineCommand: BM25 mining of the MS MARCO fixture writes DPR JSONL
// with every query, its positives, and hard negatives that are never a
// judged positive; the output loads as training data.
func TestMineCommand(t *testing.T) {
	data := finetuneFixture(t)
	out := filepath.Join(t.TempDir(), "mined.jsonl")
	if err := runMine([]string{"--data", data, "--retriever", "bm25", "--depth", "10", "--skip-top", "1", "--random-negatives", "2", "--out", out, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	base, err := finetune.LoadMSMarcoDir(data, "train")
	if err != nil {
		t.Fatal(err)
	}
	mined, err := finetune.LoadDPR(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(mined.Examples) != len(base.Examples) {
		t.Fatalf("%d mined examples, want %d", len(mined.Examples), len(base.Examples))
	}
	for i, ex := range mined.Examples {
		b := base.Examples[i]
		if ex.QID != b.QID || len(ex.Positives) != len(b.Positives) || len(ex.HardNegatives) == 0 || len(ex.HardNegatives) > 9 || len(ex.Negatives) != 2 {
			t.Fatalf("example %d: %+v (base %+v)", i, ex, b)
		}
		pos := map[string]bool{}
		for _, p := range ex.Positives {
			pos[mined.Passages[p].ID] = true
		}
		for _, h := range append(ex.HardNegatives, ex.Negatives...) {
			if pos[mined.Passages[h].ID] {
				t.Fatalf("query %s: positive %s written as a negative", ex.QID, mined.Passages[h].ID)
			}
		}
	}
	// Dense mining with a model, to stdout-free file.
	model := finetuneTinyModel(t)
	out2 := filepath.Join(t.TempDir(), "dense.jsonl")
	var log bytes.Buffer
	if err := mine(context.Background(), mineArgs{data: data, split: "train", retriever: "dense", model: model, depth: 5, out: out2, maxLength: 64, batchSize: 16, quiet: false, log: &log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "30 queries") {
		t.Fatalf("log: %s", log.String())
	}
	if err := runMine([]string{"--data", data, "--retriever", "dense", "--quiet"}); err == nil {
		t.Fatal("dense without --model accepted")
	}
}

// TestFinetuneCommand: fine-tuning on the MS MARCO fixture writes the
// model, state, log and plot; stopping half-way and resuming gives the
// same weights bit for bit; mined data with a corpus trains too.
func TestFinetuneCommand(t *testing.T) {
	data := finetuneFixture(t)
	model := finetuneTinyModel(t)
	base := finetuneArgs{initDir: model, train: data, split: "train", hardRatio: 0.1, maxLength: 48, log: io.Discard,
		runFlags: runFlags{steps: 6, batch: 4, accum: 2, lr: 1e-4, warmup: 2, temperature: 0.05, checkpointEvery: 100, logEvery: 1, seed: 7, dtype: "f32"}}
	straight := filepath.Join(t.TempDir(), "straight")
	a := base
	a.out = straight
	if err := finetuneMain(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model/config.json", "model/model.safetensors", "model/vocab.txt", "model/modules.json", "model/1_Pooling/config.json", "model/sentence_bert_config.json", "model/config_sentence_transformers.json", "state.bin", "train.csv", "train.png"} {
		if _, err := os.Stat(filepath.Join(straight, f)); err != nil {
			t.Fatal(err)
		}
	}
	// The same run with a different stop: 3 steps, then --resume to 6.
	// (The schedule is set by --steps, so the first part runs the 6-step
	// schedule and is stopped by a cancelled context after 3 steps.)
	resumed := filepath.Join(t.TempDir(), "resumed")
	b := base
	b.out = resumed
	b.checkpointEvery = 3
	ctx, cancel := context.WithCancel(context.Background())
	b.log = &cancelAfter{cancel: cancel, marker: "step 3/6"}
	if err := finetuneMain(ctx, b); err == nil {
		t.Fatal("cancelled run returned no error")
	}
	st, err := contrastive.LoadState(filepath.Join(resumed, contrastive.StateName))
	if err != nil || st.Step != 3 && st.Step != 4 {
		t.Fatalf("saved state at step %v: %v", st, err)
	}
	b.resume, b.log = true, io.Discard
	if err := finetuneMain(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	w1, _ := os.ReadFile(filepath.Join(straight, "model", "model.safetensors"))
	w2, _ := os.ReadFile(filepath.Join(resumed, "model", "model.safetensors"))
	if len(w1) == 0 || !bytes.Equal(w1, w2) {
		t.Fatal("resumed fine-tuning differs from the straight run")
	}
	init, _ := os.ReadFile(filepath.Join(model, "model.safetensors"))
	if bytes.Equal(init, w1) {
		t.Fatal("fine-tuning did not change the weights")
	}

	// Mined DPR data plus the collection for random negatives.
	mined := filepath.Join(t.TempDir(), "mined.jsonl")
	if err := runMine([]string{"--data", data, "--depth", "10", "--out", mined, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	c := base
	c.train, c.corpus, c.out, c.steps = mined, filepath.Join(data, "collection.tsv"), filepath.Join(t.TempDir(), "mined"), 2
	var log bytes.Buffer
	c.log = &log
	if err := finetuneMain(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "60 passages") || !strings.Contains(log.String(), "hard negatives in 30 examples") {
		t.Fatalf("log: %s", log.String())
	}
}

// TestFinetuneTwoPhase: --two-phase trains phase 1, mines with its model,
// and trains phase 2 from --init on the mined negatives.
func TestFinetuneTwoPhase(t *testing.T) {
	data := finetuneFixture(t)
	model := finetuneTinyModel(t)
	out := filepath.Join(t.TempDir(), "two")
	var log bytes.Buffer
	a := finetuneArgs{initDir: model, train: data, split: "train", hardRatio: 0.5, maxLength: 48, log: &log,
		twoPhase: true, mineDepth: 8, out: out,
		runFlags: runFlags{steps: 2, batch: 4, accum: 1, lr: 1e-4, warmup: 0, temperature: 0.05, checkpointEvery: 100, logEvery: 1, seed: 7, dtype: "f32"}}
	if err := finetuneMain(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"phase1/model/model.safetensors", "phase1/hard-negatives.jsonl", "phase1/train.csv", "model/model.safetensors", "train.csv"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	set, err := finetune.LoadDPR(filepath.Join(out, "phase1", "hard-negatives.jsonl"))
	if err != nil || set.Stats().WithHard != 30 {
		t.Fatalf("mined file: %v %v", set.Stats(), err)
	}
	if !strings.Contains(log.String(), "phase 2") {
		t.Fatalf("log: %s", log.String())
	}
	// --resume after completion does nothing more and succeeds.
	a.resume, a.log = true, io.Discard
	if err := finetuneMain(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

// cancelAfter cancels a context once the progress output shows marker.
type cancelAfter struct {
	cancel func()
	marker string
	buf    bytes.Buffer
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
	}
	return len(p), nil
}

// TestFinetuneEvalOnly: --steps 0 with --eval-data evaluates --init:
// dense, hybrid and BM25 figures on SciFact test, each in [0, 1].
func TestFinetuneEvalOnly(t *testing.T) {
	model := finetuneTinyModel(t)
	var out bytes.Buffer
	a := finetuneArgs{initDir: model, evalHybrid: true, runFlags: runFlags{evalData: fixture.Repo(t, "data", "scifact"), evalSplit: "test", evalDocLen: 32}}
	if err := finetuneEvalOnly(context.Background(), a, &out); err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(out.String())
	got := map[string]float64{}
	for i := 0; i+1 < len(fields); i++ {
		var v float64
		if _, err := fmt.Sscanf(fields[i+1], "%g", &v); err == nil {
			got[fields[i]] = v
		}
	}
	for _, k := range []string{"ndcg@10", "recall@100", "hybrid_ndcg@10", "hybrid_recall@100", "bm25_ndcg@10", "bm25_recall@100"} {
		v, ok := got[k]
		if !ok || v < 0 || v > 1 {
			t.Fatalf("%s missing or out of range in %q", k, out.String())
		}
	}
	// A random model ranks worse than BM25; fusing it with BM25 keeps
	// much of BM25's quality.
	if !(got["ndcg@10"] < got["bm25_ndcg@10"] && got["hybrid_ndcg@10"] > got["ndcg@10"]) {
		t.Fatalf("figures out of order: %v", got)
	}
}
