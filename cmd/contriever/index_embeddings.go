package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/contriever-go/contriever/internal/npy"
)

// embeddingsSource returns the engine.BuildOptions.Vectors of `index
// --embeddings FILE.npy --ids FILE`: vectors computed elsewhere (a GPU box,
// PyTorch), a float32 [n, dim] .npy whose row i is the document on line i
// of the ids file (one id per line, or a JSON array of strings). It checks,
// before reading the vectors, that the ids are n, non-empty and distinct,
// that dim is the model's, and that the ids are exactly the corpus's; the
// rows are then put in the order of the stored documents.
func embeddingsSource(npyPath, idsPath string) func(ids []string, dim int) ([]float32, error) {
	return func(corpus []string, dim int) ([]float32, error) {
		fileIDs, err := readIDsFile(idsPath)
		if err != nil {
			return nil, err
		}
		shape, err := npy.ReadHeader(npyPath)
		if err != nil {
			return nil, err
		}
		if len(shape) != 2 {
			return nil, fmt.Errorf("%s: shape %v, want [documents, dim]", npyPath, shape)
		}
		if shape[0] != len(fileIDs) {
			return nil, fmt.Errorf("%s has %d rows but %s has %d ids: the counts must match", npyPath, shape[0], idsPath, len(fileIDs))
		}
		if shape[1] != dim {
			return nil, fmt.Errorf("%s has vectors of dimension %d, the model's is %d", npyPath, shape[1], dim)
		}
		row := make(map[string]int, len(fileIDs))
		for i, id := range fileIDs {
			row[id] = i
		}
		if len(corpus) != len(fileIDs) {
			return nil, fmt.Errorf("%s has %d ids, the corpus %d documents", idsPath, len(fileIDs), len(corpus))
		}
		for _, id := range corpus {
			if _, ok := row[id]; !ok {
				return nil, fmt.Errorf("%s: corpus document %q has no vector", idsPath, id)
			}
		}
		data, _, err := npy.ReadFloat32(npyPath)
		if err != nil {
			return nil, err
		}
		out := make([]float32, len(corpus)*dim)
		for i, id := range corpus {
			r := row[id]
			copy(out[i*dim:(i+1)*dim], data[r*dim:(r+1)*dim])
		}
		return out, nil
	}
}

// readIDsFile reads document ids, one a line (blank lines are errors), or
// a JSON array of strings; empty and repeated ids are errors naming the
// line (or array index).
func readIDsFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ids []string
	where := func(i int) string { return fmt.Sprintf("%s:%d", path, i+1) }
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(t, &ids); err != nil {
			return nil, fmt.Errorf("%s: bad JSON array of ids: %v", path, err)
		}
		where = func(i int) string { return fmt.Sprintf("%s: element %d", path, i) }
	} else {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			ids = append(ids, string(bytes.TrimRight(sc.Bytes(), "\r")))
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, len(ids)+1, err)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no ids", path)
	}
	first := make(map[string]int, len(ids))
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("%s: empty id", where(i))
		}
		if j, ok := first[id]; ok {
			return nil, fmt.Errorf("%s: duplicate id %q (first at %s)", where(i), id, where(j))
		}
		first[id] = i
	}
	return ids, nil
}

// vectorsFrom is embeddingsSource, or nil when no file is given.
func vectorsFrom(npyPath, idsPath string) func([]string, int) ([]float32, error) {
	if npyPath == "" {
		return nil
	}
	return embeddingsSource(npyPath, idsPath)
}
