package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/internal/fixture"
)

func tinyBert(t *testing.T) (string, *BertConfig, []*Tensor) {
	t.Helper()
	dir := fixture.Shared(t, "fixtures", "tiny-bert")
	cfg, ts, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	list := Sorted(ts)
	for i := 1; i < len(list); i++ {
		if list[i-1].Name >= list[i].Name {
			t.Fatalf("Sorted: %q before %q", list[i-1].Name, list[i].Name)
		}
	}
	return dir, cfg, list
}

func TestLoadDirFixture(t *testing.T) {
	_, cfg, list := tinyBert(t)
	want := map[string][]int{}
	for _, p := range cfg.Params() {
		want[p.Name] = p.Shape
	}
	for _, x := range list {
		if !sameShape(x.Shape, want[x.Name]) {
			t.Errorf("%s: shape %v, want %v", x.Name, x.Shape, want[x.Name])
		}
	}
	if len(want) != len(list) {
		t.Errorf("%d tensors, config lists %d", len(list), len(want))
	}
}

// writeDir writes a model folder with the fixture's config and the given
// tensors, as safetensors or as pytorch_model.bin.
func writeDir(t *testing.T, cfgSrc string, ts []*Tensor, torch bool) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(cfgSrc, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644)
	if torch {
		err = WriteTorchBin(filepath.Join(dir, TorchBinFile), ts)
	} else {
		err = WriteSafetensors(filepath.Join(dir, SafetensorsFile), ts, F32, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func renamed(ts []*Tensor, f func(string) string) []*Tensor {
	out := make([]*Tensor, len(ts))
	for i, x := range ts {
		out[i] = &Tensor{Name: f(x.Name), Shape: x.Shape, Data: x.Data}
	}
	return out
}

func TestLoadDirVariants(t *testing.T) {
	src, _, list := tinyBert(t)
	extra := func(name string, shape ...int) *Tensor {
		n, _ := numel(shape)
		return &Tensor{Name: name, Shape: shape, Data: make([]float32, n)}
	}
	cases := []struct {
		name  string
		ts    []*Tensor
		torch bool
	}{
		{"plain torch", list, true},
		{"bert prefix", append(renamed(list, func(s string) string { return "bert." + s }), extra("cls.predictions.bias", 1000)), false},
		{"bert prefix torch", renamed(list, func(s string) string { return "bert." + s }), true},
		{"module prefix", renamed(list, func(s string) string { return "module." + s }), false},
		{"model prefix", renamed(list, func(s string) string { return "model." + s }), false},
		{"gamma beta", renamed(list, func(s string) string {
			return strings.Replace(strings.Replace(s, "LayerNorm.weight", "LayerNorm.gamma", 1), "LayerNorm.bias", "LayerNorm.beta", 1)
		}), true},
		{"moco", append(append(renamed(list, func(s string) string { return "encoder_q." + s }),
			renamed(list, func(s string) string { return "encoder_k." + s })...), extra("queue", 32, 7), extra("queue_ptr", 1)), true},
		{"ddp moco", renamed(append(renamed(list, func(s string) string { return "encoder_q." + s }), extra("queue", 32, 7)),
			func(s string) string { return "module." + s }), false},
	}
	for _, c := range cases {
		dir := writeDir(t, src, c.ts, c.torch)
		_, got, err := LoadDir(dir)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		checkTensors(t, got, list, F32)
	}
}

func TestLoadDirErrors(t *testing.T) {
	src, _, list := tinyBert(t)
	drop := func(name string) []*Tensor {
		var out []*Tensor
		for _, x := range list {
			if x.Name != name {
				out = append(out, x)
			}
		}
		return out
	}
	reshaped := renamed(list, func(s string) string { return s })
	for _, x := range reshaped {
		if x.Name == "encoder.layer.1.intermediate.dense.weight" {
			x.Shape = []int{32, 64}
		}
	}
	cases := []struct {
		name string
		ts   []*Tensor
		want string
		is   error
	}{
		{"missing", drop("encoder.layer.1.output.dense.bias"), "missing encoder.layer.1.output.dense.bias [32]", ErrTensorMismatch},
		{"half pooler", drop("pooler.dense.bias"), "pooler", ErrTensorMismatch},
		{"misshapen", reshaped, "encoder.layer.1.intermediate.dense.weight has shape [32 64], want [64 32]", ErrTensorMismatch},
		{"extra", append(renamed(list, func(s string) string { return s }), &Tensor{Name: "encoder.layer.2.output.dense.bias", Shape: []int{1}, Data: []float32{1}}), "unexpected tensor encoder.layer.2.output.dense.bias", ErrTensorMismatch},
		{"ambiguous bert", append(renamed(list, func(s string) string { return s }), &Tensor{Name: "bert.pooler.dense.bias", Shape: []int{32}, Data: make([]float32, 32)}), `both "bert.pooler.dense.bias" and "pooler.dense.bias" map to "pooler.dense.bias"`, ErrAmbiguousNames},
		{"mixed model prefix", append(renamed(list, func(s string) string { return "model." + s }), &Tensor{Name: "other.weight", Shape: []int{1}, Data: []float32{1}}), `prefix "model."`, ErrAmbiguousNames},
	}
	for _, c := range cases {
		dir := writeDir(t, src, c.ts, false)
		_, _, err := LoadDir(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) || !strings.Contains(err.Error(), filepath.Join(dir, SafetensorsFile)) {
			t.Errorf("%s: error %v, want %q naming the file", c.name, err, c.want)
		}
	}
	// No weights at all.
	empty := t.TempDir()
	b, _ := os.ReadFile(filepath.Join(src, ConfigFile))
	os.WriteFile(filepath.Join(empty, ConfigFile), b, 0o644)
	if _, _, err := LoadDir(empty); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty folder: %v", err)
	}
	// No config.
	if _, _, err := LoadDir(t.TempDir()); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), ConfigFile) {
		t.Errorf("no config: %v", err)
	}
}

// TestLoadDirTorchGolden loads micro BERT checkpoints written by torch.save:
// a MoCo training state dict (query encoder taken, momentum encoder, queue
// and int64 buffers skipped) and an HF MLM-style F16 one ("bert." prefix,
// cls head, LayerNorm gamma/beta).
func TestLoadDirTorchGolden(t *testing.T) {
	for _, c := range []struct{ dir, prefix string }{{"moco", "encoder_q."}, {"hf_mlm", "bert."}} {
		dir := filepath.Join("testdata", c.dir)
		cfg, got, err := LoadDir(dir)
		if err != nil {
			t.Fatalf("%s: %v", c.dir, err)
		}
		if cfg.HiddenSize != 4 || len(got) != len(cfg.Params()) {
			t.Fatalf("%s: hidden %d, %d tensors", c.dir, cfg.HiddenSize, len(got))
		}
		idx, err := openTorchBin(filepath.Join(dir, TorchBinFile))
		if err != nil {
			t.Fatal(err)
		}
		defer idx.close()
		for name, x := range got {
			orig := c.prefix + name
			orig = strings.Replace(orig, "embeddings.LayerNorm.weight", "embeddings.LayerNorm.gamma", 1)
			if c.dir == "hf_mlm" {
				orig = strings.Replace(orig, "embeddings.LayerNorm.bias", "embeddings.LayerNorm.beta", 1)
			} else {
				orig = strings.Replace(orig, "LayerNorm.gamma", "LayerNorm.weight", 1)
			}
			raw, err := idx.load([]string{orig})
			if err != nil {
				t.Fatalf("%s: %v", c.dir, err)
			}
			raw[orig].Name = name
			checkTensors(t, map[string]*Tensor{name: raw[orig]}, []*Tensor{x}, F32)
		}
	}
}

func TestNormaliseNames(t *testing.T) {
	m, err := NormaliseNames([]string{"encoder_q.bert.embeddings.LayerNorm.gamma", "encoder_k.x", "queue", "queue_ptr", "encoder_q.embeddings.position_ids"})
	if err != nil || len(m) != 1 || m["embeddings.LayerNorm.weight"] != "encoder_q.bert.embeddings.LayerNorm.gamma" {
		t.Errorf("got %v, %v", m, err)
	}
	m, err = NormaliseNames([]string{"model.encoder_q.a", "model.encoder_k.a", "model.queue"})
	if err != nil || len(m) != 1 || m["a"] != "model.encoder_q.a" {
		t.Errorf("got %v, %v", m, err)
	}
	if _, err := NormaliseNames([]string{"bert.a", "a"}); !errors.Is(err, ErrAmbiguousNames) {
		t.Errorf("bert.a + a: %v", err)
	}
}

func TestWriteHFDir(t *testing.T) {
	src, cfg, list := tinyBert(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "model")
	vocab := filepath.Join(src, VocabFile)
	for i, dt := range []DType{F32, BF16} {
		if err := WriteHFDir(dir, cfg, list, dt, vocab); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "stale")); i > 0 && !os.IsNotExist(err) {
			t.Error("the old folder was not replaced")
		}
		cfg2, got, err := LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkTensors(t, got, list, dt)
		if a, b := mustJSON(cfg), mustJSON(cfg2); a != b {
			t.Errorf("config changed:\n%s\n%s", a, b)
		}
		v1, _ := os.ReadFile(vocab)
		v2, _ := os.ReadFile(filepath.Join(dir, VocabFile))
		if string(v1) != string(v2) {
			t.Error("vocab.txt not copied")
		}
		os.WriteFile(filepath.Join(dir, "stale"), []byte("x"), 0o644) // replaced next round
	}
	// A failing write leaves the existing folder untouched.
	before, _ := os.ReadFile(filepath.Join(dir, SafetensorsFile))
	err := WriteHFDir(dir, cfg, list[1:], F32, vocab)
	if !errors.Is(err, ErrTensorMismatch) {
		t.Errorf("incomplete tensors: %v", err)
	}
	err = WriteHFDir(dir, cfg, list, F32, filepath.Join(src, "no-such-vocab.txt"))
	if err == nil {
		t.Error("missing vocab: no error")
	}
	after, _ := os.ReadFile(filepath.Join(dir, SafetensorsFile))
	if string(before) != string(after) {
		t.Error("failed writes changed the folder")
	}
	ents, _ := os.ReadDir(parent)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("left behind: %v", names)
	}
}
