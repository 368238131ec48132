package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/index/vector"
	"github.com/contriever-go/contriever/internal/fixture"
	"github.com/contriever-go/contriever/internal/npy"
)

// TestIndexEmbeddings builds an index from vectors computed by `embed`
// (as another machine would) and checks that a wrong count, a wrong
// dimension, duplicate ids and ids that are not the corpus's are rejected
// with a message naming the problem.
func TestIndexEmbeddings(t *testing.T) {
	model := fixture.Shared(t, "fixtures", "tiny-bert")
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus.jsonl")
	writeEmbedInput(t, corpus, 30)
	vecs := filepath.Join(dir, "vecs.npy")
	if err := runEmbed([]string{"--model", model, "--input", corpus, "--out", vecs, "--quiet", "--max-length", "32"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 30; i++ {
		ids = append(ids, fmt.Sprintf("d%d", i))
	}
	writeIDs := func(name string, ids []string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := writeIDs("ids.txt", ids)
	build := func(npyPath, idsPath string) error {
		return runIndex([]string{"--corpus", corpus, "--model", model, "--out", filepath.Join(dir, "idx"), "--force",
			"--quiet", "--max-length", "32", "--cache-dir", "off", "--embeddings", npyPath, "--ids", idsPath})
	}
	if err := build(vecs, good); err != nil {
		t.Fatal(err)
	}
	// The rows may come in any order: reversed ids and rows.
	data, _, err := npy.ReadFloat32(vecs)
	if err != nil {
		t.Fatal(err)
	}
	dim := len(data) / 30
	rev := make([]float32, len(data))
	rids := make([]string, 30)
	for i := 0; i < 30; i++ {
		copy(rev[i*dim:(i+1)*dim], data[(29-i)*dim:(30-i)*dim])
		rids[i] = ids[29-i]
	}
	revPath := filepath.Join(dir, "rev.npy")
	if err := npy.WriteFloat32(revPath, rev, 30, dim); err != nil {
		t.Fatal(err)
	}
	if err := build(revPath, writeIDs("rev.txt", rids)); err != nil {
		t.Fatal(err)
	}
	// Either way, document d_i holds row i of vecs: its own vector is its
	// nearest neighbour with the score ‖v‖².
	vf, _ := filepath.Glob(filepath.Join(dir, "idx", "vectors-*.idx"))
	if len(vf) != 1 {
		t.Fatalf("vector files %v", vf)
	}
	vx, err := vector.Load(vf[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 7, 29} {
		q := data[i*dim : (i+1)*dim]
		res, err := vx.Search(q, 30)
		if err != nil {
			t.Fatal(err)
		}
		var self float32 = -1
		for _, r := range res[0] {
			if r.ID == ids[i] {
				self = r.Score
			}
		}
		var nn float32
		for _, v := range q {
			nn += v * v
		}
		if d := self - nn; d > 1e-3*nn || d < -1e-3*nn {
			t.Fatalf("%s scores %v against its own vector, ‖v‖² = %v", ids[i], self, nn)
		}
	}
	wrongDim := filepath.Join(dir, "dim.npy")
	if err := npy.WriteFloat32(wrongDim, make([]float32, 30*16), 30, 16); err != nil {
		t.Fatal(err)
	}
	dup := append(append([]string(nil), ids[:29]...), "d3")
	other := append(append([]string(nil), ids[:29]...), "zzz")
	for _, c := range []struct {
		name, npy, ids, want string
	}{
		{"count", vecs, writeIDs("short.txt", ids[:29]), "counts must match"},
		{"dimension", wrongDim, good, "dimension 16"},
		{"duplicate", vecs, writeIDs("dup.txt", dup), "duplicate id \"d3\""},
		{"not the corpus", vecs, writeIDs("other.txt", other), "has no vector"},
	} {
		err := build(c.npy, c.ids)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}
