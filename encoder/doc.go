// Package encoder is the BERT encoder of the project: a float32 forward
// pass of HuggingFace's BertModel (word + position + token-type
// embeddings, post-LN transformer layers with exact erf GELU, optional
// pooler), Contriever's pooling (mean over all tokens with attention mask
// 1, [CLS] and [SEP] included, or CLS) with optional L2 normalisation,
// and Encoder, which turns texts into vectors in batches sorted by length.
//
// A model folder's conventions (pooling: mean, cls, max or mean_sqrt_len;
// normalisation; maximum length; prompts and include_prompt; similarity)
// are read from its sentence-transformers files by ReadFolder into
// Conventions, whose String form is stable for manifests and cache keys;
// a plain HF folder gets Contriever's. Folder.Open returns an Encoder that
// follows them, and Embed/EmbedTo embed texts with an optional prompt as
// sentence-transformers' encode does.
//
// Model keeps every parameter in one flat float32 buffer, exposed as
// named views in HF's naming through Params, so that a trainer can
// allocate gradients and optimiser state of the same layout (ZeroLike)
// and a checkpoint writer can save them. Forward records the activations
// the backward passes of internal/nn need when given kept Activations.
//
// For inference the linear layers can run at a reduced Precision (bf16,
// or int8 with dynamic per-token quantisation of the activations, see
// internal/qgemm): Model.Prepare converts their weights once, and
// ForwardOptions.Precision and Options.Precision select it;
// ComparePrecision reports the error of each layer against float32.
//
// The tokenizer lives in encoder/wordpiece and checkpoint reading and
// writing in encoder/checkpoint.
package encoder
