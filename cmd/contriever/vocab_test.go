package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestBuiltinVocab runs `train --recipe static` without --vocab from a
// directory that has no data/vocab/vocab.txt: the built-in copy is written
// to the user cache directory, holds the repository's bytes, and the model
// is built with it; an explicit --vocab that does not exist still fails.
func TestBuiltinVocab(t *testing.T) {
	repoVocab, err := os.ReadFile(fixture.Repo(t, "data", "vocab", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := filepath.Abs(writeNoHitsDataset(t))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache)
	t.Chdir(t.TempDir())
	out := filepath.Join(t.TempDir(), "static")
	if err := runTrain([]string{"--recipe", "static", "--corpus", data, "--static-dim", "8", "--static-window", "3", "--out", out, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	p, err := resolveVocab(defaultVocab)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, repoVocab) {
		t.Fatalf("built-in vocabulary at %s: %d bytes (%v), want the repository's %d", p, len(got), err, len(repoVocab))
	}
	m, err := static.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := m.Tokenizer().VocabSize(); n != 30522 {
		t.Errorf("vocabulary of %d tokens, want 30522", n)
	}
	if err := runTrain([]string{"--recipe", "static", "--corpus", data, "--vocab", "missing/vocab.txt", "--out", out + "2", "--quiet"}); err == nil {
		t.Error("--vocab missing/vocab.txt: no error")
	}
}

// TestBuiltinVocabUnwritableCache puts the user cache directory under a
// regular file, so it cannot be created: the built-in vocabulary goes to
// the temporary directory instead.
func TestBuiltinVocabUnwritableCache(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", blocker)
	t.Setenv("HOME", blocker)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Chdir(t.TempDir())
	p, err := resolveVocab(defaultVocab)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(tmp, "contriever", builtinVocabName); p != want {
		t.Errorf("built-in vocabulary at %s, want %s", p, want)
	}
	if p, err := resolveVocab("other/vocab.txt"); err != nil || p != "other/vocab.txt" {
		t.Errorf("an explicit path: %q, %v", p, err)
	}
}
