package main

// The hook that lets `beir --method dense|hybrid --model DIR` run a static
// embedding model folder (encoder/static): openDense picks the retriever
// by the folder's kind. Static models embed by a table lookup, so corpus
// vectors are not cached.

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/index/vector"
)

// openDense returns the dense retriever for o.Model: a static model's, or
// the transformer encoder's.
func openDense(ctx context.Context, ds *beir.Dataset, o denseOptions) (beir.Retriever, error) {
	if o.Model != "" && static.IsModel(o.Model) {
		return newStaticRetriever(ds, o)
	}
	return newDenseRetriever(ctx, ds, o)
}

// staticRetriever is a beir.Retriever over a static model's corpus vectors
// in a flat inner-product index (vectors are unit length: cosine).
type staticRetriever struct {
	m     *static.Model
	ix    *vector.Flat
	embed time.Duration
}

func newStaticRetriever(ds *beir.Dataset, o denseOptions) (*staticRetriever, error) {
	m, err := static.Load(o.Model)
	if err != nil {
		return nil, err
	}
	if o.MaxLength > 2 {
		m.MaxTokens = o.MaxLength - 2 // the word pieces a transformer of that length sees
	}
	var ids, texts []string
	if err := ds.Corpus(func(d beir.Doc) error {
		ids = append(ids, d.ID)
		texts = append(texts, d.Passage())
		return nil
	}); err != nil {
		return nil, err
	}
	t0 := time.Now()
	vecs := m.Embed(texts)
	r := &staticRetriever{m: m, embed: time.Since(t0)}
	if !o.Quiet {
		fmt.Fprintf(os.Stderr, "dense: static model %s: %d documents embedded in %s\n", o.Model, len(ids), r.embed.Round(time.Millisecond))
	}
	if r.ix, err = vector.NewFlat(m.Dim()); err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if err := r.ix.Add(ids, vecs); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Describe returns the retriever's settings for `beir --json` output.
func (r *staticRetriever) Describe() map[string]any {
	return map[string]any{"model_kind": "static", "dim": r.m.Dim(), "docs": r.ix.Len(), "max_tokens": r.m.MaxTokens,
		"normalize": true, "vector_index": "flat", "corpus_embed_s": r.embed.Seconds()}
}

// Retrieve implements beir.Retriever.
func (r *staticRetriever) Retrieve(ctx context.Context, queries []beir.Query, k int) (beir.Run, error) {
	texts := make([]string, len(queries))
	for i, q := range queries {
		texts[i] = q.Text
	}
	res, err := r.ix.Search(r.m.Embed(texts), k)
	if err != nil {
		return nil, err
	}
	run := make(beir.Run, len(queries))
	for i, q := range queries {
		hs := make([]beir.Hit, len(res[i]))
		for j, h := range res[i] {
			hs[j] = beir.Hit{DocID: h.ID, Score: float64(h.Score)}
		}
		run[q.ID] = hs
	}
	return run, nil
}
