package checkpoint

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/internal/fixture"
)

func TestReadConfigFixture(t *testing.T) {
	c, err := ReadConfig(fixture.Shared(t, "fixtures", "tiny-bert", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := BertConfig{VocabSize: 1000, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 2,
		IntermediateSize: 64, MaxPositionEmbeddings: 64, TypeVocabSize: 2, HiddenAct: "gelu",
		LayerNormEps: 1e-12, HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1,
		InitializerRange: 0.02, PadTokenID: 0, PositionEmbeddingType: "absolute"}
	got := *c
	got.Extra = nil
	if gb, wb := mustJSON(&got), mustJSON(&want); gb != wb {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if string(c.Extra["torch_dtype"]) != `"float32"` || string(c.Extra["classifier_dropout"]) != "null" {
		t.Errorf("extra keys not kept: %v", c.Extra)
	}
	if c.HeadDim() != 16 {
		t.Errorf("HeadDim %d", c.HeadDim())
	}
}

func TestConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := fixture.Shared(t, "fixtures", "tiny-bert", "config.json")
	c, err := ReadConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "config.json")
	if err := WriteConfig(p, c); err != nil {
		t.Fatal(err)
	}
	c2, err := ReadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.MarshalJSON()
	b, _ := c2.MarshalJSON()
	if string(a) != string(b) {
		t.Errorf("round trip changed the config:\n%s\n%s", a, b)
	}
	// The written file has the same JSON values as HF's original.
	var orig, ours map[string]any
	ob, _ := os.ReadFile(src)
	wb, _ := os.ReadFile(p)
	json.Unmarshal(ob, &orig)
	json.Unmarshal(wb, &ours)
	for k, v := range orig {
		if vb, _ := json.Marshal(v); string(vb) != mustJSON(ours[k]) {
			t.Errorf("key %q: HF %s, ours %s", k, vb, mustJSON(ours[k]))
		}
	}
	if !strings.Contains(string(wb), `"layer_norm_eps": 1e-12`) || !strings.Contains(string(wb), `"hidden_dropout_prob": 0.1`) {
		t.Errorf("floats not written Python-style:\n%s", wb)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestConfigInvalid(t *testing.T) {
	dir := t.TempDir()
	base := `"vocab_size":100,"hidden_size":32,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":8,"max_position_embeddings":16`
	cases := []struct{ body, want string }{
		{`{` + base + `}`, ""},
		{`{` + base + `,"hidden_act":"relu"}`, `hidden_act "relu"`},
		{`{` + base + `,"hidden_act":"gelu_new"}`, `hidden_act "gelu_new"`},
		{strings.Replace(`{`+base+`}`, `"num_attention_heads":2`, `"num_attention_heads":3`, 1), "not divisible"},
		{strings.Replace(`{`+base+`}`, `"hidden_size":32`, `"hidden_size":0`, 1), "hidden_size must be positive"},
		{strings.Replace(`{`+base+`}`, `"vocab_size":100,`, ``, 1), `missing "vocab_size"`},
		{`{` + base + `,"hidden_size":"32"}`, `duplicate key "hidden_size"`},
		{strings.Replace(`{`+base+`}`, `"hidden_size":32`, `"hidden_size":"32"`, 1), `"hidden_size"`},
		{`{` + base + `,"layer_norm_eps":0}`, "layer_norm_eps"},
		{`{` + base + `,"pad_token_id":100}`, "pad_token_id"},
		{`{` + base + `,"position_embedding_type":"relative_key"}`, "position_embedding_type"},
		{`{` + base + `,"model_type":"roberta"}`, "model_type"},
		{`{` + base + `,"hidden_dropout_prob":1.5}`, "hidden_dropout_prob"},
		{`{` + base, "invalid config"},
		{``, "invalid config"},
	}
	for i, c := range cases {
		p := filepath.Join(dir, "config.json")
		os.WriteFile(p, []byte(c.body), 0o644)
		_, err := ReadConfig(p)
		if c.want == "" {
			if err != nil {
				t.Errorf("case %d: %v", i, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("case %d: error %v, want one naming %q and the file", i, err, c.want)
		}
	}
}

// FuzzParseConfig: any bytes as config.json give a validated config or an
// error, never a panic; a config that parses survives a round trip through
// MarshalJSON unchanged.
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile(fixture.Shared(f, "fixtures", "tiny-bert", "config.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"vocab_size": 10, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16}`))
	f.Add([]byte(`{"hidden_size": 5, "num_attention_heads": 2}`))
	f.Add([]byte(`{"vocab_size": -1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		b, err := c.MarshalJSON()
		if err != nil {
			t.Fatalf("marshal a parsed config: %v", err)
		}
		c2, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("re-parse %s: %v", b, err)
		}
		b2, _ := c2.MarshalJSON()
		if string(b) != string(b2) {
			t.Fatalf("round trip changed the config:\n%s\n%s", b, b2)
		}
	})
}
