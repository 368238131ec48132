// Package data turns raw text into the training examples of Contriever's
// unsupervised recipe, and packs tokenised texts into padded batches for
// any contrastive training.
//
// The input is a BEIR corpus (a folder holding corpus.jsonl or
// corpus.jsonl.gz, or that file itself), any JSONL file with a "text"
// field (and an optional "title"), or plain text files. A passage is
// title + " " + text, or text alone when the title is empty or absent.
// Plain text is read one document per non-empty line; since WordPiece
// splits at whitespace and the token stream ignores document boundaries,
// this is the same as one document per file. A folder without a BEIR
// corpus contributes all its *.jsonl, *.jsonl.gz, *.txt and *.txt.gz
// files, in name order (not recursively). Gzip input is recognised by its
// magic bytes.
//
// Documents are tokenised without special tokens, in parallel, into one id
// stream (Stream) held as uint16 when the vocabulary has at most 65,536
// entries and as uint32 otherwise, and cached on disk next to the data in
// a versioned, checksummed file that is rebuilt when stale or damaged.
// A Sampler then cuts 256-token chunks at an offset redrawn each epoch and
// makes two independently cropped, token-deleted views of each; its
// random state and position are saved and restored exactly, so a resumed
// run sees the same batches.
package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/internal/gzfile"
)

// ErrNoDocuments reports a source with no file to read.
var ErrNoDocuments = errors.New("data: no corpus files found")

// SourceFiles lists the files a source path stands for, as described in the
// package documentation.
func SourceFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	for _, name := range []string{"corpus.jsonl", "corpus.jsonl.gz"} {
		p := filepath.Join(path, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return []string{p}, nil
		}
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var files []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(n, ".") {
			continue
		}
		for _, ext := range []string{".jsonl", ".jsonl.gz", ".txt", ".txt.gz"} {
			if strings.HasSuffix(n, ext) {
				files = append(files, filepath.Join(path, n))
				break
			}
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s (want corpus.jsonl[.gz], *.jsonl[.gz] or *.txt[.gz])", ErrNoDocuments, path)
	}
	return files, nil
}

// isJSONL reports whether a file is read as JSONL (by its name).
func isJSONL(path string) bool {
	n := strings.TrimSuffix(path, ".gz")
	return strings.HasSuffix(n, ".jsonl") || strings.HasSuffix(n, ".json")
}

// ReadDocuments calls fn with every document of the source at path, in
// order: its passage, title + " " + text. It stops at and returns fn's
// first error.
func ReadDocuments(path string, fn func(doc string) error) error {
	return ReadTitled(path, func(title, text string) error { return fn(document.Passage(title, text)) })
}

// ReadTitled calls fn with the title and the text of every document of
// the source at path, in order, as ReadDocuments reads them (the title
// is empty for plain text and for a record without one). It stops at and
// returns fn's first error.
func ReadTitled(path string, fn func(title, text string) error) error {
	files, err := SourceFiles(path)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := readFile(f, fn); err != nil {
			return err
		}
	}
	return nil
}

func openMaybeGzip(path string) (io.Reader, func() error, error) {
	rc, err := gzfile.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	return bufio.NewReaderSize(rc, 1<<20), rc.Close, nil
}

// passage is the part of a JSONL record the reader uses.
type passage struct {
	Title *string `json:"title"`
	Text  *string `json:"text"`
}

func readFile(path string, fn func(title, text string) error) error {
	r, closeFn, err := openMaybeGzip(path)
	if err != nil {
		return err
	}
	defer closeFn()
	jsonl := isJSONL(path)
	br := r.(*bufio.Reader)
	line := 0
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			line++
			b = bytes.TrimRight(b, "\r\n")
			if len(bytes.TrimSpace(b)) > 0 {
				title, text := "", string(b)
				if jsonl {
					var p passage
					if err := json.Unmarshal(b, &p); err != nil {
						return fmt.Errorf("data: %s:%d: %w", path, line, err)
					}
					if p.Text == nil {
						return fmt.Errorf("data: %s:%d: record has no \"text\" field", path, line)
					}
					text = *p.Text
					if p.Title != nil {
						title = *p.Title
					}
				}
				if err := fn(title, text); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("data: %s:%d: %w", path, line+1, err)
		}
	}
}
