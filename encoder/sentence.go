package encoder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/readlimit"
)

// Errors of reading a model folder's sentence-transformers layout, for
// callers to test with errors.Is. Every error returned also names the file
// and the field.
var (
	// ErrUnsupportedModule: modules.json lists a module the encoder does not
	// run (Dense, LayerNorm, WordWeights, ...), or a layout it cannot follow
	// (no Pooling, Normalize before Pooling, two Transformers).
	ErrUnsupportedModule = errors.New("unsupported sentence-transformers module")
	// ErrUnsupportedPooling: a pooling mode other than cls, mean, max and
	// mean_sqrt_len (weightedmean, lasttoken), or several at once.
	ErrUnsupportedPooling = errors.New("unsupported pooling mode")
	// ErrUnsupportedSimilarity: a similarity_fn_name other than cosine and
	// dot (euclidean, manhattan).
	ErrUnsupportedSimilarity = errors.New("unsupported similarity function")
	// ErrUnsupportedModel: config.json's model_type is not "bert" (RoBERTa,
	// XLM-R, ...). It is checkpoint.ErrUnsupportedModel.
	ErrUnsupportedModel = checkpoint.ErrUnsupportedModel
	// ErrUnknownPrompt: a prompt name the folder does not define.
	ErrUnknownPrompt = errors.New("unknown prompt name")
	// ErrInvalidFolder: a sentence-transformers file that is malformed (bad
	// JSON, a field of the wrong type or out of range, a path leaving the
	// folder).
	ErrInvalidFolder = errors.New("invalid sentence-transformers file")
)

// Similarity is the score of a query vector against a document vector.
type Similarity string

const (
	// SimDot is the inner product (Contriever).
	SimDot Similarity = "dot"
	// SimCosine is the cosine: the inner product of L2-normalised vectors.
	SimCosine Similarity = "cosine"
)

// Limits on the sentence-transformers files, checked before decoding.
const (
	maxSTFileBytes = 4 << 20
	maxModules     = 32
	maxPrompts     = 1024
	maxPromptBytes = 64 << 10
)

// Conventions are everything around the transformer that decides what
// vector a text gets and how vectors are compared: pooling, normalisation,
// truncation, lowercasing, prompts and similarity. A model folder states
// them in its sentence-transformers files (ReadFolder); a plain HF folder
// gets Contriever's (DefaultConventions). String gives a stable JSON form
// for index manifests and embedding cache keys.
type Conventions struct {
	// Pooling of the token states (sentence-transformers' Pooling module).
	Pooling Pooling `json:"pooling"`
	// IncludePrompt keeps a prompt's tokens (and [CLS]) in the pooling;
	// false leaves them out, as sentence-transformers' include_prompt.
	IncludePrompt bool `json:"include_prompt"`
	// Normalize L2-normalises each vector (a Normalize module).
	Normalize bool `json:"normalize"`
	// MaxLength truncates texts (prompt included) to this many tokens,
	// [CLS] and [SEP] included (max_seq_length).
	MaxLength int `json:"max_length"`
	// LowerCase lowercases texts before tokenising (do_lower_case of
	// sentence_bert_config.json; the uncased tokenizer lowercases anyway).
	LowerCase bool `json:"do_lower_case"`
	// Similarity compares vectors: dot or cosine (similarity_fn_name).
	Similarity Similarity `json:"similarity"`
	// Prompts are the folder's named prompts (config_sentence_transformers).
	Prompts map[string]string `json:"prompts,omitempty"`
	// DefaultPromptName names the prompt sentence-transformers' encode
	// applies when given none ("": none).
	DefaultPromptName string `json:"default_prompt_name,omitempty"`
	// QueryPrompt is prepended to queries (nil: none): the "query" prompt,
	// else the default prompt, as SentenceTransformer.encode_query.
	QueryPrompt *string `json:"query_prompt"`
	// DocPrompt is prepended to documents (nil: none): the "document",
	// "passage" or "corpus" prompt, else the default prompt, as
	// SentenceTransformer.encode_document.
	DocPrompt *string `json:"doc_prompt"`
}

// DefaultConventions returns Contriever's conventions, those of a plain HF
// folder: mean pooling over all tokens, no normalisation, no prompt,
// 512 tokens, dot product.
func DefaultConventions() Conventions {
	return Conventions{Pooling: PoolMean, IncludePrompt: true, MaxLength: DefaultMaxLength, Similarity: SimDot}
}

// String returns the conventions as compact JSON with a fixed key order
// (prompts sorted by name): equal conventions give equal strings.
func (c Conventions) String() string {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprintf("invalid conventions: %v", err)
	}
	return string(b)
}

// Validate checks the fields: a known pooling and similarity, a maximum
// length of at least 2, bounded prompts.
func (c Conventions) Validate() error {
	if !c.Pooling.valid() {
		return fmt.Errorf("conventions: pooling %d: %w", int(c.Pooling), ErrUnsupportedPooling)
	}
	if c.Similarity != SimDot && c.Similarity != SimCosine {
		return fmt.Errorf("conventions: similarity %q: %w", string(c.Similarity), ErrUnsupportedSimilarity)
	}
	if c.MaxLength < 2 {
		return fmt.Errorf("conventions: max_length %d leaves no room for [CLS] and [SEP]", c.MaxLength)
	}
	if len(c.Prompts) > maxPrompts {
		return fmt.Errorf("conventions: %d prompts (at most %d)", len(c.Prompts), maxPrompts)
	}
	for name, p := range c.Prompts {
		if len(p) > maxPromptBytes || len(name) > maxPromptBytes {
			return fmt.Errorf("conventions: prompt %.40q longer than %d bytes", name, maxPromptBytes)
		}
	}
	for _, p := range []*string{c.QueryPrompt, c.DocPrompt} {
		if p != nil && len(*p) > maxPromptBytes {
			return fmt.Errorf("conventions: prompt longer than %d bytes", maxPromptBytes)
		}
	}
	if c.DefaultPromptName != "" {
		if _, ok := c.Prompts[c.DefaultPromptName]; !ok {
			return fmt.Errorf("conventions: default prompt %q: %w", c.DefaultPromptName, ErrUnknownPrompt)
		}
	}
	return nil
}

// ParseConventions decodes String's form and validates it.
func ParseConventions(data []byte) (Conventions, error) {
	var c Conventions
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Conventions{}, fmt.Errorf("conventions: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Conventions{}, err
	}
	return c, nil
}

// Prompt returns the prompt of that name (ErrUnknownPrompt, listing the
// names defined, when there is none).
func (c Conventions) Prompt(name string) (string, error) {
	if p, ok := c.Prompts[name]; ok {
		return p, nil
	}
	names := make([]string, 0, len(c.Prompts))
	for n := range c.Prompts {
		names = append(names, n)
	}
	sort.Strings(names)
	return "", fmt.Errorf("prompt %q: %w (the model defines %q)", name, ErrUnknownPrompt, names)
}

// DefaultPrompt returns the default prompt (nil when there is none): what
// sentence-transformers' encode applies to a text given no prompt.
func (c Conventions) DefaultPrompt() *string {
	if c.DefaultPromptName == "" {
		return nil
	}
	if p, ok := c.Prompts[c.DefaultPromptName]; ok {
		return &p
	}
	return nil
}

// UnitVectors reports whether vectors must be L2-normalised for an inner
// product search to rank as the model's similarity does: Normalize, or
// cosine similarity.
func (c Conventions) UnitVectors() bool { return c.Normalize || c.Similarity == SimCosine }

// Options returns the encoder options of these conventions with batchSize
// texts per forward pass.
func (c Conventions) Options(batchSize int) Options {
	return Options{Pooling: c.Pooling, Normalize: c.Normalize, MaxLength: c.MaxLength, BatchSize: batchSize,
		ExcludePrompt: !c.IncludePrompt, LowerCase: c.LowerCase}
}

// resolvePrompts sets QueryPrompt and DocPrompt from Prompts and
// DefaultPromptName, as encode_query and encode_document do.
func (c *Conventions) resolvePrompts() {
	c.QueryPrompt, c.DocPrompt = nil, nil
	if p, ok := c.Prompts["query"]; ok {
		c.QueryPrompt = &p
	}
	for _, name := range []string{"document", "passage", "corpus"} {
		if p, ok := c.Prompts[name]; ok {
			c.DocPrompt = &p
			break
		}
	}
	if c.QueryPrompt == nil {
		c.QueryPrompt = c.DefaultPrompt()
	}
	if c.DocPrompt == nil {
		c.DocPrompt = c.DefaultPrompt()
	}
}

// Folder is a model folder as ReadFolder finds it.
type Folder struct {
	// Dir is the folder given.
	Dir string
	// ModelDir holds config.json, the weights and the tokenizer: Dir, or
	// the Transformer module's sub-folder.
	ModelDir string
	// SentenceTransformers is true when Dir has a modules.json.
	SentenceTransformers bool
	// Config is the model's config.json.
	Config *checkpoint.BertConfig
	// Conventions are the folder's (DefaultConventions for a plain HF
	// folder). A caller may change them before Open.
	Conventions Conventions
	// Precision of the linear layers Open runs (F32 by default); not read
	// from the folder, a caller sets it before Open.
	Precision Precision
}

// ReadFolder reads a model folder's conventions without loading weights.
// With a modules.json it follows the sentence-transformers layout in full:
// modules.json (a Transformer at "" or in a sub-folder, a Pooling, an
// optional Normalize after it), the Pooling module's config.json,
// sentence_bert_config.json in the Transformer's folder (max_seq_length,
// do_lower_case; without it the maximum length is max_position_embeddings
// capped by tokenizer_config.json's model_max_length) and
// config_sentence_transformers.json (prompts, default_prompt_name,
// similarity_fn_name; without it no prompts and cosine, as
// sentence-transformers). Without modules.json it is a plain HF folder
// with Contriever's conventions. The maximum length is capped at
// max_position_embeddings. A module, pooling mode, similarity or model
// type the encoder cannot run is an error (ErrUnsupportedModule,
// ErrUnsupportedPooling, ErrUnsupportedSimilarity, ErrUnsupportedModel)
// naming it and the file, never a fallback.
func ReadFolder(dir string) (*Folder, error) {
	f := &Folder{Dir: dir, ModelDir: dir, Conventions: DefaultConventions()}
	modPath := filepath.Join(dir, checkpoint.STModulesFile)
	data, err := readSmall(modPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		cfg, err := checkpoint.ReadConfig(filepath.Join(dir, checkpoint.ConfigFile))
		if err != nil {
			return nil, fmt.Errorf("model folder %s: %w", dir, err)
		}
		f.Config = cfg
		f.Conventions.MaxLength = min(f.Conventions.MaxLength, cfg.MaxPositionEmbeddings)
		return f, nil
	case err != nil:
		return nil, err
	}
	f.SentenceTransformers = true
	mods, err := ParseModules(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modPath, err)
	}
	layout, err := checkLayout(mods)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modPath, err)
	}
	c := &f.Conventions
	f.ModelDir = filepath.Join(dir, filepath.FromSlash(layout.transformer))
	cfg, err := checkpoint.ReadConfig(filepath.Join(f.ModelDir, checkpoint.ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	f.Config = cfg

	// Pooling.
	poolPath := filepath.Join(dir, filepath.FromSlash(layout.pooling), checkpoint.ConfigFile)
	data, err = readSmall(poolPath)
	if err != nil {
		return nil, fmt.Errorf("model folder %s: Pooling module: %w", dir, err)
	}
	pc, err := ParsePoolingConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", poolPath, err)
	}
	if pc.Dim >= 0 && pc.Dim != cfg.HiddenSize {
		return nil, fmt.Errorf("%s: word_embedding_dimension %d, but the model's hidden_size is %d: %w", poolPath, pc.Dim, cfg.HiddenSize, ErrInvalidFolder)
	}
	c.Pooling, c.IncludePrompt = pc.Pooling, pc.IncludePrompt
	c.Normalize = layout.normalize

	// Transformer: maximum length and lowercasing.
	maxLen := cfg.MaxPositionEmbeddings
	tcPath := filepath.Join(f.ModelDir, checkpoint.STTransformerConfigFile)
	data, err = readSmall(tcPath)
	switch {
	case err == nil:
		tc, err := ParseTransformerConfig(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tcPath, err)
		}
		if tc.MaxSeqLength > 0 {
			maxLen = min(maxLen, tc.MaxSeqLength)
		} else {
			maxLen = min(maxLen, tokenizerMaxLength(f.ModelDir))
		}
		c.LowerCase = tc.DoLowerCase
	case errors.Is(err, os.ErrNotExist):
		maxLen = min(maxLen, tokenizerMaxLength(f.ModelDir))
	default:
		return nil, err
	}
	c.MaxLength = maxLen

	// Prompts and similarity.
	c.Similarity = SimCosine
	stPath := filepath.Join(dir, checkpoint.STConfigFile)
	data, err = readSmall(stPath)
	switch {
	case err == nil:
		sc, err := ParseSTConfig(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", stPath, err)
		}
		c.Prompts, c.DefaultPromptName = sc.Prompts, sc.DefaultPromptName
		if sc.Similarity != "" {
			c.Similarity = sc.Similarity
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	c.resolvePrompts()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	return f, nil
}

// Load loads the folder's model and tokenizer from ModelDir through
// LoadFolder (the vocabulary checked against the model).
func (f *Folder) Load() (*Model, *wordpiece.Tokenizer, error) { return LoadFolder(f.ModelDir) }

// Open loads the folder's model and tokenizer (Load) and returns an
// Encoder that follows f.Conventions with batchSize texts per forward pass
// (0: 32).
func (f *Folder) Open(batchSize int) (*Encoder, error) {
	if err := f.Conventions.Validate(); err != nil {
		return nil, fmt.Errorf("model folder %s: %w", f.Dir, err)
	}
	m, tok, err := f.Load()
	if err != nil {
		return nil, err
	}
	return NewWithConventionsAt(m, WordPiece(tok), f.Conventions, batchSize, f.Precision)
}

// NewWithConventions returns an Encoder of model m and tokenizer tok that
// follows c (pooling, include_prompt, normalisation, maximum length capped
// at the model's positions, lowercasing) with batchSize texts per forward
// pass (0: 32); Conventions then returns c, MaxLength as applied.
func NewWithConventions(m *Model, tok Tokenizer, c Conventions, batchSize int) (*Encoder, error) {
	return NewWithConventionsAt(m, tok, c, batchSize, F32)
}

// NewWithConventionsAt is NewWithConventions with the linear layers at
// precision p (Options.Precision).
func NewWithConventionsAt(m *Model, tok Tokenizer, c Conventions, batchSize int, p Precision) (*Encoder, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	o := c.Options(batchSize)
	o.Precision = p
	e, err := New(m, tok, o)
	if err != nil {
		return nil, err
	}
	c.MaxLength = e.opts.MaxLength
	e.conv = &c
	return e, nil
}

// OpenFolder is ReadFolder then Open: an Encoder that embeds as the
// folder's sentence-transformers files say (or as Contriever for a plain
// HF folder).
func OpenFolder(dir string, batchSize int) (*Encoder, error) {
	f, err := ReadFolder(dir)
	if err != nil {
		return nil, err
	}
	return f.Open(batchSize)
}

// Conventions returns the conventions the encoder follows: the folder's
// when it was opened by OpenFolder or Folder.Open, otherwise those of its
// Options (no prompts, dot product).
func (e *Encoder) Conventions() Conventions {
	if e.conv != nil {
		c := *e.conv
		return c
	}
	return Conventions{Pooling: e.opts.Pooling, IncludePrompt: !e.opts.ExcludePrompt, Normalize: e.opts.Normalize,
		MaxLength: e.opts.MaxLength, LowerCase: e.opts.LowerCase, Similarity: SimDot}
}

// TokenizePrompted returns the ids of prompt + text for each text (each
// lowercased first when LowerCase is set), cut at MaxLength keeping the
// final [SEP], and skip: how many leading positions the pooling leaves
// out. skip is 0 unless ExcludePrompt is set and prompt is not nil; then
// it is the length of the prompt tokenised alone minus its [SEP] ([CLS]
// and the prompt's tokens), as sentence-transformers computes
// prompt_length. A nil prompt means none; an empty one still counts [CLS].
func (e *Encoder) TokenizePrompted(texts []string, prompt *string) (ids [][]int32, skip int) {
	in := texts
	if prompt != nil || e.opts.LowerCase {
		in = make([]string, len(texts))
		for i, t := range texts {
			if prompt != nil {
				t = *prompt + t
			}
			if e.opts.LowerCase {
				t = strings.ToLower(t)
			}
			in[i] = t
		}
	}
	ids = TokenizeAll(e.tok, in, e.opts.MaxLength)
	if prompt != nil && e.opts.ExcludePrompt {
		p := *prompt
		if e.opts.LowerCase {
			p = strings.ToLower(p)
		}
		skip = len(e.tok.EncodeIDs(p, e.opts.MaxLength)) - 1
	}
	return ids, skip
}

// EmbedTo embeds texts with an optional prompt (nil: none) into out
// [len(texts)·Dim()], in input order, following the encoder's conventions:
// the prompt is prepended to each text before tokenising, its tokens left
// out of the pooling when ExcludePrompt is set. progress, if not nil, is
// called with the number of texts done after each batch.
func (e *Encoder) EmbedTo(ctx context.Context, out []float32, texts []string, prompt *string, progress func(done int)) error {
	if e.tok == nil {
		return errors.New("encoder: no tokenizer")
	}
	ids, skip := e.TokenizePrompted(texts, prompt)
	return e.EncodeIDsSkipTo(ctx, out, ids, skip, progress)
}

// Embed is EmbedTo returning a new slice.
func (e *Encoder) Embed(ctx context.Context, texts []string, prompt *string) ([]float32, error) {
	out := make([]float32, len(texts)*e.Dim())
	if err := e.EmbedTo(ctx, out, texts, prompt, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// readSmall reads a sentence-transformers file of at most maxSTFileBytes.
// A missing file gives an error wrapping os.ErrNotExist.
func readSmall(p string) ([]byte, error) {
	return readlimit.ReadFile(p, maxSTFileBytes, ErrInvalidFolder)
}

// tokenizerMaxLength returns tokenizer_config.json's model_max_length in
// dir, or MaxInt when it is absent, unreadable or not a sane positive
// length (HF writes 1e30 for "no limit").
func tokenizerMaxLength(dir string) int {
	data, err := readSmall(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return math.MaxInt
	}
	var tc struct {
		ModelMaxLength *float64 `json:"model_max_length"`
	}
	if json.Unmarshal(data, &tc) != nil || tc.ModelMaxLength == nil {
		return math.MaxInt
	}
	v := *tc.ModelMaxLength
	if !(v >= 2) || v > 1<<20 {
		return math.MaxInt
	}
	return int(v)
}

// ParseModules decodes modules.json: a non-empty array of at most 32
// modules, each with a string "type" and a string "path" ("" when absent).
func ParseModules(data []byte) ([]checkpoint.STModule, error) {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: not a JSON array of modules: %v", ErrInvalidFolder, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: no modules", ErrInvalidFolder)
	}
	if len(raw) > maxModules {
		return nil, fmt.Errorf("%w: %d modules (at most %d)", ErrInvalidFolder, len(raw), maxModules)
	}
	mods := make([]checkpoint.STModule, len(raw))
	for i, m := range raw {
		if m == nil {
			return nil, fmt.Errorf("%w: module %d is null", ErrInvalidFolder, i)
		}
		for _, k := range []string{"type", "path"} {
			v, ok := m[k]
			if !ok && k == "path" {
				continue // the folder itself
			}
			if !ok {
				return nil, fmt.Errorf("%w: module %d: missing %q", ErrInvalidFolder, i, k)
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("%w: module %d: %q is not a string", ErrInvalidFolder, i, k)
			}
			if k == "type" {
				mods[i].Type = s
			} else {
				mods[i].Path = s
			}
		}
		if v, ok := m["name"]; ok {
			json.Unmarshal(v, &mods[i].Name) // informational
		}
		if v, ok := m["idx"]; ok {
			json.Unmarshal(v, &mods[i].Idx) // informational
		}
	}
	return mods, nil
}

// stLayout is what checkLayout finds in modules.json.
type stLayout struct {
	transformer, pooling string // slash paths relative to the folder
	normalize            bool
}

// moduleClass returns the class name of a sentence-transformers module
// type ("sentence_transformers.models.Pooling" and version 5's
// "sentence_transformers.sentence_transformer.modules.pooling.Pooling" →
// "Pooling"), or "" for a type outside the sentence_transformers package.
func moduleClass(typ string) string {
	if !strings.HasPrefix(typ, "sentence_transformers.") {
		return ""
	}
	return typ[strings.LastIndexByte(typ, '.')+1:]
}

// checkLayout checks the module sequence: Transformer, Pooling, then
// optionally Normalize, with paths inside the folder.
func checkLayout(mods []checkpoint.STModule) (stLayout, error) {
	var l stLayout
	for i, m := range mods {
		where := fmt.Sprintf("module %d (%q at %q)", i, m.Type, m.Path)
		clean := path.Clean("/" + strings.ReplaceAll(m.Path, "\\", "/"))[1:]
		if strings.ContainsRune(m.Path, 0) || filepath.IsAbs(m.Path) || strings.HasPrefix(m.Path, "/") || slices.Contains(strings.Split(strings.ReplaceAll(m.Path, "\\", "/"), "/"), "..") {
			return l, fmt.Errorf("%w: %s: path leaves the folder", ErrInvalidFolder, where)
		}
		switch moduleClass(m.Type) {
		case "Transformer":
			if i != 0 {
				return l, fmt.Errorf("%w: %s: the Transformer must be the first module", ErrUnsupportedModule, where)
			}
			l.transformer = clean
		case "Pooling":
			if i != 1 {
				return l, fmt.Errorf("%w: %s: Pooling must directly follow the Transformer", ErrUnsupportedModule, where)
			}
			if clean == "" {
				return l, fmt.Errorf("%w: %s: the Pooling module needs its own folder", ErrInvalidFolder, where)
			}
			l.pooling = clean
		case "Normalize":
			if i != 2 {
				return l, fmt.Errorf("%w: %s: Normalize must directly follow Pooling", ErrUnsupportedModule, where)
			}
			l.normalize = true
		default:
			return l, fmt.Errorf("%w: %s (the encoder runs Transformer, Pooling and Normalize)", ErrUnsupportedModule, where)
		}
	}
	if moduleClass(mods[0].Type) != "Transformer" {
		return l, fmt.Errorf("%w: the first module is %q, not a Transformer", ErrUnsupportedModule, mods[0].Type)
	}
	if l.pooling == "" {
		return l, fmt.Errorf("%w: no Pooling module (the model would give token embeddings, not one vector per text)", ErrUnsupportedModule)
	}
	return l, nil
}

// PoolingConfig is what ParsePoolingConfig reads from a Pooling module's
// config.json.
type PoolingConfig struct {
	// Pooling is the one mode enabled.
	Pooling Pooling
	// IncludePrompt is include_prompt (true when absent).
	IncludePrompt bool
	// Dim is word_embedding_dimension (-1 when absent).
	Dim int
}

// ParsePoolingConfig decodes a Pooling module's config.json with
// sentence-transformers' defaults for absent keys (mean on, the other
// modes off, include_prompt true); "pooling_mode", when present, overrides
// the flags as there. Exactly one of cls, mean, max and mean_sqrt_len must
// be on: weightedmean, lasttoken, an unknown pooling_mode_* key set true
// or several modes at once are ErrUnsupportedPooling, naming them.
func ParsePoolingConfig(data []byte) (PoolingConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return PoolingConfig{}, fmt.Errorf("%w: not a JSON object: %v", ErrInvalidFolder, err)
	}
	pc := PoolingConfig{Dim: -1, IncludePrompt: true}
	flags := map[string]bool{"pooling_mode_mean_tokens": true}
	known := map[string]bool{
		"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": true,
		"pooling_mode_mean_sqrt_len_tokens": true, "pooling_mode_weightedmean_tokens": true, "pooling_mode_lasttoken": true,
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var mode *string
	for _, k := range keys {
		v := raw[k]
		switch {
		case k == "word_embedding_dimension":
			if err := json.Unmarshal(v, &pc.Dim); err != nil || pc.Dim <= 0 || pc.Dim > 1<<20 {
				return PoolingConfig{}, fmt.Errorf("%w: %q: want a positive integer, got %.40s", ErrInvalidFolder, k, v)
			}
		case k == "include_prompt":
			if err := json.Unmarshal(v, &pc.IncludePrompt); err != nil {
				return PoolingConfig{}, fmt.Errorf("%w: %q: want true or false, got %.40s", ErrInvalidFolder, k, v)
			}
		case k == "pooling_mode":
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				continue
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return PoolingConfig{}, fmt.Errorf("%w: %q: want a string, got %.40s", ErrInvalidFolder, k, v)
			}
			mode = &s
		case strings.HasPrefix(k, "pooling_mode"):
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return PoolingConfig{}, fmt.Errorf("%w: %q: want true or false, got %.40s", ErrInvalidFolder, k, v)
			}
			if !known[k] && b {
				return PoolingConfig{}, fmt.Errorf("%w: %q", ErrUnsupportedPooling, k)
			}
			flags[k] = b
		}
	}
	if mode != nil {
		m := strings.ToLower(*mode)
		byMode := map[string]string{
			"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "max": "pooling_mode_max_tokens",
			"mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens", "weightedmean": "pooling_mode_weightedmean_tokens",
			"lasttoken": "pooling_mode_lasttoken",
		}
		key, ok := byMode[m]
		if !ok {
			return PoolingConfig{}, fmt.Errorf("%w: \"pooling_mode\" %.40q", ErrUnsupportedPooling, *mode)
		}
		flags = map[string]bool{key: true}
	}
	var on []string
	for _, k := range slices.Sorted(maps.Keys(flags)) {
		if flags[k] {
			on = append(on, k)
		}
	}
	switch {
	case len(on) == 0:
		return PoolingConfig{}, fmt.Errorf("%w: no pooling mode is set", ErrUnsupportedPooling)
	case len(on) > 1:
		return PoolingConfig{}, fmt.Errorf("%w: several modes at once (%s): their concatenation is not supported", ErrUnsupportedPooling, strings.Join(on, ", "))
	}
	switch on[0] {
	case "pooling_mode_cls_token":
		pc.Pooling = PoolCLS
	case "pooling_mode_mean_tokens":
		pc.Pooling = PoolMean
	case "pooling_mode_max_tokens":
		pc.Pooling = PoolMax
	case "pooling_mode_mean_sqrt_len_tokens":
		pc.Pooling = PoolMeanSqrtLen
	default:
		return PoolingConfig{}, fmt.Errorf("%w: %q", ErrUnsupportedPooling, on[0])
	}
	return pc, nil
}

// TransformerConfig is what ParseTransformerConfig reads from
// sentence_bert_config.json.
type TransformerConfig struct {
	// MaxSeqLength is max_seq_length (0 when absent or null).
	MaxSeqLength int
	// DoLowerCase is do_lower_case (false when absent).
	DoLowerCase bool
}

// ParseTransformerConfig decodes sentence_bert_config.json: max_seq_length
// (an integer from 2 to 1<<20, or null) and do_lower_case. Other keys
// (model_args, tokenizer_args, ...) are ignored.
func ParseTransformerConfig(data []byte) (TransformerConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return TransformerConfig{}, fmt.Errorf("%w: not a JSON object: %v", ErrInvalidFolder, err)
	}
	var tc TransformerConfig
	if v, ok := raw["max_seq_length"]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		if err := json.Unmarshal(v, &tc.MaxSeqLength); err != nil || tc.MaxSeqLength < 2 || tc.MaxSeqLength > 1<<20 {
			return TransformerConfig{}, fmt.Errorf("%w: \"max_seq_length\": want an integer from 2 to %d, got %.40s", ErrInvalidFolder, 1<<20, v)
		}
	}
	if v, ok := raw["do_lower_case"]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		if err := json.Unmarshal(v, &tc.DoLowerCase); err != nil {
			return TransformerConfig{}, fmt.Errorf("%w: \"do_lower_case\": want true or false, got %.40s", ErrInvalidFolder, v)
		}
	}
	return tc, nil
}

// STConfig is what ParseSTConfig reads from
// config_sentence_transformers.json.
type STConfig struct {
	// Prompts by name (empty when absent).
	Prompts map[string]string
	// DefaultPromptName ("" when absent or null).
	DefaultPromptName string
	// Similarity from similarity_fn_name ("" when absent or null).
	Similarity Similarity
}

// ParseSTConfig decodes config_sentence_transformers.json: "prompts" (an
// object of strings, at most 1024, each at most 64 KiB),
// "default_prompt_name" (a key of prompts, or null) and
// "similarity_fn_name" ("cosine" or "dot"; "euclidean" and "manhattan"
// are ErrUnsupportedSimilarity). Other keys are ignored.
func ParseSTConfig(data []byte) (STConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return STConfig{}, fmt.Errorf("%w: not a JSON object: %v", ErrInvalidFolder, err)
	}
	isNull := func(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }
	var sc STConfig
	if v, ok := raw["prompts"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &sc.Prompts); err != nil {
			return STConfig{}, fmt.Errorf("%w: \"prompts\": want an object of strings: %v", ErrInvalidFolder, err)
		}
		if len(sc.Prompts) > maxPrompts {
			return STConfig{}, fmt.Errorf("%w: \"prompts\": %d prompts (at most %d)", ErrInvalidFolder, len(sc.Prompts), maxPrompts)
		}
		for name, p := range sc.Prompts {
			if len(p) > maxPromptBytes || len(name) > maxPromptBytes {
				return STConfig{}, fmt.Errorf("%w: \"prompts\": prompt %.40q longer than %d bytes", ErrInvalidFolder, name, maxPromptBytes)
			}
		}
	}
	if v, ok := raw["default_prompt_name"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &sc.DefaultPromptName); err != nil {
			return STConfig{}, fmt.Errorf("%w: \"default_prompt_name\": want a string, got %.40s", ErrInvalidFolder, v)
		}
		if _, ok := sc.Prompts[sc.DefaultPromptName]; !ok {
			return STConfig{}, fmt.Errorf("%w: \"default_prompt_name\" %.40q is not in \"prompts\": %w", ErrInvalidFolder, sc.DefaultPromptName, ErrUnknownPrompt)
		}
	}
	if v, ok := raw["similarity_fn_name"]; ok && !isNull(v) {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return STConfig{}, fmt.Errorf("%w: \"similarity_fn_name\": want a string, got %.40s", ErrInvalidFolder, v)
		}
		switch Similarity(s) {
		case SimDot, SimCosine:
			sc.Similarity = Similarity(s)
		default:
			return STConfig{}, fmt.Errorf("%w: \"similarity_fn_name\" %.40q (the engine ranks by dot or cosine)", ErrUnsupportedSimilarity, s)
		}
	}
	return sc, nil
}
