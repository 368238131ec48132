package static

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// asymmetricModel is randomModel with query vectors of their own.
func asymmetricModel(t *testing.T, dim int) *Model {
	t.Helper()
	m := randomModel(t, dim)
	rng := rand.New(rand.NewPCG(2, 2))
	q := make([]float32, len(m.Weight()))
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	a, err := NewAsymmetric(m.Tokenizer(), m.Weight(), q, dim)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAsymmetric saves and loads a model whose queries have their own
// vectors: the folder is a sentence-transformers Router over two
// StaticEmbedding modules, documents embed with the document vectors and
// queries with the query vectors, each exactly as a symmetric model of
// those vectors does.
func TestAsymmetric(t *testing.T) {
	m := asymmetricModel(t, 5)
	dir := filepath.Join(t.TempDir(), "asym")
	if err := Save(dir, m, "# card\n"); err != nil {
		t.Fatal(err)
	}
	var mods []moduleEntry
	data, _ := os.ReadFile(filepath.Join(dir, "modules.json"))
	if err := json.Unmarshal(data, &mods); err != nil || len(mods) != 2 || mods[0].Type != RouterType || mods[0].Path != "" || mods[1].Type != NormalizeType {
		t.Fatalf("modules.json: %s (%v)", data, err)
	}
	var rc routerConfig
	data, _ = os.ReadFile(filepath.Join(dir, RouterConfig))
	if err := json.Unmarshal(data, &rc); err != nil || !slices.Equal(rc.Structure["query"], []string{QueryModuleDir}) || !slices.Equal(rc.Structure["document"], []string{DocumentModuleDir}) || rc.Types[QueryModuleDir] != ModuleType {
		t.Fatalf("router_config.json: %s (%v)", data, err)
	}
	var cfg struct {
		Version map[string]string `json:"__version__"`
	}
	data, _ = os.ReadFile(filepath.Join(dir, "config_sentence_transformers.json"))
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.Version["sentence_transformers"] != "5.0.0" {
		t.Errorf("config_sentence_transformers.json: %s (%v); a Router needs sentence-transformers 5", data, err)
	}
	if !IsModel(dir) {
		t.Fatal("IsModel: false")
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Asymmetric() || !slices.Equal(got.Weight(), m.Weight()) || !slices.Equal(got.QueryWeight(), m.QueryWeight()) {
		t.Fatal("loaded model differs from the saved one")
	}
	docSide, _ := New(m.Tokenizer(), m.Weight(), 5)
	querySide, _ := New(m.Tokenizer(), m.QueryWeight(), 5)
	if !slices.Equal(got.Embed(texts), docSide.Embed(texts)) {
		t.Error("documents are not embedded with the document vectors")
	}
	if !slices.Equal(got.EmbedQueries(texts), querySide.Embed(texts)) {
		t.Error("queries are not embedded with the query vectors")
	}
	if slices.Equal(got.EmbedQueries(texts[:1]), got.Embed(texts[:1])) {
		t.Error("queries and documents embed alike")
	}
	ids := m.Tokenizer().AppendTokenize(nil, texts[0])
	a, b := make([]float32, 5), make([]float32, 5)
	got.EmbedQueryIDs(ids, a)
	querySide.EmbedIDs(ids, b)
	if !slices.Equal(a, b) {
		t.Error("EmbedQueryIDs differs from the query vectors' EmbedIDs")
	}
	// A symmetric model embeds queries as documents.
	if !slices.Equal(docSide.EmbedQueries(texts), docSide.Embed(texts)) || docSide.Asymmetric() {
		t.Error("a symmetric model's queries differ from its documents")
	}
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"config_sentence_transformers.json", DocumentModuleDir + "/model.safetensors", DocumentModuleDir + "/tokenizer.json", "modules.json", QueryModuleDir + "/model.safetensors", QueryModuleDir + "/tokenizer.json", RouterConfig}
	if !slices.Equal(files, want) {
		t.Errorf("Files: %v, want %v", files, want)
	}
	// Copying the files listed keeps the folder loadable (index does).
	cp := t.TempDir()
	for _, f := range files {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		os.MkdirAll(filepath.Dir(filepath.Join(cp, f)), 0o755)
		os.WriteFile(filepath.Join(cp, f), data, 0o644)
	}
	if c, err := Load(cp); err != nil || !slices.Equal(c.QueryWeight(), m.QueryWeight()) {
		t.Errorf("copy of the listed files: %v", err)
	}
	if _, err := NewAsymmetric(m.Tokenizer(), m.Weight(), m.Weight()[:10], 5); err == nil {
		t.Error("NewAsymmetric with query vectors of another shape: no error")
	}
}

// TestAsymmetricRejects checks that a broken Router folder fails to load
// with an error naming the problem.
func TestAsymmetricRejects(t *testing.T) {
	src := filepath.Join(t.TempDir(), "asym")
	if err := Save(src, asymmetricModel(t, 3), ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want string
		edit       func(dir string)
	}{
		{"no router config", "without router_config.json", func(dir string) { os.Remove(filepath.Join(dir, RouterConfig)) }},
		{"one route", "routes", func(dir string) {
			writeJSON(t, filepath.Join(dir, RouterConfig), map[string]any{"types": map[string]string{DocumentModuleDir: ModuleType}, "structure": map[string][]string{"document": {DocumentModuleDir}}})
		}},
		{"two modules on a route", "2 modules", func(dir string) {
			writeJSON(t, filepath.Join(dir, RouterConfig), map[string]any{"types": map[string]string{DocumentModuleDir: ModuleType, QueryModuleDir: ModuleType}, "structure": map[string][]string{"document": {DocumentModuleDir, QueryModuleDir}, "query": {QueryModuleDir}}})
		}},
		{"a transformer route", "want " + ModuleType, func(dir string) {
			writeJSON(t, filepath.Join(dir, RouterConfig), map[string]any{"types": map[string]string{DocumentModuleDir: ModuleType, QueryModuleDir: "sentence_transformers.models.Transformer"}, "structure": map[string][]string{"document": {DocumentModuleDir}, "query": {QueryModuleDir}}})
		}},
		{"a module outside", "not a folder name", func(dir string) {
			writeJSON(t, filepath.Join(dir, RouterConfig), map[string]any{"types": map[string]string{"../x": ModuleType, QueryModuleDir: ModuleType}, "structure": map[string][]string{"document": {"../x"}, "query": {QueryModuleDir}}})
		}},
		{"one module for both", "share module", func(dir string) {
			writeJSON(t, filepath.Join(dir, RouterConfig), map[string]any{"types": map[string]string{DocumentModuleDir: ModuleType}, "structure": map[string][]string{"document": {DocumentModuleDir}, "query": {DocumentModuleDir}}})
		}},
		{"another tokenizer", "share one tokenizer", func(dir string) {
			p := filepath.Join(dir, QueryModuleDir, "tokenizer.json")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(data), "[UNK]", "[UNX]", 1)), 0o644)
		}},
		{"query vectors of another dim", "dim", func(dir string) {
			other := filepath.Join(t.TempDir(), "wide")
			if err := Save(other, asymmetricModel(t, 4), ""); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(filepath.Join(other, QueryModuleDir, "model.safetensors"))
			os.WriteFile(filepath.Join(dir, QueryModuleDir, "model.safetensors"), data, 0o644)
		}},
		{"a huge router config", "larger than", func(dir string) {
			os.WriteFile(filepath.Join(dir, RouterConfig), make([]byte, maxConfig+2), 0o644)
		}},
	} {
		dir := filepath.Join(t.TempDir(), "m")
		copyDir(t, src, dir)
		c.edit(dir)
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (want an error with %q)", c.name, err, c.want)
		}
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzRouterConfig feeds arbitrary router_config.json files to a Router
// folder: an error or module folders inside the model folder, never a
// panic.
func FuzzRouterConfig(f *testing.F) {
	f.Add([]byte(`{"types":{"query_0_StaticEmbedding":"sentence_transformers.models.StaticEmbedding","document_0_StaticEmbedding":"sentence_transformers.models.StaticEmbedding"},"structure":{"query":["query_0_StaticEmbedding"],"document":["document_0_StaticEmbedding"]},"parameters":{}}`))
	f.Add([]byte(`{"types":{"..":"sentence_transformers.models.StaticEmbedding","a":"sentence_transformers.models.StaticEmbedding"},"structure":{"query":[".."],"document":["a"]}}`))
	f.Add([]byte(`{"structure":{"query":[],"document":null}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "modules.json"), []byte(`[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Router"}]`), 0o644)
		os.WriteFile(filepath.Join(dir, RouterConfig), data, 0o644)
		doc, query, err := moduleDirs(dir)
		if err != nil {
			return
		}
		for _, d := range []string{doc, query} {
			if rel, err := filepath.Rel(dir, d); err != nil || rel == "." || strings.HasPrefix(rel, "..") || strings.Contains(rel, string(filepath.Separator)) {
				t.Fatalf("module folder %q of %q", d, dir)
			}
		}
		Load(dir) // no weights: an error, not a panic
	})
}
