package engine

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/index/vector"
)

// TestTieAtKthPosition checks the one tie rule of the project (score
// descending, then doc id descending, as trec_eval) for every method when
// the top-k cut falls inside a group of equal scores: BM25, dense (flat;
// IVF-PQ and codes-only SQ8 here too; IVF and SQ8 in package vector's
// conformance tests), both fusions and the
// run file.
func TestTieAtKthPosition(t *testing.T) {
	ctx := context.Background()
	const k = 3
	tied := []string{"t1", "t2", "t3", "t4", "t5"}
	want := []string{"t5", "t4", "t3"}
	queries := []beir.Query{{ID: "q", Text: "apple banana"}}
	ids := func(hs []beir.Hit) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.DocID)
		}
		return out
	}

	// BM25: identical documents score exactly alike.
	docs := []document.Doc{{ID: "other", Text: "cherry"}}
	for _, id := range []string{"t3", "t1", "t5", "t2", "t4"} {
		docs = append(docs, document.Doc{ID: id, Text: "apple banana"})
	}
	ix, err := bm25.Build(ctx, filepath.Join(t.TempDir(), "bm25"), func(fn func(document.Doc) error) error {
		for _, d := range docs {
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	}, bm25.Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	bmRun, err := BM25{Index: ix}.Retrieve(ctx, queries, k)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(bmRun["q"]); !slices.Equal(got, want) {
		t.Errorf("bm25 top %d = %v, want %v", k, got, want)
	}

	// Dense: identical vectors.
	const dim = 4
	var vecs []float32
	for range tied {
		vecs = append(vecs, 1, 0.5, 0, 0)
	}
	dRun, err := ExactRun(dim, tied, vecs, []string{"q"}, []float32{1, 1, 0, 0}, k)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(dRun["q"]); !slices.Equal(got, want) {
		t.Errorf("dense top %d = %v, want %v", k, got, want)
	}

	// Dense through the lossy indexes (IVF with codes-only SQ8, IVF-PQ with
	// and without re-ranking): identical vectors get identical codes, so
	// the tie survives quantisation and must be cut by the same rule.
	const qdim = 16
	var qids []string
	var qvecs []float32
	for i := range 300 { // other documents, small and spread out
		qids = append(qids, fmt.Sprintf("o%03d", i))
		for j := range qdim {
			qvecs = append(qvecs, float32((i*7+j*13)%17)/170-0.05)
		}
	}
	for _, id := range []string{"t3", "t1", "t5", "t2", "t4"} {
		qids = append(qids, id)
		for j := range qdim {
			qvecs = append(qvecs, float32(1+j%3))
		}
	}
	query := make([]float32, qdim)
	for j := range query {
		query[j] = 1
	}
	for _, c := range []struct {
		name string
		opts []vector.Option
	}{
		{"ivf-sq8-codes", []vector.Option{vector.WithSQ8(), vector.WithCodesOnly()}},
		{"ivf-pq", []vector.Option{vector.WithPQ(4)}},
		{"ivf-pq-codes", []vector.Option{vector.WithPQ(4), vector.WithCodesOnly()}},
	} {
		ivf, err := vector.NewIVF(qdim, 4, append(c.opts, vector.WithNProbe(4), vector.WithSeed(1))...)
		if err == nil {
			err = ivf.Train(qvecs)
		}
		if err == nil {
			err = ivf.Add(qids, qvecs)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r, err := searchRun(ivf, []string{"q"}, query, k)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(r["q"]); !slices.Equal(got, want) {
			t.Errorf("%s top %d = %v, want %v", c.name, k, got, want)
		}
	}

	// Fusion: every document has the same score in both lists.
	full := beir.Run{"q": nil}
	for _, id := range tied {
		full["q"] = append(full["q"], beir.Hit{DocID: id, Score: 1})
	}
	for _, o := range []HybridOptions{{Fusion: "linear", Alpha: 0.5}, {Fusion: "rrf", RRFK: 60}} {
		fused, err := FuseRuns(queries, full, full, o, k)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(fused["q"]); !slices.Equal(got, want) {
			t.Errorf("%s fusion top %d = %v, want %v", o.Fusion, k, got, want)
		}
	}

	// Run file: written in the same order.
	var buf bytes.Buffer
	if err := beir.WriteRun(&buf, beir.Run{"q": slices.Clone(full["q"])[:5]}, "tag"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, id := range want {
		if f := strings.Fields(lines[i]); f[2] != id || f[3] != fmt.Sprint(i+1) {
			t.Errorf("run file line %d = %q, want %s at rank %d", i, lines[i], id, i+1)
		}
	}
}
