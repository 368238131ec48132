// Package checkpoint reads and writes BERT checkpoints in the formats
// HuggingFace uses: config.json (BertConfig), model.safetensors and
// pytorch_model.bin (the zip-of-pickle format of torch.save since torch 1.6).
// Tensors are always float32 in memory; F16 and BF16 weights are converted on
// load and rounded to nearest even on write. The pickle reader is a small,
// strict virtual machine that understands only the opcodes and globals
// torch.save emits for a state dict: it builds tensors and executes nothing.
// LoadDir turns a model folder into a validated config and a map of tensors
// with plain BertModel names ("embeddings.word_embeddings.weight", ...),
// whatever prefix ("bert.", "encoder_q.", "module.", "model.") the checkpoint
// used; WriteHFDir writes a folder that HuggingFace transformers loads.
//
// Files are treated as hostile: every size is bounded before anything is
// allocated from it. config.json is at most 1 MiB and its sizes are held to
// sane maxima (MaxLayers, MaxHiddenSize, ...); the pickle VM bounds its
// stack, memo, container nesting (32) and container items (2^20), and
// formats values in errors without walking them; LoadDir compares the
// configuration with the weights file's tensor list (count, embedding
// shapes, layers, then every name and shape) and refuses tensors that would
// load more bytes than the file holds, all before reading any tensor data.
package checkpoint
