package bm25

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/internal/fixture"
)

// comparePruned runs every query with MaxScore pruning and exhaustively and
// requires identical hits (ids, bit-identical scores, order), at each k.
// It runs the queries twice so that the second pass uses the bounds
// cached by the first.
func comparePruned(t *testing.T, ix *Index, queries []string, ks []int) {
	t.Helper()
	ctx := context.Background()
	for pass := 0; pass < 2; pass++ {
		for _, k := range ks {
			ix.SetExhaustive(true)
			want, err := ix.SearchBatch(ctx, queries, k)
			if err != nil {
				t.Fatal(err)
			}
			ix.SetExhaustive(false)
			got, err := ix.SearchBatch(ctx, queries, k)
			if err != nil {
				t.Fatal(err)
			}
			for i := range queries {
				if !slices.Equal(got[i], want[i]) {
					t.Fatalf("pass %d k=%d query %q:\npruned     %v\nexhaustive %v", pass, k, queries[i], got[i], want[i])
				}
				for j := 1; j < len(got[i]); j++ {
					if beir.CompareHits(got[i][j-1], got[i][j]) >= 0 {
						t.Fatalf("query %q: hits %d and %d out of order", queries[i], j-1, j)
					}
				}
			}
		}
	}
}

// TestPrunedMatchesExhaustiveSciFact compares the pruned and exhaustive
// top k on the SciFact corpus with its test and train queries, with
// Lucene norms on and off, and multifield.
func TestPrunedMatchesExhaustiveSciFact(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 5k-document index")
	}
	root := fixture.Repo(t, "data", "scifact")
	ds, err := beir.Load(root, "test")
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	for _, q := range ds.Queries {
		queries = append(queries, q.Text)
	}
	if tr, err := beir.Load(root, "train"); err == nil {
		for _, q := range tr.Queries[:min(100, len(tr.Queries))] {
			queries = append(queries, q.Text)
		}
	}
	// Long, verbose queries too (many common terms): a passage's text.
	n := 0
	ds.Corpus(func(d beir.Doc) error {
		if n < 20 {
			queries = append(queries, d.Text)
		}
		n++
		return nil
	})
	for _, multi := range []bool{false, true} {
		ix, err := Build(context.Background(), filepath.Join(t.TempDir(), "idx"), ds.Corpus, Options{Quiet: true, Multifield: multi})
		if err != nil {
			t.Fatal(err)
		}
		ks := []int{1, 10, 100}
		if multi {
			ks = []int{10}
		}
		comparePruned(t, ix, queries, ks)
		if !multi {
			if err := ix.SetLuceneNorms(true); err != nil {
				t.Fatal(err)
			}
			comparePruned(t, ix, queries, []int{10})
		}
		ix.Close()
	}
}

// TestPrunedMatchesExhaustiveAdversarial: a tiny Zipfian vocabulary
// (postings lists covering most documents), many exact duplicates (ties at
// every rank, including at the k-th), repeated query terms, queries of
// one word and of many, then a third of the documents deleted.
func TestPrunedMatchesExhaustiveAdversarial(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	vocab := []string{"cell", "growth", "protein", "bone", "vitamin", "neuron", "tumour", "signal", "receptor",
		"density", "loss", "study", "factor", "folding", "axon", "clinic", "health", "vessel", "blood", "gene"}
	word := func() string {
		// Zipf-like: index ~ floor(20·u²).
		u := rng.Float64()
		return vocab[int(float64(len(vocab))*u*u)]
	}
	var docs []beir.Doc
	for i := 0; i < 1500; i++ {
		id := fmt.Sprintf("d%04d", i)
		if i%7 == 3 && i > 10 {
			// An exact copy of an earlier document: a tie at any query.
			src := docs[rng.IntN(len(docs))]
			docs = append(docs, beir.Doc{ID: id, Title: src.Title, Text: src.Text})
			continue
		}
		n := 1 + rng.IntN(40)
		w := make([]string, n)
		for j := range w {
			w[j] = word()
		}
		docs = append(docs, beir.Doc{ID: id, Title: word(), Text: strings.Join(w, " ")})
	}
	var queries []string
	for i := 0; i < 100; i++ {
		n := 1 + rng.IntN(8)
		w := make([]string, n)
		for j := range w {
			w[j] = word()
		}
		queries = append(queries, strings.Join(w, " "))
	}
	queries = append(queries, "cell", "gene gene gene", strings.Join(vocab, " "), "absent words only", "")
	for _, multi := range []bool{false, true} {
		ix := build(t, docs, Options{Multifield: multi, Params: Params{K1: 1.2, B: 0.75}})
		comparePruned(t, ix, queries, []int{1, 3, 10, 50})
		var del []string
		for i := 0; i < len(docs); i += 3 {
			del = append(del, docs[i].ID)
		}
		if err := ix.Delete(del); err != nil {
			t.Fatal(err)
		}
		comparePruned(t, ix, queries, []int{1, 10, 50})
	}
	// Ties at the cut: copies of one document, k inside the tied block;
	// the trec_eval rule (score descending, doc id descending) decides.
	tied := []beir.Doc{{ID: "a", Text: "bone density loss"}}
	for i := 0; i < 30; i++ {
		tied = append(tied, beir.Doc{ID: fmt.Sprintf("t%02d", i), Text: "bone density"})
	}
	ix := build(t, tied, Options{})
	comparePruned(t, ix, []string{"bone density", "bone", "density loss"}, []int{1, 5, 12, 40})
	hits, err := ix.Search(context.Background(), "bone density", 5)
	if err != nil {
		t.Fatal(err)
	}
	if hits[0].DocID != "t29" || hits[4].DocID != "t25" {
		t.Fatalf("tied block not by doc id descending: %v", hits)
	}
}

// TestPrunedSplitMatchesExhaustive runs the pruned-versus-exhaustive
// comparisons with every query split into four document ranges searched in
// parallel (as on a large index), sharing θ: the merged top k must still
// be the exhaustive one, ties and deleted documents included.
func TestPrunedSplitMatchesExhaustive(t *testing.T) {
	old, oldProcs := splitMinDocs, runtime.GOMAXPROCS(4)
	splitMinDocs, batchSerial = 0, false
	t.Cleanup(func() { splitMinDocs, batchSerial = old, true; runtime.GOMAXPROCS(oldProcs) })
	t.Run("adversarial", TestPrunedMatchesExhaustiveAdversarial)
	t.Run("scifact", TestPrunedMatchesExhaustiveSciFact)
}
