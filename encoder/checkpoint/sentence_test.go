package checkpoint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteSentenceTransformers(t *testing.T) {
	dir := t.TempDir()
	if err := WriteSentenceTransformers(dir, 32, 64); err != nil {
		t.Fatal(err)
	}
	read := func(name string, v any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var mods []STModule
	read(STModulesFile, &mods)
	if len(mods) != 2 || mods[0].Type != STTransformerType || mods[0].Path != "" || mods[1].Type != STPoolingType || mods[1].Path != STPoolingDir {
		t.Errorf("modules %+v", mods)
	}
	var pool map[string]any
	read(filepath.Join(STPoolingDir, ConfigFile), &pool)
	on := 0
	for k, v := range pool {
		if v == true {
			on++
			if k != "pooling_mode_mean_tokens" {
				t.Errorf("%s on", k)
			}
		}
	}
	if on != 1 || pool["word_embedding_dimension"] != 32.0 {
		t.Errorf("pooling config %v", pool)
	}
	if _, ok := pool["include_prompt"]; ok {
		t.Error("include_prompt written (sentence-transformers before 2.6 refuses it)")
	}
	var tc map[string]any
	read(STTransformerConfigFile, &tc)
	if tc["max_seq_length"] != 64.0 || tc["do_lower_case"] != false {
		t.Errorf("sentence_bert_config %v", tc)
	}
	var sc map[string]any
	read(STConfigFile, &sc)
	if sc["similarity_fn_name"] != "dot" || sc["default_prompt_name"] != nil {
		t.Errorf("config_sentence_transformers %v", sc)
	}

	// Faults: the Pooling folder's name taken by a file; modules.json's
	// name taken by a folder.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, STPoolingDir), []byte("x"), 0o644)
	if err := WriteSentenceTransformers(bad, 32, 64); err == nil {
		t.Error("1_Pooling is a file: no error")
	}
	bad = t.TempDir()
	os.MkdirAll(filepath.Join(bad, STModulesFile, "x"), 0o755)
	if err := WriteSentenceTransformers(bad, 32, 64); err == nil {
		t.Error("modules.json is a folder: no error")
	}
	if err := WriteSentenceTransformers(t.TempDir(), 0, 64); err == nil {
		t.Error("hidden size 0: no error")
	}
}

// TestWriteSTPrompts: the prompts replace the file's, its similarity is
// kept; a missing folder and a folder in the file's place are errors.
func TestWriteSTPrompts(t *testing.T) {
	dir := t.TempDir()
	if err := WriteSentenceTransformers(dir, 32, 64); err != nil {
		t.Fatal(err)
	}
	if err := WriteSTPrompts(dir, map[string]string{"query": "query: ", "document": "passage: "}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, STConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var sc STConfig
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatal(err)
	}
	if sc.Prompts["query"] != "query: " || sc.Prompts["document"] != "passage: " || len(sc.Prompts) != 2 || sc.SimilarityFnName == nil || *sc.SimilarityFnName != "dot" || sc.DefaultPromptName != nil {
		t.Fatalf("config_sentence_transformers after WriteSTPrompts: %s", b)
	}
	os.WriteFile(filepath.Join(dir, STConfigFile), []byte(`{"similarity_fn_name": "cosine"}`), 0o644)
	if err := WriteSTPrompts(dir, nil); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, STConfigFile))
	sc = STConfig{}
	json.Unmarshal(b, &sc)
	if sc.SimilarityFnName == nil || *sc.SimilarityFnName != "cosine" || len(sc.Prompts) != 0 {
		t.Fatalf("similarity not kept: %s", b)
	}
	if err := WriteSTPrompts(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing folder: no error")
	}
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, STConfigFile, "x"), 0o755)
	if err := WriteSTPrompts(bad, map[string]string{"query": "q"}); err == nil {
		t.Error("config_sentence_transformers.json is a folder: no error")
	}
}
