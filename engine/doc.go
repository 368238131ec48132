// Package engine is the search engine between the indexes and the HTTP
// service: the middle layer of the project. It owns
//
//   - the index folder (Collection): Build, Open with catch-up of the
//     indexes from the document store, Flush, the manifest;
//   - the Composite, which serves a document store, a BM25 index and an
//     encoder with a vector index as one consistent backend (it satisfies
//     api.Backend);
//   - the retrievers of the evaluation runner (beir.Retriever): BM25,
//     Dense and Hybrid, with the one fusion dispatch (Fuse, FuseRuns) and
//     the choice of α on held-out qrels (Hybrid.SelectAlpha);
//   - the IVF sizing rule (IVFLists) and the construction of a vector
//     index (NewVectorIndex);
//   - the encoder pool (EncoderPool) and the embedding cache (CachedEmbed).
//
// It imports the storage and scoring primitives (index/*), the encoder and
// beir (datasets and metrics); it never imports api, and nothing under
// index/ imports it. Package engine/fusion holds the fusion functions
// themselves (linear interpolation, RRF, rank, α grid).
package engine
