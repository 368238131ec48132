package contrastive

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/internal/blas32"
)

// DenseEval measures a model's dense retrieval on a BEIR split during
// training: the corpus (title + " " + text) and the judged queries are
// tokenised once, with [CLS] and [SEP], documents cut at DocLen tokens;
// each evaluation encodes them with the model (mean pooling, no
// normalisation, as Contriever), ranks the whole corpus by exact inner
// product and scores the top K with the beir package's metrics.
type DenseEval struct {
	docIDs  []string
	docs    [][]int32
	qids    []string
	queries [][]int32
	qrels   beir.Qrels
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

// NewDenseEval loads split of the BEIR dataset in dir and tokenises it
// with tok, cutting documents at docLen tokens (queries at 64 tokens
// more than that is never needed; they are cut at docLen too).
func NewDenseEval(dir, split string, tok encoder.Tokenizer, docLen int) (*DenseEval, error) {
	ds, err := beir.Load(dir, split)
	if err != nil {
		return nil, fmt.Errorf("contrastive: evaluation data: %w", err)
	}
	if docLen < 2 {
		return nil, fmt.Errorf("contrastive: evaluation document length %d < 2", docLen)
	}
	e := &DenseEval{qrels: ds.Qrels, Metrics: DefaultEvalMetrics, K: 100, BatchSize: 64, docLen: docLen}
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
	enc, err := encoder.New(modelStub(), tok, encoder.Options{MaxLength: docLen})
	if err != nil {
		return nil, err
	}
	e.docs = enc.Tokenize(texts)
	qt := make([]string, len(ds.Queries))
	for i, q := range ds.Queries {
		e.qids = append(e.qids, q.ID)
		qt[i] = q.Text
	}
	e.queries = enc.Tokenize(qt)
	return e, nil
}

// modelStub is a model shell whose only use is to let encoder.New
// tokenise (its weights are never read).
func modelStub() *encoder.Model {
	cfg, _ := encoder.NamedConfig("tiny")
	cfg.VocabSize, cfg.NumHiddenLayers, cfg.HiddenSize, cfg.IntermediateSize, cfg.NumAttentionHeads = 1, 1, 2, 2, 1
	m, err := encoder.NewRandom(cfg, 0, false)
	if err != nil {
		panic(err)
	}
	return m
}

// Docs is the number of documents ranked.
func (e *DenseEval) Docs() int { return len(e.docIDs) }

// Queries is the number of judged queries.
func (e *DenseEval) Queries() int { return len(e.qids) }

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
	H, nd, nq := m.Config.HiddenSize, len(e.docs), len(e.queries)
	k := min(max(e.K, 1), nd)
	run := make(beir.Run, nq)
	const block = 256
	scores := make([]float32, block*nd)
	idx := make([]int, nd)
	for q0 := 0; q0 < nq; q0 += block {
		nb := min(block, nq-q0)
		blas32.Sgemm(false, true, nb, nd, H, 1, Q[q0*H:], H, D, H, 0, scores, nd)
		for i := 0; i < nb; i++ {
			row := scores[i*nd : (i+1)*nd]
			for j := range idx {
				idx[j] = j
			}
			slices.SortFunc(idx, func(a, b int) int {
				if c := cmp.Compare(row[b], row[a]); c != 0 {
					return c
				}
				return cmp.Compare(e.docIDs[a], e.docIDs[b])
			})
			hits := make([]beir.Hit, k)
			for r := 0; r < k; r++ {
				hits[r] = beir.Hit{DocID: e.docIDs[idx[r]], Score: float64(row[idx[r]])}
			}
			run[e.qids[q0+i]] = hits
		}
	}
	return run, nil
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
