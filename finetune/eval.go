package finetune

import (
	"context"
	"fmt"
	"os"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/index/bm25"
)

// Evaluator measures a model's retrieval on a BEIR split during or after
// fine-tuning: dense retrieval as contrastive.DenseEval (Contriever mean
// pooling, exact inner product over the whole corpus, documents as
// title + " " + text cut at a token length) and, after AddBM25, hybrid
// retrieval: reciprocal rank fusion (k = 60) of the dense and BM25 top K.
// Metrics follow the beir package (trec_eval semantics, self-hits
// removed); Metrics, K and BatchSize are DenseEval's.
type Evaluator struct {
	*contrastive.DenseEval
	bm25 beir.Run
}

// NewEvaluator loads split of the BEIR dataset in dir and tokenises its
// corpus and judged queries with tok, cutting texts at docLen tokens.
func NewEvaluator(dir, split string, tok encoder.Tokenizer, docLen int) (*Evaluator, error) {
	d, err := contrastive.NewDenseEval(dir, split, tok, docLen)
	if err != nil {
		return nil, err
	}
	return &Evaluator{DenseEval: d}, nil
}

// AddBM25 builds a BM25 index of the corpus (Pyserini's BEIR settings,
// flat field) in a temporary folder, keeps the top K of every query, and
// enables the hybrid metrics.
func (e *Evaluator) AddBM25(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "contriever-eval-bm25-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ix, err := bm25.Build(ctx, dir, func(fn func(beir.Doc) error) error { return beir.ReadCorpus(e.CorpusPath(), fn) }, bm25.Options{Quiet: true})
	if err != nil {
		return err
	}
	defer ix.Close()
	run, err := engine.BM25{Index: ix}.Retrieve(ctx, e.beirQueries(), e.Depth())
	if err != nil {
		return err
	}
	e.bm25 = run
	return nil
}

// beirQueries returns the judged queries as beir queries.
func (e *Evaluator) beirQueries() []beir.Query {
	qs := make([]beir.Query, e.Queries())
	for i := range qs {
		qs[i] = beir.Query{ID: e.QueryIDs()[i], Text: e.QueryTexts()[i]}
	}
	return qs
}

// Hybrid fuses a dense run with the BM25 run by reciprocal rank fusion
// (k = 60), keeping the top K. AddBM25 must have run.
func (e *Evaluator) Hybrid(dense beir.Run) (beir.Run, error) {
	if e.bm25 == nil {
		return nil, fmt.Errorf("finetune: hybrid evaluation without a BM25 run")
	}
	run, err := engine.FuseRuns(e.beirQueries(), dense, e.bm25, engine.HybridOptions{Fusion: "rrf", RRFK: fusion.DefaultRRFK}, e.Depth())
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	return run, nil
}

// Evaluate returns m's dense metrics ("ndcg@10", "recall@100") and, after
// AddBM25, the hybrid ones ("hybrid_ndcg@10", ...). It has the signature
// contrastive.RunOptions.Eval wants.
func (e *Evaluator) Evaluate(ctx context.Context, m *encoder.Model) (map[string]float64, error) {
	dense, err := e.Run(ctx, m) // DenseEval.Run: the top K of every query
	if err != nil {
		return nil, err
	}
	out := beir.Evaluate(e.Qrels(), dense, e.Metrics, beir.EvalOptions{}).Map()
	if e.bm25 != nil {
		hy, err := e.Hybrid(dense)
		if err != nil {
			return nil, err
		}
		for k, v := range beir.Evaluate(e.Qrels(), hy, e.Metrics, beir.EvalOptions{}).Map() {
			out["hybrid_"+k] = v
		}
	}
	return out, nil
}

// BM25Metrics returns the BM25 run's metrics (after AddBM25).
func (e *Evaluator) BM25Metrics() map[string]float64 {
	if e.bm25 == nil {
		return nil
	}
	return beir.Evaluate(e.Qrels(), e.bm25, e.Metrics, beir.EvalOptions{}).Map()
}

// Columns are the names Evaluate fills, for the training log.
func (e *Evaluator) Columns() []string {
	var cols []string
	for _, m := range e.Metrics {
		cols = append(cols, m.String())
	}
	if e.bm25 != nil {
		for _, m := range e.Metrics {
			cols = append(cols, "hybrid_"+m.String())
		}
	}
	return cols
}
