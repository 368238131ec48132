package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/fixture"
)

// asymmetricStatic saves a static model whose queries have their own
// random vectors (dim 8, the bundled vocabulary) and returns it and its
// folder.
func asymmetricStatic(t *testing.T) (*static.Model, string) {
	t.Helper()
	tok, err := wordpiece.Load(fixture.Repo(t, "data", "vocab", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	w, q := make([]float32, tok.VocabSize()*8), make([]float32, tok.VocabSize()*8)
	for i := range w {
		w[i], q[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	m, err := static.NewAsymmetric(tok, w, q, 8)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "asym")
	if err := static.Save(dir, m, "card"); err != nil {
		t.Fatal(err)
	}
	return m, dir
}

// TestAsymmetricQueries checks that every way the engine embeds queries
// uses an asymmetric model's query vectors, and documents its document
// vectors: EmbedQueries, the PromptEncoder of OpenModelAt and of
// OpenEmbedder, the Dense retriever of beir, and a built index's search.
func TestAsymmetricQueries(t *testing.T) {
	ctx := context.Background()
	m, dir := asymmetricStatic(t)
	queries := []string{"purring cats", "enzyme folding"}
	wantQ, wantD := m.EmbedQueries(queries), m.Embed(queries)
	if slices.Equal(wantQ, wantD) {
		t.Fatal("the model's query and document vectors agree")
	}
	e, err := OpenModelAt(dir, ModelSettings{}, 8, 1, encoder.F32)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got, err := EmbedQueries(ctx, e, queries, "", true); err != nil || !slices.Equal(got, wantQ) {
		t.Errorf("EmbedQueries: %v, %v", got, err)
	}
	if got, err := Embed(ctx, e, queries, nil, "", true); err != nil || !slices.Equal(got, wantD) {
		t.Errorf("Embed: %v, %v", got, err)
	}
	if got, err := e.(PromptEncoder).EncodeQueries(ctx, queries); err != nil || !slices.Equal(got, wantQ) {
		t.Errorf("OpenModelAt's EncodeQueries: %v, %v", got, err)
	}
	if got, err := e.(PromptEncoder).EncodeDocs(ctx, queries); err != nil || !slices.Equal(got, wantD) {
		t.Errorf("OpenModelAt's EncodeDocs: %v, %v", got, err)
	}
	se, err := OpenEmbedder(dir, encoder.Options{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := se.(PromptEncoder).EncodeQueries(ctx, queries); err != nil || !slices.Equal(got, wantQ) {
		t.Errorf("OpenEmbedder's EncodeQueries: %v, %v", got, err)
	}
	dst := make([]float32, len(wantQ))
	if err := EmbedQueriesPromptedTo(ctx, e, dst, queries, nil, nil); err != nil || !slices.Equal(dst, wantQ) {
		t.Errorf("EmbedQueriesPromptedTo: %v", err)
	}

	// score is the cosine of the query vector qv and document d under the
	// model.
	score := func(qv []float32, d beir.Doc) float64 {
		dv := m.Embed([]string{d.Passage()})
		var s float64
		for k := range dv {
			s += float64(qv[k]) * float64(dv[k])
		}
		return s
	}
	byID := map[string]beir.Doc{}
	for _, d := range testDocs {
		byID[d.ID] = d
	}
	check := func(where string, i int, id string, got float64) {
		t.Helper()
		if want := score(wantQ[i*8:(i+1)*8], byID[id]); math.Abs(got-want) > 1e-5 {
			t.Errorf("%s, query %d, %s: score %g, want %g (the query vectors' cosine; the document vectors' gives %g)", where, i, id, got, want, score(wantD[i*8:(i+1)*8], byID[id]))
		}
	}
	// The Dense retriever (beir, index --eval).
	bdir := t.TempDir()
	var corpus, qs []byte
	for _, d := range testDocs {
		corpus = append(corpus, fmt.Sprintf("{\"_id\": %q, \"title\": %q, \"text\": %q}\n", d.ID, d.Title, d.Text)...)
	}
	for i, q := range queries {
		qs = append(qs, fmt.Sprintf("{\"_id\": \"q%d\", \"text\": %q}\n", i, q)...)
	}
	os.WriteFile(filepath.Join(bdir, "corpus.jsonl"), corpus, 0o644)
	os.WriteFile(filepath.Join(bdir, "queries.jsonl"), qs, 0o644)
	os.MkdirAll(filepath.Join(bdir, "qrels"), 0o755)
	os.WriteFile(filepath.Join(bdir, "qrels", "test.tsv"), []byte("query-id\tcorpus-id\tscore\nq0\td1\t1\nq1\td5\t1\n"), 0o644)
	ds, err := beir.Load(bdir, "test")
	if err != nil {
		t.Fatal(err)
	}
	dense, err := NewDense(ctx, ds, DenseOptions{Model: dir, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	run, err := dense.Retrieve(ctx, ds.Queries, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range ds.Queries {
		i := int(q.ID[1] - '0')
		if len(run[q.ID]) != len(testDocs) {
			t.Fatalf("Dense, %s: %d hits", q.ID, len(run[q.ID]))
		}
		for _, h := range run[q.ID] {
			check("Dense", i, h.DocID, h.Score)
		}
	}
	// A built index's search (serve).
	idx := filepath.Join(t.TempDir(), "idx")
	if _, err := Build(ctx, idx, corpusOf(testDocs), BuildOptions{Model: dir, CacheDir: t.TempDir(), Quiet: true}); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, idx, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Backend()
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Retrieve(ctx, Retrieval{Queries: queries, K: 10, Dense: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range queries {
		if len(r.Dense[i]) != len(testDocs) {
			t.Fatalf("index search, query %d: %d hits", i, len(r.Dense[i]))
		}
		for _, h := range r.Dense[i] {
			check("index search", i, h.ID, float64(h.Score))
		}
	}
	c.Close()
}
