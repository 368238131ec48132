package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeNoHitsDataset writes a small BEIR dataset where BM25 finds nothing
// for some judged queries (words absent from the corpus).
func writeNoHitsDataset(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	words := []string{"protein", "cell", "gene", "tumor", "virus", "enzyme", "membrane", "receptor", "neuron", "insulin"}
	var corpus, queries, qrels strings.Builder
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&corpus, `{"_id":"d%d","title":"doc %d","text":"%s %s %s binds %s"}`+"\n", i, i, words[i%10], words[(i*3)%10], words[(i*7+1)%10], words[(i/10)%10])
	}
	qrels.WriteString("query-id\tcorpus-id\tscore\n")
	for q := 0; q < 12; q++ {
		text := words[q%10] + " " + words[(q+4)%10]
		if q%4 == 3 {
			text = "zyxxq plorbt" // no corpus word: no BM25 hits
		}
		fmt.Fprintf(&queries, `{"_id":"q%d","text":"%s"}`+"\n", q, text)
		fmt.Fprintf(&qrels, "q%d\td%d\t1\nq%d\td%d\t2\n", q, q*4, q, (q*5+1)%60)
	}
	os.WriteFile(filepath.Join(dir, "corpus.jsonl"), []byte(corpus.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "queries.jsonl"), []byte(queries.String()), 0o644)
	os.MkdirAll(filepath.Join(dir, "qrels"), 0o755)
	os.WriteFile(filepath.Join(dir, "qrels", "test.tsv"), []byte(qrels.String()), 0o644)
	return dir
}

// TestEvalAgreesWithBeir runs `beir` with --run and `eval` on that run file,
// on a dataset where 3 judged queries get no hits (absent from the file):
// both commands give the same figures to 1e-9, with trec_eval -c averaging
// by default (12 queries, 3 with no hits) and with --intersection (9).
func TestEvalAgreesWithBeir(t *testing.T) {
	data := writeNoHitsDataset(t)
	qrels := filepath.Join(data, "qrels", "test.tsv")
	for _, extra := range [][]string{nil, {"--intersection"}} {
		runPath := filepath.Join(t.TempDir(), "run.trec")
		args := append([]string{"--data", data, "--method", "bm25", "--json", "--quiet", "--run", runPath, "--metrics", "ndcg@10,recall@100,map@100,mrr@10,p@10,ndcg@3"}, extra...)
		bOut, err := beirCaptureStdout(t, func() error { return runBeir(args) })
		if err != nil {
			t.Fatal(err)
		}
		eArgs := append([]string{"--qrels", qrels, "--run", runPath, "--json", "--metrics", "ndcg@10,recall@100,map@100,mrr@10,p@10,ndcg@3"}, extra...)
		eOut, err := beirCaptureStdout(t, func() error { return runEval(eArgs) })
		if err != nil {
			t.Fatal(err)
		}
		var b, e map[string]any
		if err := json.Unmarshal([]byte(bOut), &b); err != nil {
			t.Fatalf("beir: %v\n%s", err, bOut)
		}
		if err := json.Unmarshal([]byte(eOut), &e); err != nil {
			t.Fatalf("eval: %v\n%s", err, eOut)
		}
		wantQ, wantNoHits := 12.0, 3.0
		if extra != nil {
			wantQ, wantNoHits = 9, 0
		}
		for _, k := range []string{"queries", "no_hits"} {
			if b[k] != e[k] {
				t.Errorf("%s: beir %v, eval %v", k, b[k], e[k])
			}
		}
		if b["queries"] != wantQ || b["no_hits"] != wantNoHits {
			t.Errorf("queries %v, no hits %v; want %v, %v", b["queries"], b["no_hits"], wantQ, wantNoHits)
		}
		for _, k := range []string{"ndcg@10", "recall@100", "map@100", "mrr@10", "p@10", "ndcg@3"} {
			bv, _ := b[k].(float64)
			ev, _ := e[k].(float64)
			if math.Abs(bv-ev) > 1e-9 || bv <= 0 {
				t.Errorf("%s: beir %.12f, eval %.12f", k, bv, ev)
			}
		}
	}
}
