// Package nn holds the float32 layer operations of the BERT encoder, each
// forward pass beside its backward pass in the style of llm.c: embedding
// lookup, LayerNorm, linear with bias, exact erf GELU, multi-head
// self-attention with HF's additive mask, residual add, dropout, mean and
// CLS pooling and L2 normalisation.
//
// Every operation works on flat row-major slices that the caller owns.
// Forward functions write their outputs, and the values their backward
// needs (LayerNorm mean and rstd, attention probabilities, dropout masks),
// into caller-provided buffers, so a trainer can keep the activations of a
// whole model and run the backward passes in reverse order. Backward
// functions ADD into their gradient buffers (dinp += ..., dweight += ...),
// so gradients from several uses of a tensor accumulate; zero them before
// a step. A nil gradient buffer is skipped. Large operations split their
// rows over GOMAXPROCS goroutines; they are otherwise pure functions of
// their arguments.
package nn
