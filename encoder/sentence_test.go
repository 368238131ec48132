package encoder

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/fixture"
)

// stFolder builds a sentence-transformers folder in a temporary directory
// from the tiny-bert fixture: the model files go into sub (the Transformer
// module's path, "" for the folder itself) and files maps paths to
// contents (nil entries are left out).
func stFolder(t *testing.T, sub string, files map[string]string) string {
	t.Helper()
	src := fixture.Shared(t, "fixtures", "tiny-bert")
	dir := t.TempDir()
	md := filepath.Join(dir, sub)
	if err := os.MkdirAll(md, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config.json", "model.safetensors", "vocab.txt"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(md, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, content := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func modulesJSON(sub string, normalize bool) string {
	s := `[{"idx": 0, "name": "0", "path": "` + sub + `", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}`
	if normalize {
		s += `,
 {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}`
	}
	return s + "]"
}

func poolingJSON(mode string, includePrompt bool) string {
	m := map[string]any{"word_embedding_dimension": 32, "include_prompt": includePrompt}
	for _, k := range []string{"cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken"} {
		m["pooling_mode_"+k] = k == mode
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// refEmbed computes what sentence-transformers gives for one text,
// independently of Encoder's batching, padding and pooling code: the
// forward pass of the text alone (B = 1, no padding), then the pooling by
// hand over positions skip.. (cls: position 0), then the L2 norm.
func refEmbed(t *testing.T, m *Model, ids []int32, mode string, skip int, normalize bool) []float64 {
	t.Helper()
	T, H := len(ids), m.Config.HiddenSize
	acts := m.NewActivations(1, T, false, false)
	mask := make([]int32, T)
	for i := range mask {
		mask[i] = 1
	}
	last, err := m.Forward(acts, &Batch{B: 1, T: T, IDs: ids, Mask: mask}, ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, H)
	switch mode {
	case "cls_token":
		for i := range out {
			out[i] = float64(last[i])
		}
	case "max_tokens":
		for i := range out {
			out[i] = -1e9
			for p := skip; p < T; p++ {
				out[i] = math.Max(out[i], float64(last[p*H+i]))
			}
		}
	default:
		n := float64(T - skip)
		d := n
		if mode == "mean_sqrt_len_tokens" {
			d = math.Sqrt(n)
		}
		for i := range out {
			var s float64
			for p := skip; p < T; p++ {
				s += float64(last[p*H+i])
			}
			out[i] = s / d
		}
	}
	if normalize {
		var s float64
		for _, v := range out {
			s += v * v
		}
		for i := range out {
			out[i] /= math.Sqrt(s)
		}
	}
	return out
}

var stTexts = []string{
	"Dense retrieval with contrastive learning",
	"a",
	"the encoder maps every text to one vector, and the longest of these texts is cut at the maximum length of the folder",
	"BM25 and dense scores are fused",
}

func TestSentenceTransformersPoolings(t *testing.T) {
	for _, tc := range []struct {
		name, sub, mode     string
		normalize, inclPrmt bool
		maxSeq              int
		v5                  bool // sentence-transformers 5's module type names
		prompt              *string
	}{
		{name: "mean", mode: "mean_tokens", inclPrmt: true, maxSeq: 64},
		{name: "mean-normalize-no-prompt-tokens-short", sub: "0_Transformer", mode: "mean_tokens", normalize: true, maxSeq: 12, prompt: ptr("query: ")},
		{name: "max", mode: "max_tokens", inclPrmt: true, maxSeq: 64, prompt: ptr("passage: ")},
		{name: "max-normalize-no-prompt-tokens", mode: "max_tokens", normalize: true, maxSeq: 64, prompt: ptr("query: ")},
		{name: "mean_sqrt_len", sub: "0_Transformer", mode: "mean_sqrt_len_tokens", inclPrmt: true, maxSeq: 20},
		{name: "mean_sqrt_len-normalize-no-prompt-tokens", mode: "mean_sqrt_len_tokens", normalize: true, maxSeq: 64, prompt: ptr("search query: ")},
		{name: "cls-no-prompt-tokens", mode: "cls_token", normalize: true, maxSeq: 16, prompt: ptr("query: ")},
		{name: "v5-module-names", mode: "mean_tokens", normalize: true, inclPrmt: true, maxSeq: 64, prompt: ptr("query: "), v5: true},
		{name: "empty-prompt-no-prompt-tokens", mode: "mean_tokens", maxSeq: 64, prompt: ptr("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{
				"modules.json":                                     modulesJSON(tc.sub, tc.normalize),
				"1_Pooling/config.json":                            poolingJSON(tc.mode, tc.inclPrmt),
				"config_sentence_transformers.json":                `{"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": null, "similarity_fn_name": "cosine"}`,
				filepath.Join(tc.sub, "sentence_bert_config.json"): `{"max_seq_length": ` + itoa(tc.maxSeq) + `, "do_lower_case": false}`,
			}
			if tc.v5 {
				r := strings.NewReplacer("sentence_transformers.models.Transformer", "sentence_transformers.base.modules.transformer.Transformer",
					"sentence_transformers.models.Pooling", "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
					"sentence_transformers.models.Normalize", "sentence_transformers.sentence_transformer.modules.normalize.Normalize")
				files["modules.json"] = r.Replace(files["modules.json"])
			}
			dir := stFolder(t, tc.sub, files)
			f, err := ReadFolder(dir)
			if err != nil {
				t.Fatal(err)
			}
			c := f.Conventions
			if !f.SentenceTransformers || c.Normalize != tc.normalize || c.IncludePrompt != tc.inclPrmt || c.MaxLength != tc.maxSeq || c.Similarity != SimCosine ||
				c.QueryPrompt == nil || *c.QueryPrompt != "query: " || c.DocPrompt == nil || *c.DocPrompt != "passage: " {
				t.Fatalf("conventions %s", c)
			}
			enc, err := f.Open(2)
			if err != nil {
				t.Fatal(err)
			}
			got, err := enc.Embed(context.Background(), stTexts, tc.prompt)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := wordpiece.Load(f.ModelDir)
			if err != nil {
				t.Fatal(err)
			}
			skip := 0
			if tc.prompt != nil && !tc.inclPrmt {
				skip = len(tok.Encode(*tc.prompt, 0).IDs) - 1 // [CLS] + the prompt's tokens
			}
			H := enc.Dim()
			for i, text := range stTexts {
				if tc.prompt != nil {
					text = *tc.prompt + text
				}
				ids := tok.Encode(text, tc.maxSeq).IDs
				if len(ids) > tc.maxSeq || ids[len(ids)-1] != tok.SEP() {
					t.Fatalf("reference ids %v", ids)
				}
				want := refEmbed(t, enc.Model(), ids, tc.mode, skip, tc.normalize)
				for j, w := range want {
					if d := math.Abs(float64(got[i*H+j]) - w); d > 2e-5*math.Max(1, math.Abs(w)) {
						t.Fatalf("text %d dim %d: got %g, want %g", i, j, got[i*H+j], w)
					}
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSentenceTransformersErrors(t *testing.T) {
	good := map[string]string{
		"modules.json":          modulesJSON("", true),
		"1_Pooling/config.json": poolingJSON("mean_tokens", true),
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  error
		text  string
	}{
		{"dense module", with("modules.json", strings.Replace(modulesJSON("", true), "models.Normalize", "models.Dense", 1)), ErrUnsupportedModule, "models.Dense"},
		{"no pooling", with("modules.json", `[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"}]`), ErrUnsupportedModule, "no Pooling"},
		{"foreign module", with("modules.json", `[{"idx":0,"name":"0","path":"","type":"my_package.Encoder"}]`), ErrUnsupportedModule, "my_package.Encoder"},
		{"path escapes", with("modules.json", strings.Replace(modulesJSON("", false), `"1_Pooling"`, `"../1_Pooling"`, 1)), ErrInvalidFolder, "leaves the folder"},
		{"weightedmean", with("1_Pooling/config.json", poolingJSON("weightedmean_tokens", true)), ErrUnsupportedPooling, "pooling_mode_weightedmean_tokens"},
		{"lasttoken", with("1_Pooling/config.json", poolingJSON("lasttoken", true)), ErrUnsupportedPooling, "pooling_mode_lasttoken"},
		{"two modes", with("1_Pooling/config.json", `{"word_embedding_dimension": 32, "pooling_mode_cls_token": true}`), ErrUnsupportedPooling, "several modes"},
		{"pooling_mode string", with("1_Pooling/config.json", `{"word_embedding_dimension": 32, "pooling_mode": "attention"}`), ErrUnsupportedPooling, "attention"},
		{"new pooling flag", with("1_Pooling/config.json", `{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": false, "pooling_mode_sparse": true}`), ErrUnsupportedPooling, "pooling_mode_sparse"},
		{"dimension", with("1_Pooling/config.json", `{"word_embedding_dimension": 384}`), ErrInvalidFolder, "word_embedding_dimension 384"},
		{"euclidean", with("config_sentence_transformers.json", `{"similarity_fn_name": "euclidean"}`), ErrUnsupportedSimilarity, "euclidean"},
		{"default prompt", with("config_sentence_transformers.json", `{"prompts": {"query": "q: "}, "default_prompt_name": "doc"}`), ErrUnknownPrompt, "doc"},
		{"prompts type", with("config_sentence_transformers.json", `{"prompts": ["q: "]}`), ErrInvalidFolder, "prompts"},
		{"max_seq_length", with("sentence_bert_config.json", `{"max_seq_length": 1}`), ErrInvalidFolder, "max_seq_length"},
		{"bad JSON", with("modules.json", `[{"type": `), ErrInvalidFolder, "modules.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := stFolder(t, "", tc.files)
			_, err := ReadFolder(dir)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %v, want %v naming %q", err, tc.want, tc.text)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %v does not name the folder", err)
			}
		})
	}
	// A model that is not BERT, with and without the ST files.
	for _, files := range []map[string]string{good, nil} {
		dir := stFolder(t, "", files)
		cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		cfg = []byte(strings.Replace(string(cfg), `"model_type": "bert"`, `"model_type": "xlm-roberta"`, 1))
		if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFolder(dir)
		if !errors.Is(err, ErrUnsupportedModel) || !strings.Contains(err.Error(), "xlm-roberta") {
			t.Errorf("non-BERT model: error %v", err)
		}
		if _, err := Open(dir, Options{}); !errors.Is(err, ErrUnsupportedModel) {
			t.Errorf("non-BERT model through Open: error %v", err)
		}
	}
}

// TestSentenceTransformersPlainHF checks that a folder without modules.json
// keeps Contriever's conventions and embeds exactly as Open with default
// options.
func TestSentenceTransformersPlainHF(t *testing.T) {
	dir := stFolder(t, "", nil)
	f, err := ReadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConventions()
	want.MaxLength = 64 // max_position_embeddings of tiny-bert
	if f.SentenceTransformers || f.Conventions.String() != want.String() {
		t.Fatalf("conventions %s, want %s", f.Conventions, want)
	}
	checkSameVectors(t, dir, Options{})
}

// checkSameVectors checks that OpenFolder(dir) embeds stTexts (no prompt)
// exactly as Open(dir, opts).
func checkSameVectors(t *testing.T, dir string, opts Options) {
	t.Helper()
	a, err := OpenFolder(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	va, err := a.Embed(context.Background(), stTexts, nil)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.Encode(context.Background(), stTexts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(va, vb) {
		t.Error("vectors differ")
	}
}

// TestSentenceTransformersRoundTrip checks that the folders this project
// writes (checkpoint.WriteHFDir, used by train and finetune) carry the
// sentence-transformers files of Contriever's conventions, and that
// reading them back gives those conventions and the same vectors.
func TestSentenceTransformersRoundTrip(t *testing.T) {
	src := fixture.Shared(t, "fixtures", "tiny-bert")
	m, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := checkpoint.WriteHFDir(dir, m.Config, m.Tensors(), checkpoint.F32, filepath.Join(src, "vocab.txt")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("WriteHFDir did not write %s: %v", name, err)
		}
	}
	f, err := ReadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Conventions{Pooling: PoolMean, IncludePrompt: true, MaxLength: 64, Similarity: SimDot, Prompts: map[string]string{}}
	want.resolvePrompts()
	if !f.SentenceTransformers || f.Conventions.String() != want.String() {
		t.Fatalf("conventions %s, want %s", f.Conventions, want)
	}
	checkSameVectors(t, dir, Options{})
	// The JSON form parses back to the same conventions.
	c2, err := ParseConventions([]byte(f.Conventions.String()))
	if err != nil || c2.String() != f.Conventions.String() {
		t.Fatalf("ParseConventions: %v, %s", err, c2)
	}
}

func TestConventionsString(t *testing.T) {
	c := DefaultConventions()
	if got := c.String(); got != `{"pooling":"mean","include_prompt":true,"normalize":false,"max_length":512,"do_lower_case":false,"similarity":"dot","query_prompt":null,"doc_prompt":null}` {
		t.Errorf("String %s", got)
	}
	c.Prompts = map[string]string{"query": "q: ", "document": "d: ", "a": ""}
	c.DefaultPromptName = "a"
	c.resolvePrompts()
	if *c.QueryPrompt != "q: " || *c.DocPrompt != "d: " {
		t.Errorf("prompts %s", c)
	}
	c.Prompts = map[string]string{"a": "x "}
	c.resolvePrompts()
	if *c.QueryPrompt != "x " || *c.DocPrompt != "x " {
		t.Errorf("default prompt not applied: %s", c)
	}
	c2, err := ParseConventions([]byte(c.String()))
	if err != nil || c2.String() != c.String() {
		t.Errorf("round trip: %v %s", err, c2)
	}
	for _, bad := range []string{`{"pooling":"weightedmean"}`, `{"pooling":"mean","similarity":"euclidean","max_length":512}`, `{"pooling":"mean","similarity":"dot","max_length":1}`, `{"extra":1}`} {
		if _, err := ParseConventions([]byte(bad)); err == nil {
			t.Errorf("ParseConventions(%s) accepted", bad)
		}
	}
}

// FuzzSentenceTransformersFiles runs the parsers of modules.json, the
// Pooling config, sentence_bert_config.json,
// config_sentence_transformers.json and the conventions' JSON form on the
// same input: no panic, and what they accept is in range.
func FuzzSentenceTransformersFiles(f *testing.F) {
	f.Add([]byte(modulesJSON("", true)))
	f.Add([]byte(poolingJSON("cls_token", false)))
	f.Add([]byte(`{"word_embedding_dimension": 8, "pooling_mode": "max"}`))
	f.Add([]byte(`{"max_seq_length": 256, "do_lower_case": true}`))
	f.Add([]byte(`{"prompts": {"query": "q: "}, "default_prompt_name": "query", "similarity_fn_name": "dot"}`))
	f.Add([]byte(DefaultConventions().String()))
	f.Add([]byte(`[{"type": "sentence_transformers.models.Transformer", "path": ".."}, null]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if mods, err := ParseModules(data); err == nil {
			if len(mods) == 0 || len(mods) > maxModules {
				t.Fatalf("%d modules", len(mods))
			}
			if l, err := checkLayout(mods); err == nil && (strings.Contains(l.pooling, "..") || strings.Contains(l.transformer, "..") || l.pooling == "") {
				t.Fatalf("layout %+v", l)
			}
		}
		if pc, err := ParsePoolingConfig(data); err == nil && (!pc.Pooling.valid() || pc.Dim == 0) {
			t.Fatalf("pooling config %+v", pc)
		}
		if tc, err := ParseTransformerConfig(data); err == nil && (tc.MaxSeqLength != 0 && tc.MaxSeqLength < 2) {
			t.Fatalf("transformer config %+v", tc)
		}
		if sc, err := ParseSTConfig(data); err == nil {
			if sc.Similarity != "" && sc.Similarity != SimDot && sc.Similarity != SimCosine {
				t.Fatalf("similarity %q", sc.Similarity)
			}
			if _, ok := sc.Prompts[sc.DefaultPromptName]; sc.DefaultPromptName != "" && !ok {
				t.Fatalf("default prompt %q not in prompts", sc.DefaultPromptName)
			}
		}
		if c, err := ParseConventions(data); err == nil {
			c2, err := ParseConventions([]byte(c.String()))
			if err != nil || c2.String() != c.String() {
				t.Fatalf("round trip of %s: %v", c, err)
			}
		}
	})
}

// TestBundledModelConventions: the bundled model folder carries the
// sentence-transformers files of Contriever's conventions.
func TestBundledModelConventions(t *testing.T) {
	f, err := ReadFolder(fixture.Repo(t, "models", "contriever-small-scifact"))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Conventions
	if !f.SentenceTransformers || c.Pooling != PoolMean || c.Normalize || c.Similarity != SimDot || c.MaxLength != 512 || c.QueryPrompt != nil || c.DocPrompt != nil {
		t.Fatalf("conventions %s", c)
	}
}
