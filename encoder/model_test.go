package encoder

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/internal/fixture"
	"github.com/contriever-go/contriever/internal/nn"
)

// tinyRef is the content of tiny-bert/reference.json that the tests use.
type tinyRef struct {
	InputIDs        [][]int32       `json:"input_ids"`
	AttentionMask   [][]int32       `json:"attention_mask"`
	TokenTypeIDs    [][]int32       `json:"token_type_ids"`
	EmbeddingOutput [][][]float64   `json:"embedding_output"`
	HiddenStates    [][][][]float64 `json:"hidden_states"`
	LastHiddenState [][][]float64   `json:"last_hidden_state"`
	PoolerOutput    [][]float64     `json:"pooler_output"`
	MeanPooled      [][]float64     `json:"mean_pooled"`
	MeanPooledL2    [][]float64     `json:"mean_pooled_l2norm"`
	CLS             [][]float64     `json:"cls"`
}

func loadTinyRef(t *testing.T) (string, *tinyRef, *Batch) {
	t.Helper()
	dir := fixture.Shared(t, "fixtures", "tiny-bert")
	data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref tinyRef
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	B, T := len(ref.InputIDs), len(ref.InputIDs[0])
	b := &Batch{B: B, T: T}
	for i := 0; i < B; i++ {
		b.IDs = append(b.IDs, ref.InputIDs[i]...)
		b.Mask = append(b.Mask, ref.AttentionMask[i]...)
		b.TypeIDs = append(b.TypeIDs, ref.TokenTypeIDs[i]...)
	}
	return dir, &ref, b
}

func flat3(x [][][]float64) []float64 {
	var out []float64
	for _, a := range x {
		for _, b := range a {
			out = append(out, b...)
		}
	}
	return out
}

func flat2(x [][]float64) []float64 {
	var out []float64
	for _, a := range x {
		out = append(out, a...)
	}
	return out
}

// assertClose fails if any |got-want| exceeds tol, reporting the worst.
func assertClose(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	worst, at := 0.0, 0
	for i := range want {
		d := math.Abs(float64(got[i]) - want[i])
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	t.Logf("%s: max abs diff %.3g", name, worst)
	if !(worst <= tol) {
		t.Errorf("%s[%d] = %g, want %g (max abs diff %.3g > %g)", name, at, got[at], want[at], worst, tol)
	}
}

// loadTinyDirect builds the tiny model from the fixture's safetensors file.
func loadTinyDirect(t *testing.T, dir string) *Model {
	t.Helper()
	cfg, err := checkpoint.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := checkpoint.ReadSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromTensors(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkParity compares every output of the model on the fixture batch.
func checkParity(t *testing.T, m *Model, ref *tinyRef, b *Batch) {
	t.Helper()
	const tol = 1e-5
	a := m.NewActivations(b.B, b.T, true, false)
	last, err := m.Forward(a, b, ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "embedding_output", a.Hidden0[:len(last)], flat3(ref.EmbeddingOutput), tol)
	assertClose(t, "hidden_states[0]", a.Hidden0[:len(last)], flat3(ref.HiddenStates[0]), tol)
	for l := range m.Layers {
		assertClose(t, "hidden_states[l+1]", a.Layers[l].Out[:len(last)], flat3(ref.HiddenStates[l+1]), tol)
	}
	assertClose(t, "last_hidden_state", last, flat3(ref.LastHiddenState), tol)
	H := m.Config.HiddenSize
	pooled := make([]float32, b.B*H)
	Pool(pooled, last, b.Mask, b.B, b.T, H, PoolMean, false)
	assertClose(t, "mean_pooled", pooled, flat2(ref.MeanPooled), tol)
	Pool(pooled, last, b.Mask, b.B, b.T, H, PoolMean, true)
	assertClose(t, "mean_pooled_l2norm", pooled, flat2(ref.MeanPooledL2), tol)
	Pool(pooled, last, b.Mask, b.B, b.T, H, PoolCLS, false)
	assertClose(t, "cls", pooled, flat2(ref.CLS), tol)
	if err := m.PoolerForward(pooled, last, b.B, b.T); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "pooler_output", pooled, flat2(ref.PoolerOutput), tol)

	// Inference activations (shared layer buffers) give the same result.
	a2 := m.NewActivations(b.B+2, b.T+3, false, false)
	last2, err := m.Forward(a2, b, ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range last {
		if last[i] != last2[i] {
			t.Fatalf("inference activations differ at %d: %g vs %g", i, last2[i], last[i])
		}
	}
}

func TestTinyBertParity(t *testing.T) {
	dir, ref, b := loadTinyRef(t)
	m := loadTinyDirect(t, dir)
	checkParity(t, m, ref, b)
}

func TestFromTensorsErrors(t *testing.T) {
	dir, _, _ := loadTinyRef(t)
	cfg, err := checkpoint.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() map[string]*checkpoint.Tensor {
		ts, err := checkpoint.ReadSafetensors(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	ts := fresh()
	delete(ts, "encoder.layer.1.attention.self.key.bias")
	if _, err := FromTensors(cfg, ts); !errors.Is(err, checkpoint.ErrTensorMismatch) || !contains(err.Error(), "encoder.layer.1.attention.self.key.bias") {
		t.Errorf("missing tensor: got %v", err)
	}
	ts = fresh()
	ts["encoder.layer.2.output.dense.bias"] = &checkpoint.Tensor{Name: "x", Shape: []int{32}, Data: make([]float32, 32)}
	if _, err := FromTensors(cfg, ts); !errors.Is(err, checkpoint.ErrTensorMismatch) || !contains(err.Error(), "encoder.layer.2.output.dense.bias") {
		t.Errorf("extra tensor: got %v", err)
	}
	ts = fresh()
	ts["embeddings.LayerNorm.weight"] = &checkpoint.Tensor{Name: "x", Shape: []int{31}, Data: make([]float32, 31)}
	if _, err := FromTensors(cfg, ts); !errors.Is(err, checkpoint.ErrTensorMismatch) || !contains(err.Error(), "embeddings.LayerNorm.weight") {
		t.Errorf("misshapen tensor: got %v", err)
	}
	ts = fresh()
	delete(ts, "pooler.dense.weight")
	delete(ts, "pooler.dense.bias")
	m, err := FromTensors(cfg, ts)
	if err != nil || m.HasPooler() {
		t.Errorf("without pooler: %v, pooler %v", err, m != nil && m.HasPooler())
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

func TestParamsLayout(t *testing.T) {
	cfg := checkpoint.DefaultBertConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize, cfg.MaxPositionEmbeddings = 50, 8, 2, 2, 12, 16
	m, err := NewRandom(cfg, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	ps := m.Params()
	off := 0
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name] {
			t.Fatalf("duplicate parameter %q", p.Name)
		}
		seen[p.Name] = true
		if len(p.Data) != prod(p.Shape) {
			t.Fatalf("%s: %d values for shape %v", p.Name, len(p.Data), p.Shape)
		}
		if &p.Data[0] != &m.Flat()[off] {
			t.Fatalf("%s does not start at flat offset %d", p.Name, off)
		}
		off += len(p.Data)
	}
	if off != len(m.Flat()) || m.EncoderParams() != off-8*8-8 {
		t.Fatalf("params cover %d of %d floats (encoder %d)", off, len(m.Flat()), m.EncoderParams())
	}
	// 5 embedding tensors, 16 per layer, 2 pooler.
	if len(ps) != 5+16*2+2 {
		t.Fatalf("%d params", len(ps))
	}
	q, _ := m.Param("encoder.layer.1.attention.self.key.weight")
	if &q.Data[0] != &m.Layers[1].QKVW[8*8] {
		t.Fatal("key weight is not the second block of QKVW")
	}
	// HF init: LayerNorm 1/0, biases 0, weights with std 0.02, pad row 0.
	for _, p := range ps {
		var s, s2 float64
		for _, v := range p.Data {
			s += float64(v)
			s2 += float64(v) * float64(v)
		}
		n := float64(len(p.Data))
		switch {
		case contains(p.Name, "LayerNorm.weight"):
			if s != n || s2 != n {
				t.Errorf("%s not all ones", p.Name)
			}
		case contains(p.Name, ".bias"):
			if s2 != 0 {
				t.Errorf("%s not zero", p.Name)
			}
		default:
			if std := math.Sqrt(s2 / n); std < 0.012 || std > 0.028 {
				t.Errorf("%s std %g, want about 0.02", p.Name, std)
			}
		}
	}
	for _, v := range m.WordEmb[:8] {
		if v != 0 {
			t.Fatal("padding row of the word embeddings is not zero")
		}
	}
	m2, _ := NewRandom(cfg, 1, true)
	m3, _ := NewRandom(cfg, 2, true)
	if m2.Flat()[100] != m.Flat()[100] || m3.Flat()[100] == m.Flat()[100] {
		t.Fatal("NewRandom is not determined by its seed")
	}
	g := m.ZeroLike()
	if len(g.Flat()) != len(m.Flat()) || len(g.Params()) != len(ps) {
		t.Fatal("ZeroLike layout differs")
	}
}

// TestForwardTrainDropout checks that a training forward with dropout
// probability 0 equals inference, and with dropout is seeded.
func TestForwardTrainDropout(t *testing.T) {
	dir, _, b := loadTinyRef(t)
	m := loadTinyDirect(t, dir)
	a := m.NewActivations(b.B, b.T, true, true)
	o1, err := m.Forward(a, b, ForwardOptions{Train: true, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	o1 = append([]float32(nil), o1...)
	o2, _ := m.Forward(a, b, ForwardOptions{Train: true, Seed: 5})
	o3, _ := m.Forward(m.NewActivations(b.B, b.T, false, false), b, ForwardOptions{})
	same, diff := true, false
	for i := range o1 {
		same = same && o1[i] == o2[i]
		diff = diff || o1[i] != o3[i]
	}
	if !same || !diff {
		t.Fatalf("dropout forward: same seed equal %v, differs from inference %v", same, diff)
	}
	_ = nn.DropoutMask
}

// TestLoadRoundTrip writes the tiny model as pytorch_model.bin and as an
// HF folder (safetensors), loads both back through Load and checks the
// fixture outputs again.
func TestLoadRoundTrip(t *testing.T) {
	dir, ref, b := loadTinyRef(t)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkParity(t, m, ref, b)

	bin := t.TempDir()
	if err := checkpoint.WriteTorchBin(filepath.Join(bin, checkpoint.TorchBinFile), m.Tensors()); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.WriteConfig(filepath.Join(bin, checkpoint.ConfigFile), m.Config); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !m2.HasPooler() {
		t.Fatal("pooler lost in pytorch_model.bin round trip")
	}
	checkParity(t, m2, ref, b)

	hf := filepath.Join(t.TempDir(), "model")
	if err := checkpoint.WriteHFDir(hf, m.Config, m.Tensors(), checkpoint.F32, filepath.Join(dir, "vocab.txt")); err != nil {
		t.Fatal(err)
	}
	e, err := Open(hf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkParity(t, e.Model(), ref, b)
	vecs, err := e.Encode(context.Background(), []string{"a short query", "", "[CLS] hello"})
	if err != nil || len(vecs) != 3*e.Dim() {
		t.Fatalf("Encode through the folder's tokenizer: %d values, %v", len(vecs), err)
	}

	// A truncated checkpoint is an error, not a panic.
	data, err := os.ReadFile(filepath.Join(bin, checkpoint.TorchBinFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, checkpoint.TorchBinFile), data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bin); err == nil {
		t.Fatal("truncated pytorch_model.bin loaded")
	}
}

// TestForwardChunkedFFN runs a batch of more than ffnChunkRows positions,
// whose FFN runs in row chunks without kept activations, and compares it
// with the kept (unchunked) pass.
func TestForwardChunkedFFN(t *testing.T) {
	dir, _, _ := loadTinyRef(t)
	m := loadTinyDirect(t, dir)
	B, T := 70, 64
	if B*T <= ffnChunkRows {
		t.Fatal("batch too small to exercise chunking")
	}
	b := RandomBatch(m.Config, B, T, 3)
	for i := 0; i < B; i++ {
		for j := 5 + i%50; j < T; j++ {
			b.Mask[i*T+j] = 0
			b.IDs[i*T+j] = 0
		}
	}
	kept, err := m.Forward(m.NewActivations(B, T, true, false), b, ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := m.NewActivations(B, T, false, false)
	if len(a.Layers[0].Inter) != ffnChunkRows*m.Config.IntermediateSize {
		t.Fatalf("inference Inter holds %d values", len(a.Layers[0].Inter))
	}
	chunked, err := m.Forward(a, b, ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range kept {
		worst = max(worst, math.Abs(float64(kept[i]-chunked[i])))
	}
	if worst > 1e-6 {
		t.Fatalf("chunked FFN differs by %g", worst)
	}
}
