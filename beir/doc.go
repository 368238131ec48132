// Package beir reads BEIR datasets (corpus.jsonl, queries.jsonl and
// qrels/<split>.tsv, plain or gzipped), holds retrieval runs, reads and
// writes TREC run files, computes ranking metrics with trec_eval semantics
// (nDCG, Recall, MAP, P and MRR at any cut-off) and runs a retriever over a
// dataset as a timed benchmark. Every retriever of the project (BM25, dense,
// hybrid) produces a Run, so all of them are evaluated by the same code.
package beir

import (
	"slices"

	"github.com/contriever-go/contriever/document"
)

// Doc is one corpus document (the project's document type).
type Doc = document.Doc

// Query is one query of a dataset.
type Query struct {
	ID   string
	Text string
}

// Qrels maps a query id to its judged documents and their integer grades.
// Grades <= 0 mark judged non-relevant documents.
type Qrels map[string]map[string]int

// Hit is one retrieved document with its score (higher is better).
type Hit = document.Hit

// Run maps a query id to its retrieved hits. The order of the hits does not
// matter for evaluation: metrics re-sort them (see SortHits).
type Run map[string][]Hit

// CompareHits orders hits the trec_eval way: score descending, then doc id
// in descending byte order. It returns a negative number when a ranks
// before b.
func CompareHits(a, b Hit) int { return document.CompareHits(a, b) }

// SortHits sorts hits in place in trec_eval ranking order.
func SortHits(hits []Hit) {
	slices.SortFunc(hits, CompareHits)
}

// RemoveSelfHits drops, in place, every hit whose doc id equals its query
// id (BEIR's ignore_identical_ids, Pyserini's --remove-query).
func (r Run) RemoveSelfHits() {
	for qid, hits := range r {
		out := hits[:0]
		for _, h := range hits {
			if h.DocID != qid {
				out = append(out, h)
			}
		}
		r[qid] = out
	}
}

// Truncate sorts every query's hits in ranking order and keeps the first k.
func (r Run) Truncate(k int) {
	for qid, hits := range r {
		SortHits(hits)
		if len(hits) > k {
			r[qid] = hits[:k:k]
		}
	}
}

// Texts returns the texts of queries, in order (what a batch search takes).
func Texts(queries []Query) []string {
	texts := make([]string, len(queries))
	for i, q := range queries {
		texts[i] = q.Text
	}
	return texts
}

// RunOf returns the run whose hits for queries[i] are lists[i] (one list
// per query, as a batch search returns them).
func RunOf(queries []Query, lists [][]Hit) Run {
	run := make(Run, len(queries))
	for i, q := range queries {
		run[q.ID] = lists[i]
	}
	return run
}
