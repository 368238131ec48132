package static

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/atomicfile"
)

// TokenizerJSON returns an HF tokenizer.json for tok: BertNormalizer,
// BertPreTokenizer, WordPiece model and [CLS] $A [SEP] template, with no
// truncation and no padding, which HF tokenizers and this project's
// wordpiece package read back as the same tokenizer.
func TokenizerJSON(tok *wordpiece.Tokenizer) ([]byte, error) {
	o := tok.Options()
	or := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	prefix := "##"
	if o.Prefix != nil {
		prefix = *o.Prefix
	}
	maxChars := o.MaxInputCharsPerWord
	if maxChars == 0 {
		maxChars = 100
	}
	cls, sep := tok.Token(tok.CLS()), tok.Token(tok.SEP())
	type addedJSON struct {
		ID         int32  `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	added := []addedJSON{}
	for _, a := range tok.AddedTokens() {
		added = append(added, addedJSON{ID: a.ID, Content: a.Content, LStrip: a.LStrip, RStrip: a.RStrip, Normalized: a.Normalized, Special: a.Special})
	}
	special := func(name string, typ int) map[string]any {
		return map[string]any{"SpecialToken": map[string]any{"id": name, "type_id": typ}}
	}
	seq := func(id string, typ int) map[string]any {
		return map[string]any{"Sequence": map[string]any{"id": id, "type_id": typ}}
	}
	head := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": added,
		"normalizer": map[string]any{"type": "BertNormalizer", "clean_text": o.CleanText, "handle_chinese_chars": o.HandleChineseChars,
			"strip_accents": o.StripAccents, "lowercase": o.Lowercase},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{special(cls, 0), seq("A", 0), special(sep, 0)},
			"pair":   []any{special(cls, 0), seq("A", 0), special(sep, 0), seq("B", 1), special(sep, 1)},
			"special_tokens": map[string]any{
				cls: map[string]any{"id": cls, "ids": []int32{tok.CLS()}, "tokens": []string{cls}},
				sep: map[string]any{"id": sep, "ids": []int32{tok.SEP()}, "tokens": []string{sep}},
			},
		},
		"decoder": map[string]any{"type": "WordPiece", "prefix": prefix, "cleanup": true},
	}
	var b bytes.Buffer
	hb, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	b.Write(hb[:len(hb)-1]) // reopen the object to append the model with its vocabulary in id order
	unk, _ := json.Marshal(or(tok.Token(tok.UNK()), "[UNK]"))
	pj, _ := json.Marshal(prefix)
	fmt.Fprintf(&b, `,"model":{"type":"WordPiece","unk_token":%s,"continuing_subword_prefix":%s,"max_input_chars_per_word":%d,"vocab":{`, unk, pj, maxChars)
	for i, t := range tok.Vocab() {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(t)
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString("}}}\n")
	return b.Bytes(), nil
}

// beforeWrite, when set (by tests), is called before each file Save
// writes; an error it returns fails the save there.
var beforeWrite func(path string) error

func checkWrite(path string) error {
	if beforeWrite != nil {
		return beforeWrite(path)
	}
	return nil
}

// Save writes m as a model folder at dir (see the package documentation)
// with card as its README.md. The folder is assembled beside dir and
// renamed into place, replacing an existing one only once complete.
func Save(dir string, m *Model, card string) error {
	return SaveDType(dir, m, card, checkpoint.F32)
}

// SaveDType is Save with the weights stored as dt (F32, F16 or BF16; the
// model in memory stays float32, and Load converts back).
func SaveDType(dir string, m *Model, card string, dt checkpoint.DType) (err error) {
	tj, err := TokenizerJSON(m.tok)
	if err != nil {
		return err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(tmp, NormalizeDir), 0o755); err != nil {
		return err
	}
	files := map[string][]byte{}
	// writeModule writes a StaticEmbedding module of the rows w in sub.
	writeModule := func(sub string, w []float32) error {
		mdir := filepath.Join(tmp, sub)
		if err := os.MkdirAll(mdir, 0o755); err != nil {
			return err
		}
		t := &checkpoint.Tensor{Name: WeightKey, Shape: []int{len(w) / m.dim, m.dim}, Data: w}
		if err := checkWrite(filepath.Join(mdir, "model.safetensors")); err != nil {
			return err
		}
		if err := checkpoint.WriteSafetensors(filepath.Join(mdir, "model.safetensors"), []*checkpoint.Tensor{t}, dt, map[string]string{"format": "pt"}); err != nil {
			return err
		}
		files[filepath.Join(mdir, "tokenizer.json")] = tj
		return nil
	}
	mods := []moduleEntry{{Idx: 0, Name: "0", Path: ModuleDir, Type: ModuleType}, {Idx: 1, Name: "1", Path: NormalizeDir, Type: NormalizeType}}
	if m.query == nil {
		if err := writeModule(ModuleDir, m.weight); err != nil {
			return err
		}
	} else {
		// A Router in the folder itself, routing queries and documents
		// each to its own StaticEmbedding, as sentence-transformers saves
		// Router.for_query_document.
		if err := writeModule(QueryModuleDir, m.query); err != nil {
			return err
		}
		if err := writeModule(DocumentModuleDir, m.weight); err != nil {
			return err
		}
		rc := map[string]any{
			"types":     map[string]string{QueryModuleDir: ModuleType, DocumentModuleDir: ModuleType},
			"structure": map[string][]string{"query": {QueryModuleDir}, "document": {DocumentModuleDir}},
			"parameters": map[string]any{
				"default_route": "document", "allow_empty_key": true, "route_mappings": map[string]string{},
			},
		}
		if files[filepath.Join(tmp, RouterConfig)], err = json.MarshalIndent(rc, "", "  "); err != nil {
			return err
		}
		mods[0] = moduleEntry{Idx: 0, Name: "0", Path: "", Type: RouterType}
	}
	if files[filepath.Join(tmp, "modules.json")], err = json.MarshalIndent(mods, "", "  "); err != nil {
		return err
	}
	stVersion := "3.3.0" // StaticEmbedding
	if m.query != nil {
		stVersion = "5.0.0" // Router came with sentence-transformers 5
	}
	cfg := map[string]any{
		"__version__":         map[string]string{"sentence_transformers": stVersion, "contriever_go": "static-1"},
		"prompts":             map[string]string{},
		"default_prompt_name": nil,
		"similarity_fn_name":  "cosine",
	}
	if files[filepath.Join(tmp, "config_sentence_transformers.json")], err = json.MarshalIndent(cfg, "", "  "); err != nil {
		return err
	}
	files[filepath.Join(tmp, "README.md")] = []byte(card)
	if m.Provenance != nil {
		if files[filepath.Join(tmp, ProvenanceFile)], err = json.MarshalIndent(m.Provenance, "", "  "); err != nil {
			return err
		}
	}
	for p, data := range files {
		if err := checkWrite(p); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(p, data); err != nil {
			return err
		}
	}
	// Swap the finished folder into place.
	if err := checkWrite(dir); err != nil {
		return err
	}
	var old string
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return err
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}
