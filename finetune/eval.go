package finetune

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/index/fusion"
	"github.com/contriever-go/contriever/index/vector"
)

// Evaluator measures a model's retrieval on a BEIR split during or after
// fine-tuning: dense retrieval (Contriever mean pooling, exact inner
// product over the whole corpus, documents as title + " " + text cut at a
// token length) and, after AddBM25, hybrid retrieval: reciprocal rank
// fusion (k = 60) of the dense and BM25 top K. Metrics follow the beir
// package (trec_eval semantics, self-hits removed).
type Evaluator struct {
	docIDs  []string
	docs    [][]int32
	qids    []string
	queries [][]int32
	qtexts  []string
	qrels   beir.Qrels
	corpus  string
	bm25    beir.Run
	docLen  int

	// Metrics are reported under their names ("ndcg@10"), and with a
	// "hybrid_" prefix for the hybrid run.
	Metrics []beir.Metric
	// K is the ranking depth of each run (default 100).
	K int
	// BatchSize is the number of texts per forward pass (default 64).
	BatchSize int
}

// NewEvaluator loads split of the BEIR dataset in dir and tokenises its
// corpus and judged queries with tok, cutting texts at docLen tokens.
func NewEvaluator(dir, split string, tok encoder.Tokenizer, docLen int) (*Evaluator, error) {
	ds, err := beir.Load(dir, split)
	if err != nil {
		return nil, err
	}
	if docLen < 2 {
		return nil, fmt.Errorf("finetune: evaluation length %d < 2", docLen)
	}
	e := &Evaluator{qrels: ds.Qrels, corpus: ds.CorpusPath, docLen: docLen, K: 100, BatchSize: 64,
		Metrics: []beir.Metric{{Measure: beir.NDCG, K: 10}, {Measure: beir.Recall, K: 100}}}
	var texts []string
	if err := beir.ReadCorpus(ds.CorpusPath, func(d beir.Doc) error {
		e.docIDs = append(e.docIDs, d.ID)
		texts = append(texts, d.Passage())
		return nil
	}); err != nil {
		return nil, err
	}
	if len(texts) == 0 || len(ds.Queries) == 0 {
		return nil, fmt.Errorf("finetune: evaluation data %s: %d documents, %d judged queries", dir, len(texts), len(ds.Queries))
	}
	for _, q := range ds.Queries {
		e.qids = append(e.qids, q.ID)
		e.qtexts = append(e.qtexts, q.Text)
	}
	e.docs = tokenizeAll(tok, texts, docLen)
	e.queries = tokenizeAll(tok, e.qtexts, docLen)
	return e, nil
}

// tokenizeAll tokenises texts on two goroutines.
func tokenizeAll(tok encoder.Tokenizer, texts []string, maxLen int) [][]int32 {
	out := make([][]int32, len(texts))
	var wg sync.WaitGroup
	const workers = 2
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(texts); i += workers {
				out[i] = tok.EncodeIDs(texts[i], maxLen)
			}
		}(w)
	}
	wg.Wait()
	return out
}

// Docs is the number of documents ranked.
func (e *Evaluator) Docs() int { return len(e.docIDs) }

// Queries is the number of judged queries.
func (e *Evaluator) Queries() int { return len(e.qids) }

// AddBM25 builds a BM25 index of the corpus (Pyserini's BEIR settings,
// flat field) in a temporary folder, keeps the top K of every query, and
// enables the hybrid metrics.
func (e *Evaluator) AddBM25(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "contriever-eval-bm25-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ix, err := bm25.Build(ctx, dir, func(fn func(beir.Doc) error) error { return beir.ReadCorpus(e.corpus, fn) }, bm25.Options{Quiet: true})
	if err != nil {
		return err
	}
	defer ix.Close()
	res, err := ix.SearchBatch(ctx, e.qtexts, e.k())
	if err != nil {
		return err
	}
	e.bm25 = make(beir.Run, len(res))
	for i, hits := range res {
		e.bm25[e.qids[i]] = hits
	}
	return nil
}

func (e *Evaluator) k() int { return min(max(e.K, 1), len(e.docIDs)) }

// Dense returns m's dense run: the top K documents of every query.
func (e *Evaluator) Dense(ctx context.Context, m *encoder.Model) (beir.Run, error) {
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
	ix, err := vector.NewFlat(enc.Dim())
	if err != nil {
		return nil, err
	}
	if err := ix.Add(e.docIDs, D); err != nil {
		return nil, err
	}
	res, err := ix.Search(Q, e.k())
	if err != nil {
		return nil, err
	}
	run := make(beir.Run, len(res))
	for i, rs := range res {
		hits := make([]beir.Hit, len(rs))
		for j, r := range rs {
			hits[j] = beir.Hit{DocID: r.ID, Score: float64(r.Score)}
		}
		run[e.qids[i]] = hits
	}
	return run, nil
}

// Hybrid fuses a dense run with the BM25 run by reciprocal rank fusion
// (k = 60), keeping the top K. AddBM25 must have run.
func (e *Evaluator) Hybrid(dense beir.Run) (beir.Run, error) {
	if e.bm25 == nil {
		return nil, fmt.Errorf("finetune: hybrid evaluation without a BM25 run")
	}
	run := make(beir.Run, len(e.qids))
	toFusion := func(hs []beir.Hit) []fusion.Hit {
		out := make([]fusion.Hit, len(hs))
		for i, h := range hs {
			out[i] = fusion.Hit{ID: h.DocID, Score: h.Score}
		}
		return out
	}
	for _, q := range e.qids {
		fused, err := fusion.RRF(toFusion(dense[q]), toFusion(e.bm25[q]), fusion.DefaultRRFK)
		if err != nil {
			return nil, fmt.Errorf("finetune: query %s: %w", q, err)
		}
		fused = fused[:min(len(fused), e.k())]
		hits := make([]beir.Hit, len(fused))
		for i, r := range fused {
			hits[i] = beir.Hit{DocID: r.ID, Score: r.Score}
		}
		run[q] = hits
	}
	return run, nil
}

// Evaluate returns m's dense metrics ("ndcg@10", "recall@100") and, after
// AddBM25, the hybrid ones ("hybrid_ndcg@10", ...). It has the signature
// contrastive.RunOptions.Eval wants.
func (e *Evaluator) Evaluate(ctx context.Context, m *encoder.Model) (map[string]float64, error) {
	dense, err := e.Dense(ctx, m)
	if err != nil {
		return nil, err
	}
	out := beir.Evaluate(e.qrels, dense, e.Metrics, beir.EvalOptions{}).Map()
	if e.bm25 != nil {
		hy, err := e.Hybrid(dense)
		if err != nil {
			return nil, err
		}
		for k, v := range beir.Evaluate(e.qrels, hy, e.Metrics, beir.EvalOptions{}).Map() {
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
	return beir.Evaluate(e.qrels, e.bm25, e.Metrics, beir.EvalOptions{}).Map()
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
