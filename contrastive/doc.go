// Package contrastive trains Contriever-style dense retrievers. It holds
// the machinery shared by unsupervised pre-training (random crops, MoCo or
// in-batch negatives) and supervised fine-tuning (in-batch negatives plus
// one extra negative passage per query):
//
//   - the InfoNCE losses with hand-written gradients (InBatch, MoCo,
//     Supervised), checked by finite differences and against PyTorch;
//   - MoCo's key Queue and Momentum update;
//   - Tower, a training forward of an encoder.Model that keeps its
//     activations, with the whole-model backward composed from
//     internal/nn's per-op backward passes;
//   - Trainer, which runs optimiser steps (micro-batches, accumulation,
//     momentum encoder, queue, AdamW, schedule) over a Source of batches
//     and saves and restores its complete State bit for bit;
//   - Run, the loop around a Trainer: CSV log and plot, periodic
//     evaluation, HF checkpoints and a resumable state on cancellation.
//
// The sub-packages hold the parts that do not need the model:
// contrastive/data (corpus reading, the cached token stream, cropping,
// batch packing), contrastive/optim (AdamW, learning-rate schedules,
// gradient accumulation) and contrastive/trainlog (CSV log and PNG plot).
//
// Dropout masks are drawn from counters (internal/nn), seeded per forward
// from the run's seed, the step, the micro-batch and the tower, so a
// resumed run needs no generator state for them.
//
// Every matrix is a row-major []float32: n embeddings of dimension d take
// n*d elements, row i starting at i*d.
package contrastive
