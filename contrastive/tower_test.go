package contrastive

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/internal/fixture"
)

type gradInputs struct {
	QIDs  [][]int32 `json:"query_input_ids"`
	QMask [][]int32 `json:"query_attention_mask"`
	KIDs  [][]int32 `json:"key_input_ids"`
	KMask [][]int32 `json:"key_attention_mask"`
}

func batchOf(ids, mask [][]int32) *encoder.Batch {
	b := &encoder.Batch{B: len(ids), T: len(ids[0])}
	for i := range ids {
		b.IDs = append(b.IDs, ids[i]...)
		b.Mask = append(b.Mask, mask[i]...)
	}
	return b
}

func loadTiny(t *testing.T) (string, *encoder.Model, *encoder.Batch, *encoder.Batch, gradFixture) {
	t.Helper()
	dir := fixture.Shared(t, "fixtures", "tiny-bert")
	m, err := encoder.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var in gradInputs
	b, err := os.ReadFile(filepath.Join(dir, "grad_inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	return dir, m, batchOf(in.QIDs, in.QMask), batchOf(in.KIDs, in.KMask), loadGradFixture(t)
}

// compareGrads checks every gradient tensor of grad against the PyTorch
// file within 1e-4 of the tensor's largest entry.
func compareGrads(t *testing.T, grad *encoder.Model, path string) {
	t.Helper()
	want, err := checkpoint.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	// The key biases' exact gradient is zero (softmax is invariant to a
	// shift of each query's scores), so both sides hold round-off there:
	// every tensor's scale is floored at 1e-3 of the largest gradient
	// entry of the whole model.
	var global float64
	for _, w := range want {
		for _, v := range w.Data {
			global = math.Max(global, math.Abs(float64(v)))
		}
	}
	n := 0
	var worst float64
	for _, p := range grad.Params() {
		w, ok := want[p.Name]
		if !ok {
			if p.Name[:7] != "pooler." {
				t.Errorf("%s: no reference gradient", p.Name)
			}
			continue
		}
		n++
		var mx float64
		for _, v := range w.Data {
			mx = math.Max(mx, math.Abs(float64(v)))
		}
		var md float64
		for i, v := range p.Data {
			md = math.Max(md, math.Abs(float64(v)-float64(w.Data[i])))
		}
		if strings.HasSuffix(p.Name, "attention.self.key.bias") && mx > 1e-6*global {
			t.Errorf("%s: reference gradient %g is not round-off", p.Name, mx)
		}
		rel := md / math.Max(mx, 1e-3*global)
		worst = math.Max(worst, rel)
		if rel > 1e-4 {
			t.Errorf("%s: max difference %.3g, %.3g of the largest entry %.3g", p.Name, md, rel, mx)
		}
	}
	if n != len(want) {
		t.Errorf("compared %d tensors, the reference has %d", n, len(want))
	}
	t.Logf("%s: worst relative difference %.3g over %d tensors", filepath.Base(path), worst, n)
}

// TestTowerInBatchFixture: one encoder embeds queries and keys, in-batch
// InfoNCE, both backward passes into one gradient; against PyTorch.
func TestTowerInBatchFixture(t *testing.T) {
	dir, m, qb, kb, f := loadTiny(t)
	H := m.Config.HiddenSize
	grad := m.ZeroLike()
	qt := NewTower(m, grad, qb.B, qb.T, false)
	kt := NewTower(m, grad, kb.B, kb.T, false)
	q, err := qt.Embed(qb, encoder.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := kt.Embed(kb, encoder.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range flat32(f.Q) {
		if math.Abs(float64(q[i]-v)) > 1e-4 {
			t.Fatalf("query embedding %d: %g, PyTorch %g", i, q[i], v)
		}
	}
	dq, dk := make([]float32, len(q)), make([]float32, len(k))
	out := InBatch(q, k, qb.B, H, float32(f.Temperature), dq, dk)
	if math.Abs(out.Loss-f.LossInBatch) > 1e-4*f.LossInBatch {
		t.Fatalf("loss %g, PyTorch %g", out.Loss, f.LossInBatch)
	}
	if err := qt.Backward(dq); err != nil {
		t.Fatal(err)
	}
	if err := kt.Backward(dk); err != nil {
		t.Fatal(err)
	}
	compareGrads(t, grad, filepath.Join(dir, "grads_inbatch.safetensors"))
}

// TestTowerMoCoFixture: keys from the same weights under no-grad, MoCo
// logits against the fixture's queue, only the query tower back-propagates.
func TestTowerMoCoFixture(t *testing.T) {
	dir, m, qb, kb, f := loadTiny(t)
	H := m.Config.HiddenSize
	grad := m.ZeroLike()
	qt := NewTower(m, grad, qb.B, qb.T, false)
	key := NewTower(m.Clone(), nil, kb.B, kb.T, false)
	q, _ := qt.Embed(qb, encoder.ForwardOptions{})
	k, err := key.Embed(kb, encoder.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dq := make([]float32, len(q))
	out := MoCo(q, k, flat32(f.Queue), qb.B, len(f.Queue), H, float32(f.Temperature), dq)
	if math.Abs(out.Loss-f.LossMoCo) > 1e-4*f.LossMoCo {
		t.Fatalf("loss %g, PyTorch %g", out.Loss, f.LossMoCo)
	}
	if err := qt.Backward(dq); err != nil {
		t.Fatal(err)
	}
	compareGrads(t, grad, filepath.Join(dir, "grads_moco.safetensors"))
	if key.Backward(dq) == nil {
		t.Fatal("backward through a tower without gradient model accepted")
	}
}

// TestTowerDropoutFiniteDifferences: with dropout on (fixed seed, so the
// masks are the same in every forward), the gradient of a scalar of the
// pooled embeddings matches central finite differences for a sample of
// parameters of every tensor.
func TestTowerDropoutFiniteDifferences(t *testing.T) {
	_, m, qb, _, _ := loadTiny(t)
	H := m.Config.HiddenSize
	grad := m.ZeroLike()
	tw := NewTower(m, grad, qb.B, qb.T, true)
	opt := encoder.ForwardOptions{Train: true, Seed: 77}
	r := rand.New(rand.NewPCG(4, 4))
	w := make([]float32, qb.B*H)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	loss := func() float64 {
		e, err := tw.Embed(qb, opt)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for i, v := range e {
			s += float64(v) * float64(w[i])
		}
		return s
	}
	loss()
	if err := tw.Backward(w); err != nil {
		t.Fatal(err)
	}
	// Dropout must actually drop something in this forward.
	e1 := append([]float32(nil), tw.emb[:qb.B*H]...)
	tw.Embed(qb, encoder.ForwardOptions{})
	same := true
	for i, v := range tw.emb[:qb.B*H] {
		if v != e1[i] {
			same = false
		}
	}
	if same {
		t.Fatal("training forward equals the inference forward: no dropout")
	}
	gp := grad.Params()
	var global float64
	for _, p := range gp {
		for _, v := range p.Data {
			global = math.Max(global, math.Abs(float64(v)))
		}
	}
	t.Logf("largest gradient entry %g", global)
	for pi, p := range m.Params() {
		if p.Name[:7] == "pooler." {
			continue
		}
		var mx float64
		for _, v := range gp[pi].Data {
			mx = math.Max(mx, math.Abs(float64(v)))
		}
		for probe := 0; probe < 4; probe++ {
			j := r.IntN(len(p.Data))
			if p.Name == "embeddings.word_embeddings.weight" {
				j = int(qb.IDs[r.IntN(len(qb.IDs))])*H + r.IntN(H)
			}
			old := p.Data[j]
			const h = 1e-2
			p.Data[j] = old + h
			fp := loss()
			p.Data[j] = old - h
			fm := loss()
			p.Data[j] = old
			fd := (fp - fm) / (2 * h)
			an := float64(gp[pi].Data[j])
			if math.Abs(fd-an) > 2e-2*math.Max(mx, 1e-2*global) {
				t.Errorf("%s[%d]: analytic %g, finite difference %g (largest entry %g)", p.Name, j, an, fd, mx)
			}
		}
	}
}
