package encoder

import (
	"fmt"
	"runtime/debug"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
)

// Load reads an HF-style model folder (config.json with model.safetensors
// or pytorch_model.bin; "bert." and Contriever "encoder_q." names are
// accepted, see checkpoint.LoadDir). Every tensor of the configuration
// must be present with its shape, pooler.dense being optional; a missing,
// extra or misshapen tensor is an error naming it, as is a non-finite
// weight.
func Load(dir string) (*Model, error) {
	cfg, tensors, err := checkpoint.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	m, err := FromTensors(cfg, tensors)
	clear(tensors)
	tensors = nil
	// The file's tensors are garbage now: hand their memory back before
	// the caller allocates activations (peak RSS of embed).
	debug.FreeOSMemory()
	if err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	if err := m.checkFinite(); err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	return m, nil
}

// WordPiece returns a wordpiece tokenizer as the Tokenizer Encoder uses
// (its EncodeIDs gives [CLS] text [SEP] cut to maxLen, as HF's truncation,
// and stops tokenising once the budget is reached).
func WordPiece(t *wordpiece.Tokenizer) Tokenizer { return t }

// Open loads the model and the tokenizer (tokenizer.json or vocab.txt) of
// an HF model folder and returns an Encoder with opts.
func Open(dir string, opts Options) (*Encoder, error) {
	m, err := Load(dir)
	if err != nil {
		return nil, err
	}
	tok, err := wordpiece.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("model folder %s: tokenizer: %w", dir, err)
	}
	if tok.VocabSize() > m.Config.VocabSize {
		return nil, fmt.Errorf("model folder %s: tokenizer has %d tokens, the model's vocabulary only %d", dir, tok.VocabSize(), m.Config.VocabSize)
	}
	return New(m, WordPiece(tok), opts)
}
