package contrastive

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/fixture"
)

// writeBEIR writes a small BEIR dataset: each query repeats the words of
// one document, so a bag-of-words model ranks that document first.
func writeBEIR(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	corpus := `{"_id": "d1", "title": "insulin", "text": "insulin resistance in skeletal muscle of obese mice"}
{"_id": "d2", "title": "virus", "text": "influenza virus replication in human airway cells"}
{"_id": "d3", "title": "tumor", "text": "tumor suppressor genes and breast cancer risk"}
{"_id": "d4", "title": "", "text": "sleep deprivation impairs memory consolidation"}
`
	queries := `{"_id": "q1", "text": "obese mice insulin resistance"}
{"_id": "q2", "text": "breast cancer tumor suppressor"}
{"_id": "q3", "text": "an unjudged query"}
`
	qrels := "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n"
	for name, s := range map[string]string{"corpus.jsonl": corpus, "queries.jsonl": queries, "qrels/test.tsv": qrels} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDenseEval: a bag-of-words start (InitScales with identity blocks)
// retrieves each query's document first (nDCG@10 = 1), while the judged
// queries only are evaluated; the scores come from the model (another
// model gives another run).
func TestDenseEval(t *testing.T) {
	tok, err := wordpiece.Load(fixture.Repo(t, "data", "vocab", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewDenseEval(writeBEIR(t), "test", encoder.WordPiece(tok), 64)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Docs() != 4 || ev.Queries() != 2 {
		t.Fatalf("%d docs, %d queries; want 4, 2", ev.Docs(), ev.Queries())
	}
	cfg, _ := encoder.NamedConfig("tiny")
	m, err := encoder.NewRandom(cfg, 5, false)
	if err != nil {
		t.Fatal(err)
	}
	InitScales{Residual: 0, Position: 0.1}.Apply(m)
	vals, err := ev.Evaluate(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if vals["ndcg@10"] != 1 || vals["recall@100"] != 1 {
		t.Fatalf("bag-of-words start: %v, want nDCG@10 = Recall@100 = 1", vals)
	}
	run, err := ev.Run(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(run) != 2 || len(run["q1"]) != 4 || run["q1"][0].DocID != "d1" || !(run["q1"][0].Score > run["q1"][1].Score) {
		t.Fatalf("run: %+v", run)
	}
	// The scores are the model's mean-pooled inner products.
	enc, _ := encoder.New(m, encoder.WordPiece(tok), encoder.Options{MaxLength: 64})
	v, err := enc.Encode(context.Background(), []string{"obese mice insulin resistance", "insulin insulin resistance in skeletal muscle of obese mice"})
	if err != nil {
		t.Fatal(err)
	}
	H := m.Config.HiddenSize
	var dot float64
	for i := 0; i < H; i++ {
		dot += float64(v[i]) * float64(v[H+i])
	}
	if math.Abs(dot-run["q1"][0].Score) > 1e-3*math.Abs(dot) {
		t.Fatalf("score %g, direct inner product %g", run["q1"][0].Score, dot)
	}
	if _, err := NewDenseEval(t.TempDir(), "test", encoder.WordPiece(tok), 64); err == nil {
		t.Fatal("empty folder accepted")
	}
}

// TestInitScales: Residual 0 zeroes both output projections of every
// block (each block then maps its input to LayerNorm(input)); Position
// scales the position and token-type embeddings and nothing else.
func TestInitScales(t *testing.T) {
	m, _ := encoder.NewRandom(tinyConfig(), 5, false)
	orig := m.Clone()
	InitScales{Residual: 0, Position: 0.5}.Apply(m)
	for _, L := range m.Layers {
		for _, x := range append(append([]float32(nil), L.AttnOutW...), L.OutW...) {
			if x != 0 {
				t.Fatal("output projection not zeroed")
			}
		}
	}
	for i, x := range m.PosEmb {
		if x != orig.PosEmb[i]*0.5 {
			t.Fatal("position embeddings not halved")
		}
	}
	for i, x := range m.WordEmb {
		if x != orig.WordEmb[i] {
			t.Fatal("word embeddings changed")
		}
	}
}
