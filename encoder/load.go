package encoder

import (
	"fmt"
	"path/filepath"
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
// an HF model folder (LoadFolder) and returns an Encoder with opts.
func Open(dir string, opts Options) (*Encoder, error) {
	m, tok, err := LoadFolder(dir)
	if err != nil {
		return nil, err
	}
	return New(m, WordPiece(tok), opts)
}

// LoadFolder loads the model and the tokenizer (tokenizer.json or
// vocab.txt) of a model folder and checks them against each other
// (CheckVocab): the one way the project opens a model with its tokenizer.
// In a sentence-transformers folder whose Transformer module lives in a
// sub-folder (modules.json), they are read from there. The conventions
// around the model (pooling, prompts, ...) are ReadFolder's; Folder.Open
// combines both.
func LoadFolder(dir string) (*Model, *wordpiece.Tokenizer, error) {
	dir = transformerDir(dir)
	m, err := Load(dir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := wordpiece.Load(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("model folder %s: tokenizer: %w", dir, err)
	}
	if err := CheckVocab(m, tok); err != nil {
		return nil, nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	return m, tok, nil
}

// CheckVocab reports a tokenizer that can produce token ids outside the
// model's vocabulary (more tokens than vocab_size).
func CheckVocab(m *Model, tok *wordpiece.Tokenizer) error {
	if tok.VocabSize() > m.Config.VocabSize {
		return fmt.Errorf("tokenizer has %d tokens, the model's vocabulary only %d", tok.VocabSize(), m.Config.VocabSize)
	}
	return nil
}

// transformerDir returns the folder of the Transformer module that
// dir's modules.json names, or dir itself (no modules.json, or one that
// does not parse: ReadFolder reports those).
func transformerDir(dir string) string {
	data, err := readSmall(filepath.Join(dir, checkpoint.STModulesFile))
	if err != nil {
		return dir
	}
	mods, err := ParseModules(data)
	if err != nil {
		return dir
	}
	l, err := checkLayout(mods)
	if err != nil {
		return dir
	}
	return filepath.Join(dir, filepath.FromSlash(l.transformer))
}
