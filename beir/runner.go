package beir

import (
	"context"
	"fmt"
	"time"
)

// Retriever is anything that can answer a batch of queries with a Run:
// BM25, a dense index, a hybrid of both. k is the number of hits wanted per
// query; a retriever may return fewer.
type Retriever interface {
	Retrieve(ctx context.Context, queries []Query, k int) (Run, error)
}

// BenchConfig tunes Bench. The zero value retrieves 1,000 hits, reports
// DefaultMetrics and follows the BEIR protocol.
type BenchConfig struct {
	TopK    int      // hits kept per query; 0 means 1000
	Metrics []Metric // nil means DefaultMetrics
	Eval    EvalOptions
}

// BenchResult is the outcome of Bench.
type BenchResult struct {
	// Run is the evaluated run: self-hits removed (unless kept) and cut to
	// TopK hits per query in ranking order.
	Run      Run
	Result   *Result
	Retrieve time.Duration // time in Retriever.Retrieve
	Evaluate time.Duration // time to evaluate the run
}

// Bench retrieves the dataset's queries with r and evaluates the run
// against the dataset's qrels, timing both steps. When self-hits are
// removed it asks for TopK+1 hits so that TopK remain.
func Bench(ctx context.Context, r Retriever, ds *Dataset, cfg BenchConfig) (*BenchResult, error) {
	k := cfg.TopK
	if k <= 0 {
		k = 1000
	}
	metrics := cfg.Metrics
	if metrics == nil {
		metrics = DefaultMetrics
	}
	ask := k
	if !cfg.Eval.KeepSelfHits {
		ask = k + 1
	}
	start := time.Now()
	run, err := r.Retrieve(ctx, ds.Queries, ask)
	if err != nil {
		return nil, fmt.Errorf("retrieve: %w", err)
	}
	tRet := time.Since(start)
	start = time.Now()
	if !cfg.Eval.KeepSelfHits {
		run.RemoveSelfHits()
	}
	run.Truncate(k)
	res := Evaluate(ds.Qrels, run, metrics, cfg.Eval)
	return &BenchResult{Run: run, Result: res, Retrieve: tRet, Evaluate: time.Since(start)}, nil
}
