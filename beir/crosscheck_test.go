package beir_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/internal/fixture"
)

// naiveEval is a second, deliberately plain implementation of the
// trec_eval measures, written from the definitions, sharing no code with
// beir.Evaluate. It works on the rows of a run file as text, as trec_eval
// does: it parses the scores itself and sorts with sort.Slice.
type naiveRow struct {
	doc   string
	score float64
}

func naiveEval(qrels map[string]map[string]int, rows map[string][]naiveRow, name string, k int) (float64, int) {
	total, n := 0.0, 0
	for qid, list := range rows {
		judged, ok := qrels[qid]
		if !ok {
			continue
		}
		n++
		var kept []naiveRow
		for _, r := range list {
			if r.doc != qid {
				kept = append(kept, r)
			}
		}
		sort.Slice(kept, func(i, j int) bool {
			if kept[i].score != kept[j].score {
				return kept[i].score > kept[j].score
			}
			return strings.Compare(kept[i].doc, kept[j].doc) > 0
		})
		if len(kept) > k {
			kept = kept[:k]
		}
		numRel := 0
		var gains []int
		for _, g := range judged {
			if g >= 1 {
				numRel++
				gains = append(gains, g)
			}
		}
		v := 0.0
		switch name {
		case "ndcg":
			dcg := 0.0
			for i, r := range kept {
				if g := judged[r.doc]; g > 0 {
					dcg += float64(g) / (math.Log(float64(i)+2) / math.Ln2)
				}
			}
			sort.Sort(sort.Reverse(sort.IntSlice(gains)))
			idcg := 0.0
			for i := 0; i < len(gains) && i < k; i++ {
				idcg += float64(gains[i]) / (math.Log(float64(i)+2) / math.Ln2)
			}
			if idcg > 0 {
				v = dcg / idcg
			}
		case "recall", "p", "map":
			hits, ap := 0, 0.0
			for i, r := range kept {
				if judged[r.doc] >= 1 {
					hits++
					ap += float64(hits) / float64(i+1)
				}
			}
			switch {
			case name == "p":
				v = float64(hits) / float64(k)
			case numRel == 0:
				v = 0
			case name == "recall":
				v = float64(hits) / float64(numRel)
			default:
				v = ap / float64(numRel)
			}
		case "mrr":
			for i, r := range kept {
				if judged[r.doc] >= 1 {
					v = 1 / float64(i+1)
					break
				}
			}
		}
		total += v
	}
	if n == 0 {
		return 0, 0
	}
	return total / float64(n), n
}

func readRowsNaive(t *testing.T, path string) map[string][]naiveRow {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]naiveRow{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var s float64
		if _, err := fmt.Sscan(f[4], &s); err != nil {
			t.Fatal(err)
		}
		rows[f[0]] = append(rows[f[0]], naiveRow{f[2], s})
	}
	return rows
}

// TestCrossCheckSciFactBM25 evaluates a real run (BM25 on SciFact test,
// top 1000, written to a TREC run file) with beir.Evaluate and with the
// naive implementation, at many cut-offs; they must agree to 1e-6. Scores
// are also rounded to 4 decimals in a second file, to create many ties.
func TestCrossCheckSciFactBM25(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 5k-document index")
	}
	ds, err := beir.Load(fixture.Repo(t, "data", "scifact"), "test")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := bm25.Build(context.Background(), filepath.Join(t.TempDir(), "idx"), ds.Corpus, bm25.Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	run, err := engine.BM25{Index: ix}.Retrieve(context.Background(), ds.Queries, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Add judged self-hits to a few queries so removal is exercised, and
	// drop one query from the run (evaluated only where in both).
	for i, q := range ds.Queries[:5] {
		run[q.ID] = append(run[q.ID], beir.Hit{DocID: q.ID, Score: 1e9})
		ds.Qrels[q.ID][q.ID] = i % 2
	}
	delete(run, ds.Queries[10].ID)

	dir := t.TempDir()
	exact := filepath.Join(dir, "exact.trec")
	if err := beir.WriteRunFile(exact, run, "bm25"); err != nil {
		t.Fatal(err)
	}
	rounded := beir.Run{}
	for qid, hits := range run {
		for _, h := range hits {
			rounded[qid] = append(rounded[qid], beir.Hit{DocID: h.DocID, Score: math.Round(h.Score*1e4) / 1e4})
		}
	}
	roundedPath := filepath.Join(dir, "rounded.trec")
	if err := beir.WriteRunFile(roundedPath, rounded, "bm25"); err != nil {
		t.Fatal(err)
	}

	var metrics []beir.Metric
	for _, name := range []string{"ndcg", "recall", "map", "p", "mrr"} {
		for _, k := range []int{1, 3, 5, 10, 100, 1000, 2000} {
			m, err := beir.ParseMetric(fmt.Sprintf("%s@%d", name, k))
			if err != nil {
				t.Fatal(err)
			}
			metrics = append(metrics, m)
		}
	}
	for _, path := range []string{exact, roundedPath} {
		fromFile, err := beir.ReadRun(path)
		if err != nil {
			t.Fatal(err)
		}
		res := beir.Evaluate(ds.Qrels, fromFile, metrics, beir.EvalOptions{Intersection: true})
		rows := readRowsNaive(t, path)
		for i, m := range metrics {
			want, n := naiveEval(ds.Qrels, rows, m.Measure.String(), m.K)
			if n != res.Queries || n != 299 {
				t.Fatalf("%s: %d queries evaluated, naive %d, want 299", path, res.Queries, n)
			}
			if math.Abs(res.Mean[i]-want) > 1e-6 {
				t.Errorf("%s %s: Evaluate %.10f, naive %.10f", filepath.Base(path), m, res.Mean[i], want)
			}
		}
		if path == exact {
			// The in-memory run gives the same figures as its file.
			mem := beir.Evaluate(ds.Qrels, run, metrics, beir.EvalOptions{Intersection: true})
			for i := range metrics {
				if mem.Mean[i] != res.Mean[i] {
					t.Errorf("%s: in memory %.17g, from file %.17g", metrics[i], mem.Mean[i], res.Mean[i])
				}
			}
			// trec_eval -c: the dropped query counts as 0 over all 300.
			full := beir.Evaluate(ds.Qrels, fromFile, metrics, beir.EvalOptions{})
			if full.Queries != 300 || full.NoHits != 1 {
				t.Errorf("complete: %d queries, %d with no hits; want 300 and 1", full.Queries, full.NoHits)
			}
			for i := range metrics {
				if want := res.Mean[i] * 299 / 300; math.Abs(full.Mean[i]-want) > 1e-12 {
					t.Errorf("complete %s: %.12f, want %.12f", metrics[i], full.Mean[i], want)
				}
			}
			t.Logf("SciFact BM25 (with injected self-hits): nDCG@10 %.4f, Recall@100 %.4f", res.Value(metrics[3]), res.Value(metrics[7+4]))
		}
	}
}
