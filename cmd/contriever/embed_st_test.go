package main

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/internal/fixture"
	"github.com/contriever-go/contriever/internal/npy"
)

// stReference reads reference/NAME.jsonl of the st-bge-like fixture: the
// texts as embed builds them and the token ids sentence-transformers gave.
func stReference(t *testing.T, dir, name string) (texts []string, ids [][]int32) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "reference", name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var rec struct {
			Title *string `json:"title"`
			Text  string  `json:"text"`
			IDs   []int32 `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		text := rec.Text
		if rec.Title != nil && *rec.Title != "" {
			text = *rec.Title + " " + text
		}
		texts = append(texts, text)
		ids = append(ids, rec.IDs)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return texts, ids
}

// TestEmbedSentenceTransformersFolder is the acceptance check of the
// sentence-transformers layout: with no --pooling, --normalize or
// --max-length flag, embed follows st-bge-like's files (CLS pooling,
// Normalize, the "query" prompt for queries only) and matches the vectors
// PyTorch computed under sentence-transformers' rules, token ids included.
func TestEmbedSentenceTransformersFolder(t *testing.T) {
	model := fixture.Shared(t, "fixtures", "st-bge-like")
	folder, err := encoder.ReadFolder(model)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := folder.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	c := enc.Conventions()
	if c.Pooling != encoder.PoolCLS || !c.Normalize || c.MaxLength != 512 || c.Similarity != encoder.SimCosine || c.QueryPrompt == nil || c.DocPrompt != nil {
		t.Fatalf("conventions %s", c)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		flags  []string
		prompt *string
	}{
		{"queries", []string{"--prompt-name", "query"}, c.QueryPrompt},
		{"docs", nil, nil},
	} {
		texts, wantIDs := stReference(t, model, tc.name)
		ids, skip := enc.TokenizePrompted(texts, tc.prompt)
		if skip != 0 {
			t.Errorf("%s: skip %d with include_prompt true", tc.name, skip)
		}
		for i := range ids {
			if !slices.Equal(ids[i], wantIDs[i]) {
				t.Fatalf("%s %d: ids\n got %v\nwant %v", tc.name, i, ids[i], wantIDs[i])
			}
		}
		out := filepath.Join(dir, tc.name+".npy")
		args := append([]string{"--model", model, "--input", filepath.Join(model, "reference", tc.name+".jsonl"), "--out", out, "--quiet"}, tc.flags...)
		if err := runEmbed(args); err != nil {
			t.Fatal(err)
		}
		got, gotShape, err := npy.ReadFloat32(out)
		if err != nil {
			t.Fatal(err)
		}
		want, wantShape, err := npy.ReadFloat32(filepath.Join(model, "reference", tc.name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gotShape, wantShape) {
			t.Fatalf("%s: shape %v, want %v", tc.name, gotShape, wantShape)
		}
		var worst float64
		for i := range want {
			worst = max(worst, math.Abs(float64(got[i]-want[i])))
		}
		t.Logf("%s: %v, max |diff| %.2g", tc.name, gotShape, worst)
		if worst > 1e-5 {
			t.Errorf("%s: max |diff| %g > 1e-5", tc.name, worst)
		}
		// The library call gives the same vectors.
		vec, err := enc.Embed(context.Background(), texts, tc.prompt)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(vec, got) {
			t.Errorf("%s: Encoder.Embed differs from embed's output", tc.name)
		}
	}
	// Without the prompt the queries no longer match: the prompt matters.
	texts, _ := stReference(t, model, "queries")
	plain, err := enc.Embed(context.Background(), texts[:1], nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := npy.ReadFloat32(filepath.Join(model, "reference", "queries.npy"))
	var d float64
	for i, v := range plain {
		d = max(d, math.Abs(float64(v-want[i])))
	}
	if d < 1e-3 {
		t.Errorf("query embedded without its prompt matches the reference (max |diff| %g)", d)
	}
	// Errors: an unknown prompt name, both prompt flags.
	in := filepath.Join(model, "reference", "queries.jsonl")
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", filepath.Join(dir, "x.npy"), "--prompt-name", "passage", "--quiet"}); err == nil {
		t.Error("unknown --prompt-name accepted")
	}
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", filepath.Join(dir, "x.npy"), "--prompt-name", "query", "--prompt", "x", "--quiet"}); err == nil {
		t.Error("--prompt with --prompt-name accepted")
	}
}
