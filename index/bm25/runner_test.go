package bm25

import (
	"context"

	"github.com/contriever-go/contriever/beir"
)

// runner makes an Index a beir.Retriever for the tests that evaluate it (the
// project's retriever is engine.BM25, which this package cannot import).
type runner struct{ ix *Index }

func (r runner) Retrieve(ctx context.Context, queries []beir.Query, k int) (beir.Run, error) {
	res, err := r.ix.SearchBatch(ctx, beir.Texts(queries), k)
	if err != nil {
		return nil, err
	}
	return beir.RunOf(queries, res), nil
}
