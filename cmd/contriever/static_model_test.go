package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/internal/fixture"
)

// buildStaticModel builds a small static model on data with `train
// --recipe static` and returns its folder.
func buildStaticModel(t *testing.T, data string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "static")
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	if err := runTrain([]string{"--recipe", "static", "--corpus", data, "--vocab", vocab, "--out", out, "--static-dim", "8", "--static-window", "3", "--quiet"}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIndexStaticModel: `index --model STATIC` copies the static model into
// the index, records its kind, and the folder reopens with the same
// embedder: a query's dense hits are the ones the model itself ranks first.
func TestIndexStaticModel(t *testing.T) {
	data := writeNoHitsDataset(t)
	model := buildStaticModel(t, data)
	idx := filepath.Join(t.TempDir(), "idx")
	if _, err := beirCaptureStdout(t, func() error {
		return runIndex([]string{"--corpus", data, "--model", model, "--out", idx, "--quiet", "--eval", "test"})
	}); err != nil {
		t.Fatal(err)
	}
	for reopen := 0; reopen < 2; reopen++ {
		c, err := engine.Open(context.Background(), idx, engine.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := c.Manifest()
		if m.Model == nil || m.Model.Kind != engine.KindStatic || c.Encoder().Kind() != engine.KindStatic || m.Model.Dim != 8 || !m.Model.Normalize {
			t.Fatalf("manifest model %+v", m.Model)
		}
		for _, f := range m.Model.Files {
			if _, err := os.Stat(filepath.Join(idx, engine.ModelDir, f)); err != nil {
				t.Errorf("model copy: %v", err)
			}
		}
		if !static.IsModel(filepath.Join(idx, engine.ModelDir)) {
			t.Error("the model copy is not a static model folder")
		}
		ds, err := beir.Load(data, "test")
		if err != nil {
			t.Fatal(err)
		}
		run, err := c.Dense().Retrieve(context.Background(), ds.Queries[:3], 5)
		if err != nil {
			t.Fatal(err)
		}
		// The same ranking from the source model, embedded outside the index.
		sm, err := static.Load(model)
		if err != nil {
			t.Fatal(err)
		}
		var ids, texts []string
		ds.Corpus(func(d beir.Doc) error { ids = append(ids, d.ID); texts = append(texts, d.Passage()); return nil })
		qv := sm.Embed(beir.Texts(ds.Queries[:3]))
		want, err := engine.ExactRun(sm.Dim(), ids, sm.Embed(texts), []string{ds.Queries[0].ID, ds.Queries[1].ID, ds.Queries[2].ID}, qv, 5)
		if err != nil {
			t.Fatal(err)
		}
		for qid, hs := range want {
			if len(run[qid]) != len(hs) || len(hs) == 0 || run[qid][0].DocID != hs[0].DocID {
				t.Errorf("query %s: index %v, model %v", qid, run[qid], hs)
			}
		}
		c.Close()
	}
	// A reduced precision does not apply to a static model: reopening the
	// index at int8 is refused, as are embed and index at bf16 or int8.
	if _, err := engine.Open(context.Background(), idx, engine.OpenOptions{Precision: "int8"}); !errors.Is(err, engine.ErrStaticPrecision) {
		t.Errorf("static index reopened at int8: %v", err)
	}
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(`{"text": "protein cell gene"}`+"\n"), 0o644)
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", filepath.Join(t.TempDir(), "e.npy"), "--quiet", "--precision", "int8"}); !errors.Is(err, engine.ErrStaticPrecision) {
		t.Errorf("embed --precision int8 with a static model: %v", err)
	}
	if err := runIndex([]string{"--corpus", data, "--model", model, "--out", filepath.Join(t.TempDir(), "idx8"), "--quiet", "--precision", "bf16"}); !errors.Is(err, engine.ErrStaticPrecision) {
		t.Errorf("index --precision bf16 with a static model: %v", err)
	}
	// A corrupted model copy is detected.
	w := filepath.Join(idx, engine.ModelDir, static.ModuleDir, "model.safetensors")
	b, _ := os.ReadFile(w)
	b[len(b)-1] ^= 1
	os.WriteFile(w, b, 0o644)
	if _, err := engine.Open(context.Background(), idx, engine.OpenOptions{}); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Errorf("corrupt static copy: %v", err)
	}
}

// TestEmbedStaticModel: `embed --model STATIC` writes the model's own
// vectors (unit length), row for row.
func TestEmbedStaticModel(t *testing.T) {
	data := writeNoHitsDataset(t)
	model := buildStaticModel(t, data)
	in := filepath.Join(t.TempDir(), "in.jsonl")
	texts := []string{"protein cell gene", "virus enzyme", "nothing known here zzz"}
	var sb strings.Builder
	for _, s := range texts {
		sb.WriteString(`{"text": "` + s + `"}` + "\n")
	}
	os.WriteFile(in, []byte(sb.String()), 0o644)
	out := filepath.Join(t.TempDir(), "e.npy")
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", out, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	got, hdr := readNpyF32(t, out)
	if !strings.Contains(hdr, "(3, 8)") {
		t.Fatalf("header %q", hdr)
	}
	sm, err := static.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	want := sm.Embed(texts)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("float %d: %g, want %g", i, got[i], want[i])
		}
	}
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", out, "--pooling", "cls", "--quiet"}); err == nil {
		t.Error("--pooling cls with a static model: no error")
	}
}

// TestEmbedAsymmetricStatic: `embed` with an asymmetric static model
// writes its document vectors by default and its query vectors with
// --prompt-name query; another prompt name is refused.
func TestEmbedAsymmetricStatic(t *testing.T) {
	data := writeNoHitsDataset(t)
	sm, err := static.Load(buildStaticModel(t, data))
	if err != nil {
		t.Fatal(err)
	}
	q := slices.Clone(sm.Weight())
	for i := range q { // other query vectors: each row shifted by one entry
		q[i] = sm.Weight()[(i/8)*8+(i+1)%8]
	}
	am, err := static.NewAsymmetric(sm.Tokenizer(), sm.Weight(), q, 8)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "asym")
	if err := static.Save(model, am, ""); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in.jsonl")
	texts := []string{"protein cell gene", "virus enzyme"}
	os.WriteFile(in, []byte(`{"text": "protein cell gene"}`+"\n"+`{"text": "virus enzyme"}`+"\n"), 0o644)
	for _, c := range []struct {
		args []string
		want []float32
	}{{nil, am.Embed(texts)}, {[]string{"--prompt-name", "document"}, am.Embed(texts)}, {[]string{"--prompt-name", "query"}, am.EmbedQueries(texts)}} {
		out := filepath.Join(t.TempDir(), "e.npy")
		if err := runEmbed(append([]string{"--model", model, "--input", in, "--out", out, "--quiet"}, c.args...)); err != nil {
			t.Fatal(err)
		}
		if got, _ := readNpyF32(t, out); !slices.Equal(got, c.want) {
			t.Errorf("%v: %v, want %v", c.args, got, c.want)
		}
	}
	if slices.Equal(am.Embed(texts), am.EmbedQueries(texts)) {
		t.Fatal("query and document vectors agree")
	}
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", filepath.Join(t.TempDir(), "e.npy"), "--prompt-name", "other", "--quiet"}); err == nil || !strings.Contains(err.Error(), "no prompts") {
		t.Errorf("--prompt-name other: %v", err)
	}
}

// TestBundledStaticModel: the bundled model (models/static-tuned-scifact)
// loads as every command loads it, says it was tuned on its corpus (so the
// label-free fusion weight is the tuned one), and on SciFact train queries
// (never test) ranks as its card says: well above the training-free floor
// (0.556) and within 0.01 of the card's 0.7097, through `beir --json`; its
// queries have their own token rows.
func TestBundledStaticModel(t *testing.T) {
	if testing.Short() {
		t.Skip("embeds the SciFact corpus")
	}
	model := fixture.Repo(t, "models", "static-tuned-scifact")
	data := fixture.Repo(t, "data", "scifact")
	m, err := static.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Provenance; p == nil || p.Recipe != static.RecipeTuned || p.Steps != 1078 || p.Passes < 100 {
		t.Fatalf("provenance %+v", p)
	}
	if !m.Asymmetric() {
		t.Fatal("the bundled model has no query rows of its own (the recipe gives them on a corpus with titles)")
	}
	e, err := engine.OpenModelAt(model, engine.ModelSettings{}, 256, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := engine.LabelFreeAlpha(e); a != fusion.TunedAlpha {
		t.Fatalf("label-free α %v, want the tuned %v", a, fusion.TunedAlpha)
	}
	e.Close()
	out, err := beirCaptureStdout(t, func() error {
		return runBeir([]string{"--data", data, "--split", "train", "--method", "dense", "--model", model, "--json", "--quiet", "--cache-dir", "off"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	n, ok := res["ndcg@10"].(float64)
	if !ok || math.Abs(n-0.7097) > 0.01 {
		t.Fatalf("train nDCG@10 %v, the card says 0.7097 (%s)", res["ndcg@10"], out)
	}
}
