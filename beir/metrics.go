package beir

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Measure is a kind of ranking metric.
type Measure int

// The measures, with trec_eval semantics (see Evaluate).
const (
	NDCG Measure = iota
	Recall
	MAP
	Precision
	MRR
)

var measureNames = [...]string{NDCG: "ndcg", Recall: "recall", MAP: "map", Precision: "p", MRR: "mrr"}

// String returns the measure's short name: ndcg, recall, map, p or mrr.
func (m Measure) String() string {
	if m < 0 || int(m) >= len(measureNames) {
		return "Measure(" + strconv.Itoa(int(m)) + ")"
	}
	return measureNames[m]
}

// Metric is a measure cut at rank K.
type Metric struct {
	Measure Measure
	K       int
}

// String returns the metric's name, e.g. "ndcg@10".
func (m Metric) String() string { return m.Measure.String() + "@" + strconv.Itoa(m.K) }

// ErrBadMetric is wrapped by ParseMetric's errors.
var ErrBadMetric = errors.New("bad metric")

// ParseMetric parses a metric name such as "ndcg@10", "recall@100",
// "map@100", "p@10" (or "precision@10") and "mrr@10".
func ParseMetric(s string) (Metric, error) {
	name, ks, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "@")
	if !ok {
		return Metric{}, fmt.Errorf("%w %q: want name@k, e.g. ndcg@10", ErrBadMetric, s)
	}
	k, err := strconv.Atoi(ks)
	if err != nil || k < 1 {
		return Metric{}, fmt.Errorf("%w %q: cut-off must be a positive integer", ErrBadMetric, s)
	}
	if name == "precision" {
		name = "p"
	}
	for m, n := range measureNames {
		if n == name {
			return Metric{Measure: Measure(m), K: k}, nil
		}
	}
	return Metric{}, fmt.Errorf("%w %q: unknown measure (want ndcg, recall, map, p or mrr)", ErrBadMetric, s)
}

// DefaultMetrics are the figures the project reports: nDCG@10, Recall@100,
// MAP@100, MRR@10 and P@10.
var DefaultMetrics = []Metric{{NDCG, 10}, {Recall, 100}, {MAP, 100}, {MRR, 10}, {Precision, 10}}

// EvalOptions tune Evaluate. The zero value is the BEIR protocol with
// trec_eval -c averaging, as Pyserini reports.
type EvalOptions struct {
	// KeepSelfHits keeps hits whose doc id equals the query id. By default
	// they are removed before ranking, as BEIR and Pyserini do.
	KeepSelfHits bool
	// Intersection averages over the queries of the qrels that have hits in
	// the run (trec_eval without -c; a query with an empty list counts as
	// absent, as in a run file, which cannot hold one). By default means run over every query of the
	// qrels, one with no hits (absent from the run, or with an empty list)
	// scoring 0 (trec_eval -c).
	Intersection bool
}

// Result holds evaluation figures as fractions in [0, 1].
type Result struct {
	Metrics []Metric
	// Mean[i] is the mean of Metrics[i] over the evaluated queries.
	Mean []float64
	// PerQuery[qid][i] is Metrics[i] for one evaluated query.
	PerQuery map[string][]float64
	// Queries is the number of queries averaged over: every query of the
	// qrels, or those also in the run with EvalOptions.Intersection.
	Queries int
	// NoHits is how many of the averaged queries had no hits (absent from
	// the run, or empty after self-hit removal); each scores 0.
	NoHits int
}

// Value returns the mean of m, or NaN when m was not computed.
func (r *Result) Value(m Metric) float64 {
	for i, x := range r.Metrics {
		if x == m {
			return r.Mean[i]
		}
	}
	return math.NaN()
}

// Map returns the means keyed by metric name ("ndcg@10", ...).
func (r *Result) Map() map[string]float64 {
	out := make(map[string]float64, len(r.Metrics))
	for i, m := range r.Metrics {
		out[m.String()] = r.Mean[i]
	}
	return out
}

// Evaluate scores run against qrels with trec_eval semantics:
//
//   - Each query's hits are re-sorted by score descending, ties broken by
//     doc id in descending byte order; the input order is ignored. A doc
//     repeated within a query counts once, at its best position.
//   - Hits whose doc id equals the query id are dropped first, unless
//     opt.KeepSelfHits.
//   - A document is relevant when its grade is >= 1. nDCG@k uses linear
//     gains (the grade) and log2(rank+1) discounts, with the ideal DCG
//     taken over all judged documents of the query; it is 0 when the ideal
//     is 0. Recall@k and MAP@k divide by the number of relevant documents
//     (0 when there are none). P@k divides by k whatever the list length.
//     MRR@k is 1/rank of the first relevant hit within k.
//   - Means run over every query of the qrels (trec_eval -c): a judged
//     query absent from the run, or with no hits left after self-hit
//     removal, scores 0 and is counted in Result.NoHits. With
//     opt.Intersection they run over the judged queries with at least one
//     hit in the run instead (trec_eval without -c).
func Evaluate(qrels Qrels, run Run, metrics []Metric, opt EvalOptions) *Result {
	res := &Result{
		Metrics:  slices.Clone(metrics),
		Mean:     make([]float64, len(metrics)),
		PerQuery: make(map[string][]float64),
	}
	qids := make([]string, 0, len(qrels))
	for qid := range qrels {
		if len(run[qid]) > 0 || !opt.Intersection {
			qids = append(qids, qid)
		}
	}
	slices.Sort(qids) // deterministic summation order
	for _, qid := range qids {
		hits := run[qid]
		if !opt.KeepSelfHits {
			hits = slices.DeleteFunc(slices.Clone(hits), func(h Hit) bool { return h.DocID == qid })
		}
		if len(hits) == 0 {
			res.NoHits++
		}
		vals := EvaluateQuery(qrels[qid], hits, metrics)
		res.PerQuery[qid] = vals
		for i, v := range vals {
			res.Mean[i] += v
		}
	}
	res.Queries = len(qids)
	if res.Queries > 0 {
		for i := range res.Mean {
			res.Mean[i] /= float64(res.Queries)
		}
	}
	return res
}

// EvaluateQuery computes metrics for one query's hits (in any order)
// against its judgements, as Evaluate does, without self-hit removal.
func EvaluateQuery(rels map[string]int, hits []Hit, metrics []Metric) []float64 {
	maxK := 0
	for _, m := range metrics {
		maxK = max(maxK, m.K)
	}
	ranked := slices.Clone(hits)
	SortHits(ranked)
	// Keep the first occurrence of each doc, up to maxK of them.
	seen := make(map[string]struct{}, min(len(ranked), maxK))
	grades := make([]int, 0, min(len(ranked), maxK))
	for _, h := range ranked {
		if len(grades) == maxK {
			break
		}
		if _, dup := seen[h.DocID]; dup {
			continue
		}
		seen[h.DocID] = struct{}{}
		grades = append(grades, rels[h.DocID])
	}
	numRel := 0
	ideal := make([]int, 0, len(rels))
	for _, g := range rels {
		if g > 0 {
			numRel++
			ideal = append(ideal, g)
		}
	}
	slices.Sort(ideal)
	slices.Reverse(ideal)

	out := make([]float64, len(metrics))
	for i, m := range metrics {
		k := m.K
		n := min(k, len(grades))
		switch m.Measure {
		case NDCG:
			var dcg, idcg float64
			for r := 0; r < n; r++ {
				if grades[r] > 0 {
					dcg += float64(grades[r]) / math.Log2(float64(r+2))
				}
			}
			for r := 0; r < min(k, len(ideal)); r++ {
				idcg += float64(ideal[r]) / math.Log2(float64(r+2))
			}
			if idcg > 0 {
				out[i] = dcg / idcg
			}
		case Recall:
			if numRel > 0 {
				out[i] = float64(countRel(grades[:n])) / float64(numRel)
			}
		case MAP:
			if numRel > 0 {
				var sum float64
				found := 0
				for r := 0; r < n; r++ {
					if grades[r] > 0 {
						found++
						sum += float64(found) / float64(r+1)
					}
				}
				out[i] = sum / float64(numRel)
			}
		case Precision:
			out[i] = float64(countRel(grades[:n])) / float64(k)
		case MRR:
			for r := 0; r < n; r++ {
				if grades[r] > 0 {
					out[i] = 1 / float64(r+1)
					break
				}
			}
		default:
			panic(fmt.Sprintf("beir: unknown measure %d", m.Measure))
		}
	}
	return out
}

func countRel(grades []int) int {
	c := 0
	for _, g := range grades {
		if g > 0 {
			c++
		}
	}
	return c
}
