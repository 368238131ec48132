package main

// The --vocab default of the commands that make a model from scratch.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/contriever-go/contriever/data/vocab"
	"github.com/contriever-go/contriever/internal/atomicfile"
)

// defaultVocab is the --vocab default: bert-base-uncased's vocab.txt in the
// repository, relative to the working directory.
const defaultVocab = "data/vocab/vocab.txt"

// builtinVocabName is the file, in the user cache directory, that holds the
// built-in copy of defaultVocab.
const builtinVocabName = "bert-base-uncased-vocab.txt"

// resolveVocab returns path, unless path is the default and no such file
// is here (the binary run outside the repository): then the built-in copy
// (package data/vocab), written once to the user cache directory so that
// every consumer of a vocab.txt path (the tokenizer, the model folder's
// copy, its hash in a manifest) reads the same bytes.
func resolveVocab(path string) (string, error) {
	if path != defaultVocab {
		return path, nil
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	p := filepath.Join(dir, "contriever", builtinVocabName)
	if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, vocab.BertBaseUncased) {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("the built-in vocabulary (%s not found here): %w", defaultVocab, err)
	}
	if err := atomicfile.WriteFile(p, vocab.BertBaseUncased); err != nil {
		return "", fmt.Errorf("the built-in vocabulary (%s not found here): %w", defaultVocab, err)
	}
	return p, nil
}
