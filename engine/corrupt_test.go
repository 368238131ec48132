package engine

import (
	"context"
	"errors"
	"github.com/contriever-go/contriever/document"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A damaged BM25 segment (a flipped byte anywhere: bleve would panic in a
// loader goroutine or fail some queries) is found by its checksum at Open,
// which rebuilds BM25 from the document log, says so, and serves every
// document.
func TestCorruptSegmentRepairedAtOpen(t *testing.T) {
	ctx := context.Background()
	for _, where := range []string{"start", "middle", "footer"} {
		t.Run(where, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "idx")
			if _, err := Build(ctx, dir, corpusOf(faultDocs), BuildOptions{NoDense: true, Quiet: true}); err != nil {
				t.Fatal(err)
			}
			segs, _ := filepath.Glob(filepath.Join(dir, BM25Dir, "store", "*.zap"))
			if len(segs) == 0 {
				t.Fatal("no zap segment")
			}
			b, err := os.ReadFile(segs[0])
			if err != nil {
				t.Fatal(err)
			}
			switch where {
			case "start":
				b[8] ^= 0xff
			case "middle":
				b[len(b)/2] ^= 0x01
			case "footer":
				b[len(b)-20] ^= 0x10
			}
			if err := os.WriteFile(segs[0], b, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Open(ctx, dir, OpenOptions{})
			if err != nil {
				t.Fatalf("Open of an index with a damaged segment: %v", err)
			}
			defer c.Close()
			if len(c.Repaired) != 1 || !strings.HasPrefix(c.Repaired[0], "bm25: ") || !c.Rebuilt {
				t.Fatalf("repaired %q", c.Repaired)
			}
			bk, _ := c.Backend()
			r, err := bk.Retrieve(ctx, Retrieval{Queries: []string{"common"}, K: 10, BM25: true})
			if err != nil || len(r.BM25[0]) != len(faultDocs) {
				t.Fatalf("search after repair: %v, %d hits", err, len(r.BM25))
			}
		})
	}
}

// Build over a folder that a running process serves is refused, leaves the
// served folder alone, and the server's next flush still works; once the
// server is gone the rebuild replaces the folder.
func TestRebuildRefusedWhileServed(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "idx")
	if _, err := Build(ctx, dir, corpusOf(faultDocs), BuildOptions{NoDense: true, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bk, _ := c.Backend()
	if err := bk.PutDocs(ctx, nil); err != nil {
		t.Fatal(err)
	}
	_, err = Build(ctx, dir, corpusOf(faultDocs[:1]), BuildOptions{NoDense: true, Quiet: true, Overwrite: true})
	if !errorsIs(err, ErrServed) {
		t.Fatalf("Build over a served folder = %v, want ErrServed", err)
	}
	if err := bk.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A folder swapped under the server by hand: the server refuses to
	// flush into it.
	moved := dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := bk.PutDocs(ctx, faultDocsAsDocs()[:1]); !errorsIs(err, ErrMoved) {
		t.Fatalf("PutDocs into a replaced folder = %v, want ErrMoved", err)
	}
	if err := bk.DeleteDoc(ctx, "f1"); !errorsIs(err, ErrMoved) {
		t.Fatalf("DeleteDoc in a replaced folder = %v, want ErrMoved", err)
	}
	if r, err := bk.Retrieve(ctx, Retrieval{Queries: []string{"common"}, K: 10, BM25: true}); err != nil || len(r.BM25[0]) != len(faultDocs) {
		t.Fatalf("search of the moved folder: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("the server wrote %d entries into a folder it did not open", len(ents))
	}
	bk.Close()
	os.Remove(dir)
	if err := os.Rename(moved, dir); err != nil {
		t.Fatal(err)
	}
	m, err := Build(ctx, dir, corpusOf(faultDocs[:1]), BuildOptions{NoDense: true, Quiet: true, Overwrite: true})
	if err != nil {
		t.Fatalf("rebuild once the server stopped: %v", err)
	}
	if m.Docs != 1 {
		t.Fatalf("rebuilt index has %d documents", m.Docs)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".idx.building-*"))
	if len(left) != 0 {
		t.Fatalf("rebuild left %v", left)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func faultDocsAsDocs() []document.Doc {
	out := make([]document.Doc, len(faultDocs))
	for i, d := range faultDocs {
		out[i] = document.Doc{ID: d.ID, Title: d.Title, Text: d.Text}
	}
	return out
}
