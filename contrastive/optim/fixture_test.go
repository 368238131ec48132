package optim

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestAdamWFixture applies one AdamW step to the tiny-bert fixture's
// weights with its in-batch gradients and compares with PyTorch's result
// (adamw_step.safetensors). Tensors without a gradient (the pooler) must
// stay unchanged, as torch skips them.
func TestAdamWFixture(t *testing.T) {
	dir := fixture.Shared(t, "fixtures", "tiny-bert")
	var in struct {
		AdamW struct {
			LR          float64   `json:"lr"`
			Betas       []float64 `json:"betas"`
			Eps         float64   `json:"eps"`
			WeightDecay float64   `json:"weight_decay"`
			Step        int       `json:"step"`
		} `json:"adamw"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "grad_inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	if len(in.AdamW.Betas) != 2 || in.AdamW.Step != 1 {
		t.Fatalf("unexpected AdamW settings %+v", in.AdamW)
	}
	cfg := AdamWConfig{Beta1: in.AdamW.Betas[0], Beta2: in.AdamW.Betas[1], Eps: in.AdamW.Eps, WeightDecay: in.AdamW.WeightDecay}
	if cfg != DefaultAdamW() {
		t.Logf("fixture settings %+v differ from the default", cfg)
	}
	read := func(name string) map[string]*checkpoint.Tensor {
		m, err := checkpoint.ReadSafetensors(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	model, grads, want := read("model.safetensors"), read("grads_inbatch.safetensors"), read("adamw_step.safetensors")
	names := make([]string, 0, len(model))
	for n := range model {
		names = append(names, n)
	}
	sort.Strings(names)
	var ps []Param
	orig := map[string][]float32{}
	withGrad := 0
	for _, n := range names {
		p := Param{Name: n, Data: model[n].Data}
		orig[n] = append([]float32(nil), p.Data...)
		if g, ok := grads[n]; ok {
			if len(g.Data) != len(p.Data) {
				t.Fatalf("%s: %d gradients for %d values", n, len(g.Data), len(p.Data))
			}
			p.Grad = g.Data
			withGrad++
		}
		ps = append(ps, p)
	}
	if withGrad != len(grads) || withGrad == len(names) {
		t.Fatalf("%d of %d tensors have gradients (%d in the file); the pooler should have none", withGrad, len(names), len(grads))
	}
	NewAdamW(ps, cfg).Step(in.AdamW.LR)
	var worst float64
	for _, p := range ps {
		w, ok := want[p.Name]
		if !ok || len(w.Data) != len(p.Data) {
			t.Fatalf("%s missing or resized in adamw_step.safetensors", p.Name)
		}
		moved := false
		for j, v := range p.Data {
			d := math.Abs(float64(v) - float64(w.Data[j]))
			worst = math.Max(worst, d)
			if d > 1e-6 {
				t.Fatalf("%s[%d] = %.9g, PyTorch %.9g", p.Name, j, v, w.Data[j])
			}
			if v != orig[p.Name][j] {
				moved = true
			}
		}
		if (p.Grad != nil) != moved {
			t.Fatalf("%s: has gradient %v but moved %v", p.Name, p.Grad != nil, moved)
		}
	}
	t.Logf("largest difference from PyTorch: %.3g", worst)
}
