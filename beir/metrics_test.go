package beir

import (
	"errors"
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

func m(s string) Metric {
	x, err := ParseMetric(s)
	if err != nil {
		panic(err)
	}
	return x
}

// Case A, worked by hand. Judgements: d1 grade 2, d2 and d4 grade 1, d3
// judged non-relevant. The hits, given in scrambled order, rank as
// d3 (3.0), d5 (2.0), d1 (2.0: tie with d5, "d5" > "d1" ranks first),
// d2 (1.0), d4 (0.5). Relevant ranks: 3, 4, 5; three relevant docs.
var (
	relsA = map[string]int{"d1": 2, "d2": 1, "d3": 0, "d4": 1}
	hitsA = []Hit{{DocID: "d2", Score: 1}, {DocID: "d1", Score: 2}, {DocID: "d4", Score: 0.5}, {DocID: "d3", Score: 3}, {DocID: "d5", Score: 2}}
)

func TestEvaluateQueryHandComputed(t *testing.T) {
	idcg := 2/math.Log2(2) + 1/math.Log2(3) + 1/math.Log2(4) // ideal grades 2, 1, 1
	cases := []struct {
		metric string
		want   float64
	}{
		{"ndcg@1", 0},
		{"ndcg@3", (2 / math.Log2(4)) / idcg}, // linear gain 2 at rank 3 (exponential would give 3)
		{"ndcg@5", (2/math.Log2(4) + 1/math.Log2(5) + 1/math.Log2(6)) / idcg},
		{"ndcg@100", (2/math.Log2(4) + 1/math.Log2(5) + 1/math.Log2(6)) / idcg}, // k > list
		{"recall@2", 0},
		{"recall@3", 1.0 / 3},
		{"recall@4", 2.0 / 3},
		{"recall@1000", 1},
		{"map@3", (1.0 / 3) / 3},
		{"map@5", (1.0/3 + 2.0/4 + 3.0/5) / 3},
		{"map@100", (1.0/3 + 2.0/4 + 3.0/5) / 3},
		{"p@1", 0},
		{"p@4", 2.0 / 4},
		{"p@10", 3.0 / 10}, // divides by k even past the end of the list
		{"mrr@2", 0},
		{"mrr@3", 1.0 / 3},
		{"mrr@10", 1.0 / 3},
	}
	var metrics []Metric
	for _, c := range cases {
		metrics = append(metrics, m(c.metric))
	}
	got := EvaluateQuery(relsA, hitsA, metrics)
	for i, c := range cases {
		if !near(got[i], c.want) {
			t.Errorf("%s = %.15g, want %.15g", c.metric, got[i], c.want)
		}
	}
}

func TestEvaluateQueryTiesByDocIDDescending(t *testing.T) {
	rels := map[string]int{"a": 1}
	hits := []Hit{{DocID: "a", Score: 1}, {DocID: "b", Score: 1}, {DocID: "c", Score: 0.5}}
	got := EvaluateQuery(rels, hits, []Metric{m("mrr@1"), m("mrr@2"), m("p@1")})
	if got[0] != 0 || got[1] != 0.5 || got[2] != 0 {
		t.Errorf("tie a/b: got %v, want b ranked before a: [0 0.5 0]", got)
	}
	// The input rank is ignored: a higher-scored doc given last ranks first.
	got = EvaluateQuery(rels, []Hit{{DocID: "c", Score: 0.1}, {DocID: "a", Score: 0.9}}, []Metric{m("mrr@1")})
	if got[0] != 1 {
		t.Errorf("re-sort by score: got %v", got)
	}
	// A doc listed twice counts once.
	got = EvaluateQuery(map[string]int{"a": 1, "b": 1}, []Hit{{DocID: "a", Score: 2}, {DocID: "a", Score: 1}, {DocID: "b", Score: 0.5}}, []Metric{m("p@2"), m("recall@2")})
	if got[0] != 1 || got[1] != 1 {
		t.Errorf("duplicate hit: got %v, want [1 1]", got)
	}
}

func TestEvaluateNoRelevantAndEmpty(t *testing.T) {
	metrics := []Metric{m("ndcg@10"), m("recall@10"), m("map@10"), m("p@10"), m("mrr@10")}
	got := EvaluateQuery(map[string]int{"x": 0, "y": -1}, []Hit{{DocID: "x", Score: 1}, {DocID: "y", Score: 0.5}}, metrics)
	for i, v := range got {
		if v != 0 {
			t.Errorf("no relevant docs: %s = %v, want 0", metrics[i], v)
		}
	}
	got = EvaluateQuery(map[string]int{"x": 1}, nil, metrics)
	for i, v := range got {
		if v != 0 {
			t.Errorf("no hits: %s = %v, want 0", metrics[i], v)
		}
	}
}

func TestEvaluateAveraging(t *testing.T) {
	qrels := Qrels{
		"qa":   relsA,
		"qz":   {"x": 0},           // judged, none relevant: counts, scores 0
		"qmis": {"d1": 1},          // not in the run: scores 0 (not averaged with Intersection)
		"qemp": {"d1": 1},          // in the run with no hits: scores 0 (not averaged with Intersection)
		"qs":   {"qs": 1, "d7": 1}, // self-hit
	}
	run := Run{
		"qa":    hitsA,
		"qz":    {{DocID: "x", Score: 1}},
		"qemp":  {},
		"qs":    {{DocID: "qs", Score: 10}, {DocID: "d7", Score: 5}},
		"extra": {{DocID: "d1", Score: 1}}, // not judged: not averaged
	}
	metrics := []Metric{m("mrr@10"), m("recall@10")}
	// Default: trec_eval -c, every judged query, missing ones score 0.
	full := Evaluate(qrels, run, metrics, EvalOptions{})
	if full.Queries != 5 || full.NoHits != 2 {
		t.Fatalf("Queries = %d, NoHits = %d; want 5 (all judged) and 2 (qmis, qemp)", full.Queries, full.NoHits)
	}
	if got := full.PerQuery["qmis"]; got == nil || got[0] != 0 || got[1] != 0 {
		t.Errorf("judged query absent from the run: %v, want zeros", got)
	}
	if !near(full.Value(metrics[0]), (1.0/3+0+0+0+1)/5) || !near(full.Value(metrics[1]), (1+0+0+0+0.5)/5) {
		t.Errorf("complete means = %v", full.Mean)
	}
	res := Evaluate(qrels, run, metrics, EvalOptions{Intersection: true})
	if res.Queries != 3 || res.NoHits != 0 {
		t.Fatalf("Intersection: Queries = %d, NoHits = %d; want 3 (qa, qz, qs) and 0", res.Queries, res.NoHits)
	}
	// Self-hit removed: d7 ranks first (MRR 1) but qs stays a relevant
	// judged doc (recall 1/2).
	wantMRR := (1.0/3 + 0 + 1) / 3
	wantRecall := (1 + 0 + 0.5) / 3
	if !near(res.Value(metrics[0]), wantMRR) || !near(res.Value(metrics[1]), wantRecall) {
		t.Errorf("means = %v, want [%v %v]", res.Mean, wantMRR, wantRecall)
	}
	if _, ok := res.PerQuery["qmis"]; ok {
		t.Error("query absent from the run was evaluated")
	}
	if len(run["qs"]) != 2 {
		t.Error("Evaluate modified the run")
	}
	res = Evaluate(qrels, run, metrics, EvalOptions{KeepSelfHits: true, Intersection: true})
	if got := res.PerQuery["qs"]; got[0] != 1 || got[1] != 1 {
		t.Errorf("KeepSelfHits: qs = %v, want [1 1]", got)
	}
	if got := res.Map(); got["mrr@10"] != res.Mean[0] || len(got) != 2 {
		t.Errorf("Map() = %v", got)
	}
	if !math.IsNaN(res.Value(m("p@5"))) {
		t.Error("Value of an uncomputed metric is not NaN")
	}
	empty := Evaluate(qrels, Run{}, metrics, EvalOptions{Intersection: true})
	if empty.Queries != 0 || empty.Mean[0] != 0 {
		t.Errorf("empty run: %+v", empty)
	}
	if empty := Evaluate(qrels, Run{}, metrics, EvalOptions{}); empty.Queries != 5 || empty.NoHits != 5 || empty.Mean[0] != 0 {
		t.Errorf("empty run, complete: %+v", empty)
	}
}

func TestRunTruncateAndSelfHits(t *testing.T) {
	r := Run{"q": {{DocID: "a", Score: 1}, {DocID: "q", Score: 5}, {DocID: "c", Score: 3}, {DocID: "b", Score: 3}}}
	r.RemoveSelfHits()
	r.Truncate(2)
	if got := r["q"]; len(got) != 2 || got[0].DocID != "c" || got[1].DocID != "b" {
		t.Errorf("got %v, want c then b", got)
	}
}

func TestParseMetric(t *testing.T) {
	for s, want := range map[string]Metric{
		"ndcg@10": {NDCG, 10}, "Recall@100": {Recall, 100}, "map@1000": {MAP, 1000},
		"p@5": {Precision, 5}, "precision@5": {Precision, 5}, " mrr@10 ": {MRR, 10},
	} {
		got, err := ParseMetric(s)
		if err != nil || got != want {
			t.Errorf("ParseMetric(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "ndcg", "ndcg@0", "ndcg@-1", "ndcg@x", "foo@10"} {
		if _, err := ParseMetric(s); !errors.Is(err, ErrBadMetric) {
			t.Errorf("ParseMetric(%q) error = %v", s, err)
		}
	}
	if got := (Metric{NDCG, 10}).String(); got != "ndcg@10" {
		t.Errorf("String = %q", got)
	}
}
