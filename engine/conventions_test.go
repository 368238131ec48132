package engine

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/encoder"
)

// TestManifestConventionsRoundTrip: the conventions survive the manifest's
// write and read (checksum included), and a manifest written before them
// reads as its pooling, normalisation and maximum length with no prompts
// and dot product.
func TestManifestConventionsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	qp, dp := "query: ", "passage: "
	c := encoder.DefaultConventions()
	c.Pooling, c.Normalize, c.MaxLength, c.Similarity = encoder.PoolMeanSqrtLen, true, 128, encoder.SimCosine
	c.Prompts = map[string]string{"query": qp, "passage": dp}
	c.QueryPrompt, c.DocPrompt = &qp, &dp
	m := &Manifest{Model: &ModelInfo{Hash: "h", Dim: 4, Pooling: "mean_sqrt_len", Normalize: true, MaxLength: 128, Conventions: &c},
		Vectors: &VecInfo{Type: "flat"}}
	if err := writeManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := got.Model.conventions()
	if err != nil {
		t.Fatal(err)
	}
	if gc.String() != c.String() {
		t.Fatalf("conventions after the round trip:\n%s\nwant\n%s", gc, c)
	}
	if d := DiffConventions(c, gc); d != nil {
		t.Fatalf("DiffConventions of equal conventions: %v", d)
	}
	// A changed prompt breaks the checksum: the manifest is not silently
	// read with other conventions.
	b, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	os.WriteFile(filepath.Join(dir, ManifestFile), []byte(strings.Replace(string(b), `"query: "`, `"query:  "`, 1)), 0o644)
	if _, err := ReadManifest(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("edited conventions: %v, want ErrCorrupt", err)
	}

	old := &Manifest{Model: &ModelInfo{Hash: "h", Dim: 4, Pooling: "cls", Normalize: true, MaxLength: 256}, Vectors: &VecInfo{Type: "flat"}}
	if err := writeManifest(dir, old); err != nil {
		t.Fatal(err)
	}
	got, err = ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(got.Model); strings.Contains(string(b), "conventions") {
		t.Fatalf("legacy manifest gained conventions: %s", b)
	}
	lc, err := got.Model.conventions()
	if err != nil {
		t.Fatal(err)
	}
	if lc.Pooling != encoder.PoolCLS || !lc.Normalize || lc.MaxLength != 256 || lc.Similarity != encoder.SimDot || lc.QueryPrompt != nil || lc.DocPrompt != nil {
		t.Fatalf("legacy conventions %s", lc)
	}
}

func TestDiffConventions(t *testing.T) {
	a := encoder.DefaultConventions()
	b := a
	p := "query: "
	b.QueryPrompt, b.MaxLength = &p, 64
	d := DiffConventions(a, b)
	if len(d) != 2 || !strings.HasPrefix(d[0], "max_length: index 512, asked 64") || !strings.HasPrefix(d[1], `query_prompt: index null, asked "query: "`) {
		t.Fatalf("diff %q", d)
	}
	err := checkSettings("idx", a, b)
	if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), "query_prompt") {
		t.Fatalf("checkSettings: %v", err)
	}
}

// TestPoolPromptsAndUnitVectors: a pool over a folder with cosine
// similarity and no Normalize gives unit vectors; EncodeQueries and
// EncodeDocs apply their prompts (the vectors equal those of Encode on
// the prompted texts); the cache key follows the document prompt only.
func TestPoolPromptsAndUnitVectors(t *testing.T) {
	ctx := context.Background()
	f, err := encoder.ReadFolder(tinyModel(t))
	if err != nil {
		t.Fatal(err)
	}
	qp, dp := "query: ", "passage: "
	f.Conventions.Similarity = encoder.SimCosine
	f.Conventions = ModelSettings{QueryPrompt: &qp, DocPrompt: &dp}.Apply(f.Conventions)
	p, err := OpenModelPool(f, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Conventions().Normalize {
		t.Fatal("the pool's conventions should stay the folder's (Normalize false)")
	}
	texts := []string{"a first text", "another one"}
	q, err := p.EncodeQueries(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.EncodeDocs(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	pq, err := p.Encode(ctx, []string{qp + texts[0], qp + texts[1]})
	if err != nil {
		t.Fatal(err)
	}
	pd, err := p.Encode(ctx, []string{dp + texts[0], dp + texts[1]})
	if err != nil {
		t.Fatal(err)
	}
	dim := p.Dim()
	for i := range q {
		if math.Abs(float64(q[i]-pq[i])) > 1e-6 || math.Abs(float64(d[i]-pd[i])) > 1e-6 {
			t.Fatalf("prompted vectors differ at %d", i)
		}
	}
	for r := 0; r < len(texts); r++ {
		var n float64
		for _, x := range q[r*dim : (r+1)*dim] {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Fatalf("cosine model: query vector %d has squared norm %v", r, n)
		}
	}
	if same := q[0] == d[0] && q[1] == d[1]; same {
		t.Fatal("query and document prompts gave the same vectors")
	}
	// The corpus cache key depends on the document prompt, not the query's.
	c := p.Conventions()
	k := CacheKey("m", "d", c, c.DocPrompt)
	c2 := c
	other := "search: "
	c2.QueryPrompt = &other
	if CacheKey("m", "d", c2, c2.DocPrompt) != k {
		t.Fatal("the query prompt changed the corpus cache key")
	}
	if CacheKey("m", "d", c, &other) == k || CacheKey("m", "d", c, nil) == k {
		t.Fatal("the document prompt is not in the cache key")
	}
}
