package contrastive

import (
	"context"
	"fmt"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
)

// DenseEval measures a model's dense retrieval on a BEIR split during
// training: the corpus (title + " " + text) and the judged queries are
// tokenised once, with [CLS] and [SEP], cut at DocLen tokens; each
// evaluation encodes them with the model (mean pooling, no normalisation,
// as Contriever), ranks the whole corpus by exact inner product (a flat
// index: ties by doc id) and scores the top K with the beir package's
// metrics. finetune.Evaluator builds its hybrid evaluation on it.
type DenseEval struct {
	docIDs  []string
	docs    [][]int32
	qids    []string
	qtexts  []string
	queries [][]int32
	qrels   beir.Qrels
	corpus  string
	// Metrics are reported under their names ("ndcg@10", "recall@100").
	Metrics []beir.Metric
	// K is the ranking depth (default 100).
	K int
	// BatchSize is the number of texts per forward pass (default 64).
	BatchSize int
	docLen    int
}

// DefaultEvalMetrics are the metrics DenseEval reports by default.
var DefaultEvalMetrics = []beir.Metric{{Measure: beir.NDCG, K: 10}, {Measure: beir.Recall, K: 100}}

// NewDenseEval loads split of the BEIR dataset in dir and tokenises its
// corpus and judged queries with tok, cutting both at docLen tokens.
func NewDenseEval(dir, split string, tok encoder.Tokenizer, docLen int) (*DenseEval, error) {
	ds, err := beir.Load(dir, split)
	if err != nil {
		return nil, fmt.Errorf("contrastive: evaluation data: %w", err)
	}
	if docLen < 2 {
		return nil, fmt.Errorf("contrastive: evaluation document length %d < 2", docLen)
	}
	e := &DenseEval{qrels: ds.Qrels, corpus: ds.CorpusPath, Metrics: DefaultEvalMetrics, K: 100, BatchSize: 64, docLen: docLen}
	var texts []string
	if err := beir.ReadCorpus(ds.CorpusPath, func(d beir.Doc) error {
		e.docIDs = append(e.docIDs, d.ID)
		texts = append(texts, d.Passage())
		return nil
	}); err != nil {
		return nil, fmt.Errorf("contrastive: evaluation corpus: %w", err)
	}
	if len(texts) == 0 || len(ds.Queries) == 0 {
		return nil, fmt.Errorf("contrastive: evaluation data %s: %d documents, %d judged queries", dir, len(texts), len(ds.Queries))
	}
	for _, q := range ds.Queries {
		e.qids = append(e.qids, q.ID)
		e.qtexts = append(e.qtexts, q.Text)
	}
	e.docs = encoder.TokenizeAll(tok, texts, docLen)
	e.queries = encoder.TokenizeAll(tok, e.qtexts, docLen)
	return e, nil
}

// Docs is the number of documents ranked.
func (e *DenseEval) Docs() int { return len(e.docIDs) }

// Queries is the number of judged queries.
func (e *DenseEval) Queries() int { return len(e.qids) }

// QueryIDs are the ids of the judged queries, in the dataset's order.
func (e *DenseEval) QueryIDs() []string { return e.qids }

// QueryTexts are the texts of the judged queries, as QueryIDs.
func (e *DenseEval) QueryTexts() []string { return e.qtexts }

// CorpusPath is the file the corpus was read from.
func (e *DenseEval) CorpusPath() string { return e.corpus }

// Qrels are the split's relevance judgements.
func (e *DenseEval) Qrels() beir.Qrels { return e.qrels }

// Depth is the number of hits each query's run keeps: K, at most the
// corpus size.
func (e *DenseEval) Depth() int { return min(max(e.K, 1), len(e.docIDs)) }

// Run encodes the corpus and the queries with m and returns the top-K
// run.
func (e *DenseEval) Run(ctx context.Context, m *encoder.Model) (beir.Run, error) {
	enc, err := encoder.New(m, nil, encoder.Options{MaxLength: e.docLen, BatchSize: e.BatchSize})
	if err != nil {
		return nil, err
	}
	D, err := enc.EncodeIDs(ctx, e.docs, nil)
	if err != nil {
		return nil, err
	}
	Q, err := enc.EncodeIDs(ctx, e.queries, nil)
	if err != nil {
		return nil, err
	}
	return engine.ExactRun(enc.Dim(), e.docIDs, D, e.qids, Q, e.Depth())
}

// Evaluate returns the metrics of m's dense run, keyed by metric name
// ("ndcg@10", "recall@100"). It has the signature RunOptions.Eval wants.
func (e *DenseEval) Evaluate(ctx context.Context, m *encoder.Model) (map[string]float64, error) {
	run, err := e.Run(ctx, m)
	if err != nil {
		return nil, err
	}
	return beir.Evaluate(e.qrels, run, e.Metrics, beir.EvalOptions{}).Map(), nil
}

// Columns are the log columns Evaluate fills.
func (e *DenseEval) Columns() []string {
	cols := make([]string, len(e.Metrics))
	for i, m := range e.Metrics {
		cols[i] = m.String()
	}
	return cols
}
