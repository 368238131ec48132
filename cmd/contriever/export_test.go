package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/contriever-go/contriever/internal/fixture"
	"github.com/contriever-go/contriever/internal/npy"
)

// TestExportOpenSearch: the bulk export of an index built from known
// vectors holds every document once, its passage, and its vector bit for
// bit; the mapping carries the index's BM25 k1/b and the model dimension.
func TestExportOpenSearch(t *testing.T) {
	model := fixture.Shared(t, "fixtures", "tiny-bert")
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus.jsonl")
	writeEmbedInput(t, corpus, 25)
	vecs := filepath.Join(dir, "vecs.npy")
	if err := runEmbed([]string{"--model", model, "--input", corpus, "--out", vecs, "--quiet", "--max-length", "32"}); err != nil {
		t.Fatal(err)
	}
	var ids []byte
	for i := 0; i < 25; i++ {
		ids = append(ids, []byte("d"+itoa(i)+"\n")...)
	}
	idsPath := filepath.Join(dir, "ids.txt")
	os.WriteFile(idsPath, ids, 0o644)
	idx := filepath.Join(dir, "idx")
	if err := runIndex([]string{"--corpus", corpus, "--model", model, "--out", idx, "--quiet", "--max-length", "32", "--cache-dir", "off",
		"--embeddings", vecs, "--ids", idsPath, "--k1", "1.2", "--b", "0.75"}); err != nil {
		t.Fatal(err)
	}
	bulk := filepath.Join(dir, "bulk.ndjson")
	if err := runExport([]string{"--index", idx, "--out", bulk, "--name", "sci"}); err != nil {
		t.Fatal(err)
	}
	want, shape, err := npy.ReadFloat32(vecs)
	if err != nil {
		t.Fatal(err)
	}
	dim := shape[1]
	f, _ := os.Open(bulk)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		var raw map[string]map[string]string
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		id, name := raw["index"]["_id"], raw["index"]["_index"]
		if name != "sci" || seen[id] {
			t.Fatalf("action %s: bad name or repeated id", sc.Text())
		}
		seen[id] = true
		if !sc.Scan() {
			t.Fatal("action without a document")
		}
		var doc struct {
			Title, Text, Passage string
			Embedding            []float32
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		var row int
		for row = 0; row < 25 && "d"+itoa(row) != id; row++ {
		}
		if row == 25 || len(doc.Embedding) != dim || doc.Passage != doc.Title+" "+doc.Text {
			t.Fatalf("doc %s: row %d, %d floats, passage %q", id, row, len(doc.Embedding), doc.Passage)
		}
		for j, v := range doc.Embedding {
			if v != want[row*dim+j] {
				t.Fatalf("doc %s float %d: %v, want %v", id, j, v, want[row*dim+j])
			}
		}
	}
	if len(seen) != 25 {
		t.Fatalf("%d documents exported, want 25", len(seen))
	}
	mp := filepath.Join(dir, "mapping.json")
	if err := runExport([]string{"--index", idx, "--format", "opensearch-mapping", "--out", mp}); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Settings struct {
			Index struct {
				Similarity struct{ Default struct{ K1, B float64 } }
			}
		}
		Mappings struct {
			Properties struct{ Embedding struct{ Dimension int } }
		}
	}
	b, _ := os.ReadFile(mp)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if s := m.Settings.Index.Similarity.Default; s.K1 != 1.2 || s.B != 0.75 || m.Mappings.Properties.Embedding.Dimension != dim {
		t.Fatalf("mapping: k1 %v b %v dim %d", s.K1, s.B, m.Mappings.Properties.Embedding.Dimension)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
