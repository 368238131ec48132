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

// TestIndexSubfolderLayout: a sentence-transformers folder whose
// Transformer lives in 0_Transformer (mean pooling, include_prompt false,
// e5-like prompts) is copied into the index with its layout, reopens, and
// embeds served queries and documents with their prompts as an encoder
// opened on the folder itself does.
func TestIndexSubfolderLayout(t *testing.T) {
	ctx := context.Background()
	hf := tinyModel(t)
	st := filepath.Join(t.TempDir(), "st")
	sub := filepath.Join(st, "0_Transformer")
	if err := os.MkdirAll(filepath.Join(st, "1_Pooling"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(hf, sub); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"modules.json", "config_sentence_transformers.json", "1_Pooling/config.json"} {
		os.Remove(filepath.Join(sub, filepath.FromSlash(n)))
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(st, filepath.FromSlash(name)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("modules.json", `[{"idx":0,"name":"0","path":"0_Transformer","type":"sentence_transformers.models.Transformer"},
		{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]`)
	write("1_Pooling/config.json", `{"word_embedding_dimension":32,"pooling_mode_mean_tokens":true,"include_prompt":false}`)
	write("config_sentence_transformers.json", `{"prompts":{"query":"query: ","passage":"passage: "},"similarity_fn_name":"dot"}`)
	write("0_Transformer/sentence_bert_config.json", `{"max_seq_length":64,"do_lower_case":false}`)

	dir := filepath.Join(t.TempDir(), "idx")
	m, err := Build(ctx, dir, corpusOf(testDocs), BuildOptions{Model: st, NoBM25: true, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"modules.json", "config_sentence_transformers.json", "1_Pooling/config.json", "0_Transformer/config.json", "0_Transformer/model.safetensors", "0_Transformer/sentence_bert_config.json", "0_Transformer/vocab.txt"} {
		if _, err := os.Stat(filepath.Join(dir, ModelDir, filepath.FromSlash(f))); err != nil {
			t.Errorf("model copy lacks %s (files %v)", f, m.Model.Files)
		}
	}
	c := m.Model.Conventions
	if c.IncludePrompt || c.MaxLength != 64 || c.QueryPrompt == nil || *c.QueryPrompt != "query: " || c.DocPrompt == nil || *c.DocPrompt != "passage: " {
		t.Fatalf("conventions %s", c)
	}
	col, err := Open(ctx, dir, OpenOptions{Encoders: 1, Model: st})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	enc, err := OpenModelEncoder(st, ModelSettings{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"cats in the sun", "the market fell"}
	got, err := col.Encoder().(PromptEncoder).EncodeQueries(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := enc.Embed(ctx, texts, c.QueryPrompt)
	if err != nil {
		t.Fatal(err)
	}
	unprompted, _ := enc.Embed(ctx, texts, nil)
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("served query vector differs at %d", i)
		}
	}
	if got[0] == unprompted[0] && got[1] == unprompted[1] {
		t.Fatal("the query prompt changed nothing")
	}
}
