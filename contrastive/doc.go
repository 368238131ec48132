// Package contrastive holds the machinery shared by unsupervised
// pre-training (random crops, MoCo or in-batch negatives) and supervised
// fine-tuning (in-batch plus one extra negative per query) of a Contriever
// style dense retriever: the InfoNCE losses with hand-written gradients, the
// MoCo key queue and momentum update, and the checksummed training state
// from which a run resumes bit for bit.
//
// The sub-packages hold the rest of the loop: contrastive/data (corpus
// reading, the cached token stream, cropping and batching), contrastive/optim
// (AdamW, learning-rate schedules, gradient accumulation) and
// contrastive/trainlog (the CSV log and its PNG plot).
//
// Every matrix is a row-major []float32: n embeddings of dimension d take
// n*d elements, row i starting at i*d.
package contrastive
