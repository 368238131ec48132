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
//   - the embedders (Embedder, OpenEmbedder): the BERT encoder pool
//     (EncoderPool) and static embedding models (StaticEmbedder, found by
//     their modules.json), loaded the same way by every command that takes
//     a model; and the embedding cache (CachedEmbed).
//   - the model's conventions (ReadModel, ModelSettings, OpenModel,
//     CheckSettings): prompts, pooling, normalisation and similarity as
//     the model folder states them, recorded in the manifest.
//
// It imports the storage and scoring primitives (index/*), the encoder and
// beir (datasets and metrics); it never imports api, and nothing under
// index/ imports it. Package engine/fusion holds the fusion functions
// themselves (linear interpolation, RRF, rank, α grid, the label-free
// default α).
package engine
