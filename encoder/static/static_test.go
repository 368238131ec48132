package static

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/fixture"
)

func testTokenizer(t *testing.T) *wordpiece.Tokenizer {
	t.Helper()
	tok, err := wordpiece.Load(fixture.Repo(t, "data", "vocab", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func randomModel(t *testing.T, dim int) *Model {
	t.Helper()
	tok := testTokenizer(t)
	rng := rand.New(rand.NewPCG(1, 1))
	w := make([]float32, tok.VocabSize()*dim)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	m, err := New(tok, w, dim)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var texts = []string{
	"Protein folding determines function.",
	"Naïve café résumé — ΟΔΟΣ 東京 [SEP] hello[MASK]world",
	"",
	"   ",
	"BRCA1 mutations increase breast-cancer risk by 45%.",
}

// TestTokenizerJSON checks that the written tokenizer.json reads back as
// the tokenizer it was written from.
func TestTokenizerJSON(t *testing.T) {
	tok := testTokenizer(t)
	data, err := TokenizerJSON(tok)
	if err != nil {
		t.Fatal(err)
	}
	var probe map[string]any
	if err := json.Unmarshal(data, &probe); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	back, err := wordpiece.FromTokenizerJSON(data, false)
	if err != nil {
		t.Fatal(err)
	}
	if back.VocabSize() != tok.VocabSize() || back.CLS() != tok.CLS() || back.SEP() != tok.SEP() || back.UNK() != tok.UNK() {
		t.Fatal("special tokens or vocabulary size differ")
	}
	for _, s := range texts {
		if a, b := tok.Tokenize(s), back.Tokenize(s); !slices.Equal(a, b) {
			t.Errorf("%q: %v, read back %v", s, a, b)
		}
	}
	// The shared HF file tokenises the same way.
	hf, err := wordpiece.Load(fixture.Shared(t, "data", "vocab", "bert-base-uncased-tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range texts {
		if a, b := hf.Tokenize(s), back.Tokenize(s); !slices.Equal(a, b) {
			t.Errorf("%q: HF file %v, ours %v", s, a, b)
		}
	}
}

func TestSaveLoadEmbed(t *testing.T) {
	m := randomModel(t, 6)
	dir := filepath.Join(t.TempDir(), "model")
	if err := Save(dir, m, "# card\n"); err != nil {
		t.Fatal(err)
	}
	if !IsModel(dir) {
		t.Fatal("IsModel false on a saved folder")
	}
	for _, p := range []string{"modules.json", "config_sentence_transformers.json", "README.md", ModuleDir + "/model.safetensors", ModuleDir + "/tokenizer.json", NormalizeDir} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	ts, err := checkpoint.ReadSafetensors(filepath.Join(dir, ModuleDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if w := ts[WeightKey]; w == nil || !slices.Equal(w.Shape, []int{m.tok.VocabSize(), 6}) {
		t.Fatalf("%s missing or misshapen", WeightKey)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "config_sentence_transformers.json"))
	if json.Unmarshal(b, &cfg) != nil || cfg["similarity_fn_name"] != "cosine" {
		t.Errorf("config_sentence_transformers.json: %s", b)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.weight, m.weight) || got.Dim() != 6 {
		t.Fatal("weights differ after the round trip")
	}
	// The bare module folder loads too.
	if _, err := Load(filepath.Join(dir, ModuleDir)); err != nil {
		t.Errorf("module folder: %v", err)
	}
	// Embed: normalised mean of the token rows, in any batch.
	emb := got.Embed(texts)
	for i, s := range texts {
		ids := m.tok.Tokenize(s)
		want := make([]float64, 6)
		for _, id := range ids {
			for k := range want {
				want[k] += float64(m.weight[int(id)*6+k])
			}
		}
		var n float64
		for _, v := range want {
			n += v * v
		}
		for k := range want {
			if n > 0 {
				want[k] /= math.Sqrt(n)
			}
			if math.Abs(float64(emb[i*6+k])-want[k]) > 1e-5 {
				t.Fatalf("text %d dim %d: %g, want %g", i, k, emb[i*6+k], want[k])
			}
		}
	}
	// Saving again replaces the folder.
	m2 := randomModel(t, 4)
	if err := Save(dir, m2, "# card 2\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(dir); err != nil || got.Dim() != 4 {
		t.Fatalf("replaced folder: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 1 {
		t.Errorf("leftovers beside the folder: %v", ents)
	}
}

func TestLoadRejects(t *testing.T) {
	m := randomModel(t, 3)
	good := filepath.Join(t.TempDir(), "model")
	if err := Save(good, m, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNotStatic) {
		t.Errorf("empty folder: %v", err)
	}
	hf := t.TempDir() // an HF transformer folder is not static
	os.WriteFile(filepath.Join(hf, "config.json"), []byte(`{}`), 0o644)
	os.WriteFile(filepath.Join(hf, "model.safetensors"), nil, 0o644)
	os.WriteFile(filepath.Join(hf, "tokenizer.json"), nil, 0o644)
	if IsModel(hf) {
		t.Error("an HF model folder taken as static")
	}
	cases := map[string]func(dir string){
		"escaping path": func(dir string) {
			os.WriteFile(filepath.Join(dir, "modules.json"), []byte(`[{"idx":0,"name":"0","path":"../x","type":"`+ModuleType+`"}]`), 0o644)
		},
		"other module": func(dir string) {
			os.WriteFile(filepath.Join(dir, "modules.json"), []byte(`[{"idx":0,"name":"0","path":"0_StaticEmbedding","type":"`+ModuleType+`"},{"idx":1,"name":"1","path":"1_Dense","type":"sentence_transformers.models.Dense"}]`), 0o644)
		},
		"bad json": func(dir string) { os.WriteFile(filepath.Join(dir, "modules.json"), []byte(`[{`), 0o644) },
		"wrong rows": func(dir string) {
			t := &checkpoint.Tensor{Name: WeightKey, Shape: []int{10, 3}, Data: make([]float32, 30)}
			checkpoint.WriteSafetensors(filepath.Join(dir, ModuleDir, "model.safetensors"), []*checkpoint.Tensor{t}, checkpoint.F32, nil)
		},
		"no weight": func(dir string) {
			t := &checkpoint.Tensor{Name: "other", Shape: []int{1}, Data: make([]float32, 1)}
			checkpoint.WriteSafetensors(filepath.Join(dir, ModuleDir, "model.safetensors"), []*checkpoint.Tensor{t}, checkpoint.F32, nil)
		},
		"NaN": func(dir string) {
			w := slices.Clone(m.weight)
			w[7] = float32(math.NaN())
			t := &checkpoint.Tensor{Name: WeightKey, Shape: []int{len(w) / 3, 3}, Data: w}
			checkpoint.WriteSafetensors(filepath.Join(dir, ModuleDir, "model.safetensors"), []*checkpoint.Tensor{t}, checkpoint.F32, nil)
		},
		"truncated weights": func(dir string) {
			p := filepath.Join(dir, ModuleDir, "model.safetensors")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		},
		"no tokenizer": func(dir string) { os.Remove(filepath.Join(dir, ModuleDir, "tokenizer.json")) },
	}
	for name, spoil := range cases {
		dir := filepath.Join(t.TempDir(), "m")
		if err := Save(dir, m, ""); err != nil {
			t.Fatal(err)
		}
		spoil(dir)
		if _, err := Load(dir); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestSaveFaults fails each write of Save in turn and checks that the
// previous folder stays as it was and nothing is left beside it.
func TestSaveFaults(t *testing.T) {
	t.Run("symmetric", func(t *testing.T) { testSaveFaults(t, randomModel) })
	t.Run("asymmetric", func(t *testing.T) { testSaveFaults(t, asymmetricModel) })
}

func testSaveFaults(t *testing.T, randomModel func(*testing.T, int) *Model) {
	m := randomModel(t, 3)
	parent := t.TempDir()
	dir := filepath.Join(parent, "model")
	if err := Save(dir, m, "# old\n"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	beforeWrite = func(p string) error { seen = append(seen, filepath.Base(p)); return nil }
	if err := Save(filepath.Join(t.TempDir(), "probe"), m, ""); err != nil {
		t.Fatal(err)
	}
	defer func() { beforeWrite = nil }()
	if len(seen) < 5 {
		t.Fatalf("only %d writes seen: %v", len(seen), seen)
	}
	boom := errors.New("injected")
	for _, target := range seen {
		if target == "probe" {
			target = "model" // the final rename
		}
		beforeWrite = func(p string) error {
			if filepath.Base(p) == target {
				return boom
			}
			return nil
		}
		if err := Save(dir, randomModel(t, 4), "# new\n"); !errors.Is(err, boom) {
			t.Fatalf("fault at %s: %v", target, err)
		}
		got, err := Load(dir)
		if err != nil || got.Dim() != 3 {
			t.Fatalf("fault at %s: old folder damaged: %v", target, err)
		}
		if ents, _ := os.ReadDir(parent); len(ents) != 1 {
			t.Fatalf("fault at %s: leftovers %v", target, ents)
		}
	}
}
