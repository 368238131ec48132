package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/index/bm25"
)

// retrieverDataset writes a small BEIR dataset (the e2e corpus) whose
// queries name one document each; train and test qrels judge different
// queries.
func retrieverDataset(t *testing.T, withTrain bool) string {
	t.Helper()
	dir := t.TempDir()
	var corpus bytes.Buffer
	for _, d := range e2eCorpus {
		b, _ := json.Marshal(d)
		corpus.Write(append(b, '\n'))
	}
	queries := map[string]string{
		"q1": "grandmaster rook", "q2": "lava volcano ash", "q3": "knead dough bread",
		"q4": "stem cells divide", "q5": "planet orbit mountain", "q6": "dogs bark park sun",
	}
	rel := map[string]string{"q1": "chess", "q2": "volcano", "q3": "bread", "q4": "stem", "q5": "orbit", "q6": "dog"}
	var qs bytes.Buffer
	for _, id := range []string{"q1", "q2", "q3", "q4", "q5", "q6"} {
		b, _ := json.Marshal(map[string]string{"_id": id, "text": queries[id]})
		qs.Write(append(b, '\n'))
	}
	os.MkdirAll(filepath.Join(dir, "qrels"), 0o755)
	os.WriteFile(filepath.Join(dir, "corpus.jsonl"), corpus.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "queries.jsonl"), qs.Bytes(), 0o644)
	write := func(split string, ids ...string) {
		var b strings.Builder
		b.WriteString("query-id\tcorpus-id\tscore\n")
		for _, q := range ids {
			b.WriteString(q + "\t" + rel[q] + "\t1\n")
		}
		os.WriteFile(filepath.Join(dir, "qrels", split+".tsv"), []byte(b.String()), 0o644)
	}
	write("test", "q1", "q2", "q3")
	if withTrain {
		write("train", "q4", "q5", "q6")
	}
	return dir
}

func TestDenseRetrieverCache(t *testing.T) {
	ctx := context.Background()
	ds, err := beir.Load(retrieverDataset(t, false), "test")
	if err != nil {
		t.Fatal(err)
	}
	model := e2eModel(t)
	cache := t.TempDir()
	o := engine.DenseOptions{Model: model, CacheDir: cache, Quiet: true}
	r1, err := engine.NewDense(ctx, ds, o)
	if err != nil {
		t.Fatal(err)
	}
	if r1.CacheHit || r1.CachePath == "" {
		t.Fatalf("first run: hit %v path %q", r1.CacheHit, r1.CachePath)
	}
	r2, err := engine.NewDense(ctx, ds, o)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.CacheHit || r2.CachePath != r1.CachePath {
		t.Fatalf("second run did not read the cache: %v %q", r2.CacheHit, r2.CachePath)
	}
	run1, err := r1.Retrieve(ctx, ds.Queries, 10)
	if err != nil {
		t.Fatal(err)
	}
	run2, _ := r2.Retrieve(ctx, ds.Queries, 10)
	for _, q := range ds.Queries {
		if len(run1[q.ID]) != 10 || len(run2[q.ID]) != 10 {
			t.Fatalf("query %s: %d and %d hits", q.ID, len(run1[q.ID]), len(run2[q.ID]))
		}
		for i := range run1[q.ID] {
			if run1[q.ID][i] != run2[q.ID][i] {
				t.Fatalf("cached vectors give other results for %s", q.ID)
			}
		}
	}
	// Another max length is another cache entry.
	o.Settings.MaxLength = 64
	r3, err := engine.NewDense(ctx, ds, o)
	if err != nil || r3.CacheHit || r3.CachePath == r1.CachePath {
		t.Fatalf("max length not in the cache key: %v %v", err, r3.CacheHit)
	}
	// A query prompt leaves the corpus vectors' key alone; a document
	// prompt is another entry.
	o.Settings.MaxLength = 0
	qp, dp := "query: ", "passage: "
	o.Settings.QueryPrompt = &qp
	if r4, err := engine.NewDense(ctx, ds, o); err != nil || !r4.CacheHit || r4.CachePath != r1.CachePath {
		t.Fatalf("a query prompt changed the corpus cache key: %v %v", err, r4.CachePath)
	}
	o.Settings.DocPrompt = &dp
	if r5, err := engine.NewDense(ctx, ds, o); err != nil || r5.CacheHit || r5.CachePath == r1.CachePath {
		t.Fatalf("document prompt not in the cache key: %v %v", err, r5.CacheHit)
	}
	// IVF with every list probed gives the flat results.
	ivf, err := engine.NewDense(ctx, ds, engine.DenseOptions{Model: model, Index: "ivf", NList: 2, NProbe: 2, CacheDir: cache, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	run3, _ := ivf.Retrieve(ctx, ds.Queries, 10)
	for _, q := range ds.Queries {
		for i := range run1[q.ID] {
			if run1[q.ID][i].DocID != run3[q.ID][i].DocID {
				t.Fatalf("ivf with nprobe = nlist differs from flat for %s", q.ID)
			}
		}
	}
}

func TestHybridRetriever(t *testing.T) {
	ctx := context.Background()
	dir := retrieverDataset(t, true)
	ds, err := beir.Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := bm25.Build(ctx, filepath.Join(t.TempDir(), "bm25"), ds.Corpus, bm25.Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	bm := engine.BM25{Index: ix}
	dense, err := engine.NewDense(ctx, ds, engine.DenseOptions{Model: e2eModel(t), CacheDir: "", Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	// α = 1 is the dense order; α = 0 puts BM25's best first (when its
	// list has distinct scores: with min-max, a one-hit list normalises
	// every doc to 1).
	bmRun, _ := bm.Retrieve(ctx, ds.Queries, 10)
	dRun, _ := dense.Retrieve(ctx, ds.Queries, 10)
	for _, alpha := range []float64{0, 1} {
		h, err := engine.NewHybrid(bm, dense, engine.HybridOptions{Alpha: alpha})
		if err != nil {
			t.Fatal(err)
		}
		run, err := h.Retrieve(ctx, ds.Queries, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range ds.Queries {
			want := append([]beir.Hit(nil), dRun[q.ID]...)
			if alpha == 0 {
				want = append([]beir.Hit(nil), bmRun[q.ID]...)
			}
			beir.SortHits(want)
			got := run[q.ID]
			if len(got) != 10 {
				t.Fatalf("alpha %g, query %s: %d hits", alpha, q.ID, len(got))
			}
			if alpha == 1 {
				for i := range want {
					if got[i].DocID != want[i].DocID {
						t.Fatalf("alpha 1, query %s: %v, want the dense order %v", q.ID, got, want)
					}
				}
			} else if len(want) > 1 && want[0].Score > want[len(want)-1].Score && got[0].DocID != want[0].DocID {
				t.Fatalf("alpha 0, query %s: %v, want %s first", q.ID, got, want[0].DocID)
			}
		}
	}
	if _, err := engine.NewHybrid(bm, dense, engine.HybridOptions{Alpha: 1.5}); err == nil {
		t.Fatal("alpha 1.5 accepted")
	}
	if _, err := engine.NewHybrid(bm, dense, engine.HybridOptions{Fusion: "max"}); err == nil {
		t.Fatal("fusion max accepted")
	}
	// --alpha auto: on train (BM25 finds every relevant doc at rank 1 and
	// the dense model is random, so α = 0 is best); never on test.
	h, _ := engine.NewHybrid(bm, dense, engine.HybridOptions{})
	alpha, score, split, nq, err := h.SelectAlpha(ctx, dir, "test", []string{"train", "dev"}, 20, 100)
	if err != nil {
		t.Fatal(err)
	}
	if split != "train" || nq != 3 || alpha != 0 || score != 1 {
		t.Fatalf("auto: alpha %g score %g split %s queries %d", alpha, score, split, nq)
	}
	d := h.Describe()
	if d["fusion"] != "linear" || d["alpha"] != 0.0 || d["norm"] != "minmax" || d["dense_dim"] != 32 || d["dense_vector_index"] != "flat" {
		t.Fatalf("Describe: %v", d)
	}
	if _, _, _, _, err := h.SelectAlpha(ctx, dir, "train", []string{"train"}, 20, 100); err == nil {
		t.Fatal("alpha chosen on the evaluated split")
	}
	if _, _, _, _, err := h.SelectAlpha(ctx, retrieverDataset(t, false), "test", []string{"train", "dev"}, 20, 100); err == nil {
		t.Fatal("alpha chosen without held-out qrels")
	}
}
