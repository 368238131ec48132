package main

import (
	"flag"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/fixture"
	"github.com/contriever-go/contriever/internal/npy"
)

// embed --precision: bf16 and int8 vectors are close to the f32 ones (cosine
// ≥ 0.99 on the tiny-bert fixture) without being them; an unknown
// precision is an error.
func TestEmbedPrecision(t *testing.T) {
	model := fixture.Shared(t, "fixtures", "tiny-bert")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(`{"title": "Dense retrieval", "text": "contrastive learning of an encoder"}
{"text": "the stock market fell sharply on monday"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	vecs := map[string][]float32{}
	for _, p := range []string{"f32", "bf16", "int8"} {
		out := filepath.Join(dir, p+".npy")
		if err := runEmbed([]string{"--model", model, "--input", in, "--out", out, "--quiet", "--precision", p}); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		vecs[p], _ = readNpyF32(t, out)
	}
	for _, p := range []string{"bf16", "int8"} {
		same := true
		for i := 0; i < 2; i++ {
			a, b := vecs["f32"][i*32:(i+1)*32], vecs[p][i*32:(i+1)*32]
			var dot, na, nb float64
			for j := range a {
				dot += float64(a[j]) * float64(b[j])
				na += float64(a[j]) * float64(a[j])
				nb += float64(b[j]) * float64(b[j])
				same = same && a[j] == b[j]
			}
			if c := dot / math.Sqrt(na*nb); c < 0.99 {
				t.Errorf("%s row %d: cosine %.5f to f32", p, i, c)
			}
		}
		if same {
			t.Errorf("%s vectors equal the f32 ones: the precision was not applied", p)
		}
	}
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", filepath.Join(dir, "x.npy"), "--quiet", "--precision", "fp4"}); err == nil || !strings.Contains(err.Error(), "fp4") {
		t.Errorf("--precision fp4: %v", err)
	}
}

// The dense flags of beir (dense, hybrid) carry --precision into the
// retriever's options.
func TestBeirDensePrecisionFlag(t *testing.T) {
	fs := flag.NewFlagSet("beir", flag.ContinueOnError)
	v := beirDenseFlags(fs)
	if err := fs.Parse([]string{"--model", "m", "--precision", "int8"}); err != nil {
		t.Fatal(err)
	}
	o, err := v.options(true)
	if err != nil || o.Precision != encoder.Int8 {
		t.Fatalf("options %v, precision %v", err, o.Precision)
	}
	fs.Set("precision", "half")
	if _, err := v.options(true); err == nil {
		t.Error("--precision half accepted")
	}
}

// index --precision int8 records it in the manifest; serve embeds queries
// at it, and --precision overrides it with a warning.
func TestServePrecision(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := e2eBinary(t)
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus.jsonl")
	if err := os.WriteFile(corpus, []byte(`{"_id": "chess", "title": "Chess", "text": "a grandmaster moved the rook"}
{"_id": "bread", "title": "Bread", "text": "knead the dough and let it rise"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(dir, "idx")
	out, err := exec.Command(bin, "index", "--corpus", corpus, "--model", e2eModel(t), "--out", idx, "--cache-dir", "off", "--quiet", "--precision", "int8").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "(int8/w") {
		t.Fatalf("index --precision int8: %v\n%s", err, out)
	}
	m, err := engine.ReadManifest(idx)
	if err != nil || m.Model.Precision != "int8" {
		t.Fatalf("manifest: %v %+v", err, m.Model)
	}
	s := e2eStart(t, bin, idx)
	if r := s.search(t, "grandmaster rook", "dense", 2); len(r.Results) != 2 {
		t.Fatalf("dense: %+v", r)
	}
	if l := s.log(); !strings.Contains(l, `"msg":"encoder precision","precision":"int8/w`) || strings.Contains(l, "another precision") {
		t.Fatalf("serve log:\n%s", l)
	}
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s2 := e2eStart(t, bin, idx, "--precision", "f32")
	if l := s2.log(); !strings.Contains(l, `"msg":"encoder precision","precision":"f32"`) || !strings.Contains(l, "another precision") {
		t.Fatalf("serve --precision f32 log:\n%s", l)
	}
}

// bench cosine reads two .npy files and fails below --min-mean-cos.
func TestBenchCosine(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.npy"), filepath.Join(dir, "b.npy")
	if err := npy.WriteFloat32(a, []float32{1, 0, 0, 1}, 2, 2); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteFloat32(b, []float32{1, 0, 1, 1}, 2, 2); err != nil {
		t.Fatal(err)
	}
	// Cosines 1 and 1/√2: mean 0.854.
	if err := runBenchCosine([]string{"--ref", a, "--other", b, "--min-mean-cos", "0.85"}); err != nil {
		t.Fatal(err)
	}
	if err := runBenchCosine([]string{"--ref", a, "--other", b, "--min-mean-cos", "0.86"}); err == nil || !strings.Contains(err.Error(), "0.853553") {
		t.Errorf("below the threshold: %v", err)
	}
	c := filepath.Join(dir, "c.npy")
	if err := npy.WriteFloat32(c, []float32{1, 0, 0}, 1, 3); err != nil {
		t.Fatal(err)
	}
	if err := runBenchCosine([]string{"--ref", a, "--other", c}); err == nil {
		t.Error("shapes [2 2] and [1 3] compared")
	}
}
