package study

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestGrid measures BM25 on SciFact test and fuses it with a dense run
// that is BM25's own top 1000 in reverse order: α 0 gives BM25's nDCG@10
// and α 1 the reversed run's, the best point is BM25's end of the grid, and
// the cells hold the asked range.
func TestGrid(t *testing.T) {
	ds, err := beir.Load(fixture.Repo(t, "data", "scifact"), "test")
	if err != nil {
		t.Fatal(err)
	}
	bm, err := BM25Run(context.Background(), ds, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rev := beir.Run{}
	for q, hs := range bm {
		r := make([]beir.Hit, len(hs))
		for i, h := range hs {
			r[len(hs)-1-i] = beir.Hit{DocID: h.DocID, Score: float64(i)}
		}
		rev[q] = r
	}
	ps, err := Grid(ds, rev, bm, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 21 {
		t.Fatalf("%d points, want 21", len(ps))
	}
	b, r := NDCG10(ds, bm), NDCG10(ds, rev)
	if !(b > 0.5 && r < 0.1) {
		t.Fatalf("BM25 %.4f, reversed %.4f", b, r)
	}
	if math.Abs(At(ps, 0)-b) > 1e-12 || math.Abs(At(ps, 1)-r) > 1e-12 {
		t.Errorf("α 0: %.6f (BM25 %.6f); α 1: %.6f (reversed %.6f)", At(ps, 0), b, At(ps, 1), r)
	}
	if best := Best(ps); best.NDCG < b || best.Alpha > 0.5 {
		t.Errorf("best %+v, BM25 %.4f", best, b)
	}
	if c := Cells(ps, 0.3, 0.4); strings.Count(c, ":") != 3 || !strings.HasPrefix(c, "0.30:") {
		t.Errorf("cells %q", c)
	}
}
