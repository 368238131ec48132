// Package study holds what the measurement tools under tools/ share: a
// split loaded and tokenised with a static model, BM25's run over a
// dataset's queries (an index built in a temporary folder and removed),
// and hybrid nDCG@10 over the grid of α for linear min-max
// fusion of a dense run with it (engine.FuseRuns, the engine's own fusion).
// The tools choose on a train split; these helpers only measure.
package study

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/index/bm25"
)

// BM25Run returns BM25's top k (Pyserini's parameters) for every query of
// ds, from an index built in a temporary folder that is removed after.
func BM25Run(ctx context.Context, ds *beir.Dataset, k int) (beir.Run, error) {
	tmp, err := os.MkdirTemp("", "study-bm25-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ix, err := bm25.Build(ctx, filepath.Join(tmp, "bm25"), ds.Corpus, bm25.Options{Params: bm25.DefaultParams(), Quiet: true})
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	return engine.BM25{Index: ix}.Retrieve(ctx, ds.Queries, k)
}

// NDCG10 returns the mean nDCG@10 of run over ds's judged queries
// (trec_eval -c).
func NDCG10(ds *beir.Dataset, run beir.Run) float64 {
	return beir.Evaluate(ds.Qrels, run, []beir.Metric{{Measure: beir.NDCG, K: 10}}, beir.EvalOptions{}).Mean[0]
}

// Point is hybrid nDCG@10 at one α.
type Point struct {
	Alpha, NDCG float64
}

// Grid returns hybrid nDCG@10 at every α of fusion.AlphaGrid(20) (0, 0.05,
// …, 1): linear min-max fusion of dRun and bmRun, the first k fused hits
// kept.
func Grid(ds *beir.Dataset, dRun, bmRun beir.Run, k int) ([]Point, error) {
	var ps []Point
	for _, a := range fusion.AlphaGrid(20) {
		run, err := engine.FuseRuns(ds.Queries, dRun, bmRun, engine.HybridOptions{Fusion: "linear", Alpha: a, Norm: fusion.MinMax}, k)
		if err != nil {
			return nil, err
		}
		ps = append(ps, Point{a, NDCG10(ds, run)})
	}
	return ps, nil
}

// Best returns the point of highest nDCG@10 (the smallest α on ties).
func Best(ps []Point) Point {
	b := Point{NDCG: -1}
	for _, p := range ps {
		if p.NDCG > b.NDCG {
			b = p
		}
	}
	return b
}

// At returns nDCG@10 at α a (to within 1e-9), or 0 when a is not on the
// grid.
func At(ps []Point, a float64) float64 {
	for _, p := range ps {
		if p.Alpha > a-1e-9 && p.Alpha < a+1e-9 {
			return p.NDCG
		}
	}
	return 0
}

// Cells formats the points with α in [lo, hi] as "α:nDCG" separated by
// spaces.
func Cells(ps []Point, lo, hi float64) string {
	var cells []string
	for _, p := range ps {
		if p.Alpha > lo-1e-9 && p.Alpha < hi+1e-9 {
			cells = append(cells, fmt.Sprintf("%.2f:%.4f", p.Alpha, p.NDCG))
		}
	}
	return strings.Join(cells, " ")
}

// Tokenized is a dataset split with a static model and the corpus and
// queries as that model's token ids (special tokens not added).
type Tokenized struct {
	DS      *beir.Dataset
	Model   *static.Model
	DocIDs  []string
	Docs    [][]int32 // each document's passage (title, then text)
	Titles  []int     // each document's title length in tokens
	Queries [][]int32
}

// LoadTokenized loads split of the BEIR dataset in data and the static
// model in modelDir, and tokenises the corpus and the queries with it.
func LoadTokenized(data, split, modelDir string) (*Tokenized, error) {
	ds, err := beir.Load(data, split)
	if err != nil {
		return nil, err
	}
	m, err := static.Load(modelDir)
	if err != nil {
		return nil, err
	}
	tok := m.Tokenizer()
	t := &Tokenized{DS: ds, Model: m, Queries: make([][]int32, len(ds.Queries))}
	if err := ds.Corpus(func(doc beir.Doc) error {
		t.DocIDs = append(t.DocIDs, doc.ID)
		t.Titles = append(t.Titles, len(tok.AppendTokenize(nil, doc.Title)))
		t.Docs = append(t.Docs, tok.AppendTokenize(nil, doc.Passage()))
		return nil
	}); err != nil {
		return nil, err
	}
	for i, q := range ds.Queries {
		t.Queries[i] = tok.AppendTokenize(nil, q.Text)
	}
	return t, nil
}

// QueryIDs returns the dataset's query ids in order.
func QueryIDs(ds *beir.Dataset) []string {
	out := make([]string, len(ds.Queries))
	for i, q := range ds.Queries {
		out[i] = q.ID
	}
	return out
}
