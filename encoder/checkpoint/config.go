package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/contriever-go/contriever/internal/atomicfile"
	"github.com/contriever-go/contriever/internal/readlimit"
)

// SupportedHiddenActs lists the hidden_act values ReadConfig accepts. "gelu"
// is HF's exact GELU, x·Φ(x) computed with erf (not the tanh approximation).
var SupportedHiddenActs = []string{"gelu"}

// ErrInvalidConfig reports a config.json that is malformed or describes a
// model this project cannot run.
var ErrInvalidConfig = errors.New("invalid config")

// ErrUnsupportedModel reports a config.json whose model_type is not "bert"
// (RoBERTa, XLM-R, DistilBERT, ...): the encoder runs BERT only. Errors
// wrapping it also wrap ErrInvalidConfig.
var ErrUnsupportedModel = errors.New("unsupported model type")

// BertConfig is the subset of HuggingFace's BertConfig (config.json) that
// defines a BERT encoder. JSON tags are HF's names. Keys this type does not
// know are kept in Extra and written back by WriteConfig.
type BertConfig struct {
	VocabSize                 int     `json:"vocab_size"`
	HiddenSize                int     `json:"hidden_size"`
	NumHiddenLayers           int     `json:"num_hidden_layers"`
	NumAttentionHeads         int     `json:"num_attention_heads"`
	IntermediateSize          int     `json:"intermediate_size"`
	MaxPositionEmbeddings     int     `json:"max_position_embeddings"`
	TypeVocabSize             int     `json:"type_vocab_size"`
	HiddenAct                 string  `json:"hidden_act"`
	LayerNormEps              float64 `json:"layer_norm_eps"`
	HiddenDropoutProb         float64 `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64 `json:"attention_probs_dropout_prob"`
	InitializerRange          float64 `json:"initializer_range"`
	PadTokenID                int     `json:"pad_token_id"`
	PositionEmbeddingType     string  `json:"position_embedding_type"`

	// Extra holds the config.json keys not listed above (for example
	// "transformers_version"), kept verbatim for WriteConfig.
	Extra map[string]json.RawMessage `json:"-"`
}

// DefaultBertConfig returns the configuration of bert-base-uncased (and of
// facebook/contriever): 12 layers, hidden 768, 12 heads, intermediate 3072,
// vocabulary 30522, 512 positions.
func DefaultBertConfig() *BertConfig {
	return &BertConfig{
		VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, MaxPositionEmbeddings: 512, TypeVocabSize: 2,
		HiddenAct: "gelu", LayerNormEps: 1e-12, HiddenDropoutProb: 0.1,
		AttentionProbsDropoutProb: 0.1, InitializerRange: 0.02, PadTokenID: 0,
		PositionEmbeddingType: "absolute",
	}
}

// Sane maxima for the sizes of a config.json, far above any published BERT
// (bert-large: 24 layers, hidden 1024, 16 heads, intermediate 4096;
// multilingual vocabularies of 250k tokens; 8k positions) and low enough
// that a hostile file cannot make the loader build millions of parameter
// entries or plan terabytes of weights.
const (
	MaxLayers           = 256
	MaxHiddenSize       = 1 << 14
	MaxHeads            = 1 << 10
	MaxIntermediateSize = 1 << 16
	MaxVocabSize        = 1 << 22
	MaxPositions        = 1 << 17
	MaxTypeVocabSize    = 1 << 10
	// MaxParams bounds the total parameter count (2^34 float32 values are
	// 64 GiB).
	MaxParams = 1 << 34
)

// NumParams returns the number of parameters of a BertModel with
// configuration c (pooler included), computed without listing them. The
// sizes must be within the maxima above (Validate checks them first), so
// that the sum cannot overflow.
func (c *BertConfig) NumParams() int64 {
	h, in := int64(c.HiddenSize), int64(c.IntermediateSize)
	emb := (int64(c.VocabSize)+int64(c.MaxPositionEmbeddings)+int64(c.TypeVocabSize))*h + 2*h
	layer := 4*(h*h+h) + 2*(in*h) + in + h + 4*h
	return emb + int64(c.NumHiddenLayers)*layer + h*h + h
}

// NumTensors returns how many tensors a BertModel with configuration c
// holds without its optional pooler: 5 embedding tensors and 16 per layer.
func (c *BertConfig) NumTensors() int { return 5 + 16*c.NumHiddenLayers }

// HeadDim returns HiddenSize / NumAttentionHeads.
func (c *BertConfig) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// knownKeys are the JSON keys BertConfig maps to fields, plus the keys
// WriteConfig always sets itself.
var knownKeys = map[string]bool{
	"vocab_size": true, "hidden_size": true, "num_hidden_layers": true,
	"num_attention_heads": true, "intermediate_size": true,
	"max_position_embeddings": true, "type_vocab_size": true, "hidden_act": true,
	"layer_norm_eps": true, "hidden_dropout_prob": true,
	"attention_probs_dropout_prob": true, "initializer_range": true,
	"pad_token_id": true, "position_embedding_type": true,
	"model_type": true, "architectures": true,
}

// ParseConfig decodes and validates config.json content. Missing optional
// keys take HF's BertConfig defaults (layer_norm_eps 1e-12, hidden_act
// "gelu", type_vocab_size 2, position_embedding_type "absolute", ...);
// the size keys are required.
func ParseConfig(data []byte) (*BertConfig, error) {
	raw, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	c := DefaultBertConfig()
	present := map[string]bool{}
	for _, kv := range raw {
		present[kv.key] = true
		if !knownKeys[kv.key] {
			if c.Extra == nil {
				c.Extra = map[string]json.RawMessage{}
			}
			c.Extra[kv.key] = append(json.RawMessage(nil), kv.val...)
		}
	}
	for _, k := range []string{"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings"} {
		if !present[k] {
			return nil, fmt.Errorf("%w: missing %q", ErrInvalidConfig, k)
		}
	}
	// Decode the known keys one by one so that an error names the key.
	var fields struct {
		BertConfig
		ModelType string `json:"model_type"`
	}
	fields.BertConfig = *c
	for _, kv := range raw {
		if !knownKeys[kv.key] || kv.key == "architectures" {
			continue
		}
		if bytes.Equal(bytes.TrimSpace(kv.val), []byte("null")) {
			return nil, fmt.Errorf("%w: %q is null", ErrInvalidConfig, kv.key)
		}
		one, _ := json.Marshal(map[string]json.RawMessage{kv.key: kv.val})
		if err := json.Unmarshal(one, &fields); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrInvalidConfig, kv.key, err)
		}
	}
	if fields.ModelType != "" && fields.ModelType != "bert" {
		return nil, fmt.Errorf("%w: %w: model_type %q (only \"bert\" is supported)", ErrInvalidConfig, ErrUnsupportedModel, fields.ModelType)
	}
	*c = fields.BertConfig
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks that the configuration describes a BERT encoder this
// project can run: positive sizes, hidden_size divisible by
// num_attention_heads, a supported hidden_act, absolute position embeddings,
// a positive layer_norm_eps, dropout probabilities in [0, 1) and a pad token
// inside the vocabulary.
func (c *BertConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{
		{"vocab_size", c.VocabSize, MaxVocabSize}, {"hidden_size", c.HiddenSize, MaxHiddenSize},
		{"num_hidden_layers", c.NumHiddenLayers, MaxLayers}, {"num_attention_heads", c.NumAttentionHeads, MaxHeads},
		{"intermediate_size", c.IntermediateSize, MaxIntermediateSize}, {"max_position_embeddings", c.MaxPositionEmbeddings, MaxPositions},
		{"type_vocab_size", c.TypeVocabSize, MaxTypeVocabSize},
	} {
		if f.v <= 0 {
			return bad("%s must be positive, is %d", f.name, f.v)
		}
		if f.v > f.max {
			return bad("%s %d is larger than the supported maximum %d", f.name, f.v, f.max)
		}
	}
	if n := c.NumParams(); n > MaxParams {
		return bad("the configuration has %d parameters, more than the supported maximum %d", n, int64(MaxParams))
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return bad("hidden_size %d is not divisible by num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	ok := false
	for _, a := range SupportedHiddenActs {
		ok = ok || a == c.HiddenAct
	}
	if !ok {
		return bad("hidden_act %q is not supported (supported: %q; \"gelu\" is the exact erf GELU)", c.HiddenAct, SupportedHiddenActs)
	}
	if c.PositionEmbeddingType != "" && c.PositionEmbeddingType != "absolute" {
		return bad("position_embedding_type %q is not supported (only \"absolute\")", c.PositionEmbeddingType)
	}
	if !(c.LayerNormEps > 0 && c.LayerNormEps < 1) {
		return bad("layer_norm_eps must be in (0, 1), is %v", c.LayerNormEps)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"hidden_dropout_prob", c.HiddenDropoutProb}, {"attention_probs_dropout_prob", c.AttentionProbsDropoutProb}} {
		if !(f.v >= 0 && f.v < 1) {
			return bad("%s must be in [0, 1), is %v", f.name, f.v)
		}
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		return bad("pad_token_id %d is outside the vocabulary of %d", c.PadTokenID, c.VocabSize)
	}
	return nil
}

// ReadConfig reads and validates a HuggingFace config.json. Errors name the
// file and the offending key.
func ReadConfig(path string) (*BertConfig, error) {
	data, err := readlimit.ReadFile(path, maxConfigBytes, ErrInvalidConfig)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// MarshalJSON encodes the configuration as an HF-compatible config.json
// object with keys in sorted order: the fields, model_type "bert",
// architectures ["BertModel"] and the Extra keys.
func (c *BertConfig) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range c.Extra {
		m[k] = v
	}
	m["vocab_size"] = c.VocabSize
	m["hidden_size"] = c.HiddenSize
	m["num_hidden_layers"] = c.NumHiddenLayers
	m["num_attention_heads"] = c.NumAttentionHeads
	m["intermediate_size"] = c.IntermediateSize
	m["max_position_embeddings"] = c.MaxPositionEmbeddings
	m["type_vocab_size"] = c.TypeVocabSize
	m["hidden_act"] = c.HiddenAct
	m["layer_norm_eps"] = jsonFloat(c.LayerNormEps)
	m["hidden_dropout_prob"] = jsonFloat(c.HiddenDropoutProb)
	m["attention_probs_dropout_prob"] = jsonFloat(c.AttentionProbsDropoutProb)
	m["initializer_range"] = jsonFloat(c.InitializerRange)
	m["pad_token_id"] = c.PadTokenID
	pet := c.PositionEmbeddingType
	if pet == "" {
		pet = "absolute"
	}
	m["position_embedding_type"] = pet
	m["model_type"] = "bert"
	m["architectures"] = []string{"BertModel"}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, k := range keys {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(m[k])
		if err != nil {
			return nil, fmt.Errorf("config key %q: %w", k, err)
		}
		b.WriteString("  ")
		b.Write(kb)
		b.WriteString(": ")
		b.Write(vb)
		if i < len(keys)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

// jsonFloat encodes a float the way Python's json does for round values
// (1e-12, 0.1, 0.0) so that config.json stays readable.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(f), 'g', -1, 64)
	if !bytes.ContainsAny([]byte(s), ".eEn") {
		s += ".0"
	}
	return []byte(s), nil
}

// WriteConfig validates c and writes it as an HF-compatible config.json
// (model_type "bert", architectures ["BertModel"]), atomically.
func WriteConfig(path string, c *BertConfig) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	data, err := c.MarshalJSON()
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	data = append(data, '\n')
	return atomicfile.Write(path, func(f io.Writer) error {
		_, err := f.Write(data)
		return err
	})
}

// maxConfigBytes bounds config.json (HF's are a few kilobytes).
const maxConfigBytes = 1 << 20
