package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/contrastive/trainlog"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/internal/fixture"
)

// trainCorpus writes a small plain-text corpus (one document per line).
func trainCorpus(t *testing.T) string {
	t.Helper()
	words := strings.Fields(`protein cell gene expression tumor patients study results increased
		reduced activity receptor mice human blood risk cancer treatment clinical signaling
		pathway insulin brain neurons infection virus immune response model data analysis`)
	var b strings.Builder
	for d := 0; d < 120; d++ {
		for w := 0; w < 40; w++ {
			b.WriteString(words[(d*7+w*w*3+w)%len(words)])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "document %d.\n", d)
	}
	p := filepath.Join(t.TempDir(), "corpus.txt")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTrainResumeCLI: `contriever train` stopped at step N and continued
// with --resume to 2N ends with the same weights, bit for bit, as a
// straight run to 2N; the log has each step once.
func TestTrainResumeCLI(t *testing.T) {
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	corpus := trainCorpus(t)
	base := trainArgs{
		corpus: corpus, cache: "-", config: "tiny", vocab: vocab, objective: contrastive.ObjectiveMoCo,
		queueSize: 16, momentum: 0.99, ratioMin: 0.1, ratioMax: 0.5, deletion: 0.1, chunk: 32, residualScale: 0, positionScale: 0.1,
		runFlags: runFlags{steps: 4, batch: 4, accum: 2, lr: 1e-3, warmup: 1, temperature: 0.05, seed: 3,
			checkpointEvery: 100, logEvery: 1, dtype: "f32", quiet: true},
	}
	straight := base
	straight.out = t.TempDir()
	if err := train(context.Background(), straight); err != nil {
		t.Fatal(err)
	}
	split := base
	split.out = t.TempDir()
	split.stopAt = 2
	if err := train(context.Background(), split); err != nil {
		t.Fatal(err)
	}
	st, err := contrastive.LoadState(filepath.Join(split.out, contrastive.StateName))
	if err != nil || st.Step != 2 {
		t.Fatalf("state after the first half: %v", err)
	}
	half, err := encoder.Load(filepath.Join(split.out, contrastive.ModelDirName))
	if err != nil {
		t.Fatal(err)
	}
	split.stopAt, split.resume = 0, true
	if err := train(context.Background(), split); err != nil {
		t.Fatal(err)
	}
	a, err := encoder.Load(filepath.Join(straight.out, contrastive.ModelDirName))
	if err != nil {
		t.Fatal(err)
	}
	b, err := encoder.Load(filepath.Join(split.out, contrastive.ModelDirName))
	if err != nil {
		t.Fatal(err)
	}
	fa, fb, fh := a.Flat(), b.Flat(), half.Flat()
	same, moved := true, false
	for i := range fa {
		if math.Float32bits(fa[i]) != math.Float32bits(fb[i]) {
			same = false
		}
		if fa[i] != fh[i] {
			moved = true
		}
	}
	if !same {
		t.Fatal("resumed run's weights differ from the straight run's")
	}
	if !moved {
		t.Fatal("the second half did not change the weights")
	}
	_, rows, err := trainlog.Read(filepath.Join(split.out, contrastive.LogName))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0].Step != 1 || rows[3].Step != 4 {
		t.Fatalf("resumed log has %d rows: %+v", len(rows), rows)
	}
	// The resumed run refuses other settings.
	other := split
	other.lr = 2e-3
	if err := train(context.Background(), other); !errors.Is(err, contrastive.ErrConfigMismatch) {
		t.Fatalf("resume with another lr: %v, want ErrConfigMismatch", err)
	}
}

// TestTrainErrors: bad settings are refused with a clear error.
func TestTrainErrors(t *testing.T) {
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	a := trainArgs{corpus: trainCorpus(t), cache: "-", config: "huge", vocab: vocab, objective: "inbatch",
		ratioMax: 0.5, deletion: 0.1, chunk: 32, residualScale: 1, positionScale: 1, out: t.TempDir(),
		runFlags: runFlags{steps: 1, batch: 2, accum: 1, lr: 1e-4, temperature: 0.05, dtype: "f32", quiet: true}}
	if err := train(context.Background(), a); err == nil || !strings.Contains(err.Error(), "huge") {
		t.Fatalf("unknown config: %v", err)
	}
	a.config, a.objective = "tiny", "simclr"
	if err := train(context.Background(), a); err == nil || !strings.Contains(err.Error(), "simclr") {
		t.Fatalf("unknown objective: %v", err)
	}
	a.objective, a.dtype = "inbatch", "f8"
	if err := train(context.Background(), a); err == nil || !strings.Contains(err.Error(), "f8") {
		t.Fatalf("bad dtype: %v", err)
	}
	if err := runTrain([]string{"--corpus", a.corpus}); err == nil {
		t.Fatal("missing --out and --steps accepted")
	}
}

// TestBundledModel: the bundled default model (trained by `contriever
// train`, see its README) is an HF folder stored in F16 under 30 MB that
// encoder.Open loads (converting to float32) with the small config, and it
// ranks a matching abstract above unrelated ones.
func TestBundledModel(t *testing.T) {
	dir := fixture.Repo(t, "models", "contriever-small-scifact")
	st, err := os.Stat(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 30<<20 {
		t.Fatalf("model.safetensors is %d bytes, over 30 MB", st.Size())
	}
	b, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b[:min(len(b), 64<<10)]), `"F16"`) || strings.Contains(string(b[:min(len(b), 64<<10)]), `"F32"`) {
		t.Fatal("model.safetensors is not stored in F16")
	}
	enc, err := encoder.Open(dir, encoder.Options{MaxLength: 256})
	if err != nil {
		t.Fatal(err)
	}
	c := enc.Model().Config
	if c.NumHiddenLayers != 4 || c.HiddenSize != 256 || c.NumAttentionHeads != 4 || c.IntermediateSize != 1024 || c.VocabSize != 30522 {
		t.Fatalf("bundled model config %+v is not `small`", c)
	}
	texts := []string{
		"insulin resistance in obese patients",
		"Insulin resistance is a hallmark of obesity and type 2 diabetes; obese patients show impaired insulin signalling in muscle and liver.",
		"The crystal structure of the bacterial ribosome reveals how antibiotics bind to the peptidyl transferase centre.",
		"Sleep deprivation impairs the consolidation of hippocampal memory in young adults.",
	}
	v, err := enc.Encode(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	H := enc.Dim()
	dot := func(i, j int) float64 {
		var s float64
		for k := 0; k < H; k++ {
			s += float64(v[i*H+k]) * float64(v[j*H+k])
		}
		return s
	}
	if !(dot(0, 1) > dot(0, 2) && dot(0, 1) > dot(0, 3)) {
		t.Fatalf("query·relevant %.3f, query·unrelated %.3f and %.3f", dot(0, 1), dot(0, 2), dot(0, 3))
	}
}
