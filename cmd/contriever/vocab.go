package main

// The --vocab default of the commands that make a model from scratch.

import (
	"bytes"
	"errors"
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
// copy, its hash in a manifest) reads the same bytes; the temporary
// directory when the cache directory cannot be written.
func resolveVocab(path string) (string, error) {
	if path != defaultVocab {
		return path, nil
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	var dirs []string
	if d, err := os.UserCacheDir(); err == nil {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, os.TempDir())
	var errs []error
	for _, d := range dirs {
		p := filepath.Join(d, "contriever", builtinVocabName)
		if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, vocab.BertBaseUncased) {
			return p, nil
		}
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = atomicfile.WriteFile(p, vocab.BertBaseUncased)
		}
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("the built-in vocabulary (%s not found here): %w", defaultVocab, errors.Join(errs...))
}
