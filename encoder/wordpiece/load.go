package wordpiece

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/contriever-go/contriever/internal/readlimit"
)

// LoadConfig adjusts Load for files that do not say everything.
type LoadConfig struct {
	// Lowercase overrides the casing of a bare vocab.txt (default: uncased,
	// or tokenizer_config.json's do_lower_case when the folder has one);
	// accents are stripped when lowercasing unless tokenizer_config.json
	// sets strip_accents.
	// It does not override a tokenizer.json, which states its normaliser.
	Lowercase *bool
	// ClassicTruncation selects the pair truncation rule of tokenizers ≤ 0.22.
	ClassicTruncation bool
}

// Load reads a tokenizer from path: a vocab.txt, an HF tokenizer.json
// (BertNormalizer, BertPreTokenizer, WordPiece), or a model folder (its
// tokenizer.json if present, else its vocab.txt). A bare vocab.txt is taken
// as uncased unless the tokenizer_config.json beside it says
// do_lower_case: false; that file's strip_accents, tokenize_chinese_chars
// and special token names are honoured too.
func Load(path string) (*Tokenizer, error) {
	return LoadWith(path, LoadConfig{})
}

// LoadWith is Load with explicit settings.
func LoadWith(path string, cfg LoadConfig) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("wordpiece: %w", err)
	}
	dir := filepath.Dir(path)
	if st.IsDir() {
		dir = path
		if _, err := os.Stat(filepath.Join(path, "tokenizer.json")); err == nil {
			path = filepath.Join(path, "tokenizer.json")
		} else if _, err := os.Stat(filepath.Join(path, "vocab.txt")); err == nil {
			path = filepath.Join(path, "vocab.txt")
		} else {
			return nil, fmt.Errorf("wordpiece: %s has neither tokenizer.json nor vocab.txt: %w", dir, os.ErrNotExist)
		}
	}
	data, err := readlimit.ReadFile(path, maxTokenizerBytes, ErrFormat)
	if err != nil {
		return nil, fmt.Errorf("wordpiece: %w", err)
	}
	if strings.HasSuffix(path, ".json") || looksLikeJSON(data) {
		t, err := FromTokenizerJSON(data, cfg.ClassicTruncation)
		if err != nil {
			return nil, fmt.Errorf("wordpiece: %s: %w", path, err)
		}
		return t, nil
	}
	tokens, err := ReadVocab(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("wordpiece: %s: %w", path, err)
	}
	tc, err := readTokenizerConfig(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	opts := UncasedOptions()
	if tc.DoLowerCase != nil && !*tc.DoLowerCase {
		opts = CasedOptions()
	}
	if cfg.Lowercase != nil {
		opts.Lowercase = *cfg.Lowercase
	}
	if tc.StripAccents != nil {
		opts.StripAccents = tc.StripAccents
	}
	if tc.TokenizeChineseChars != nil {
		opts.HandleChineseChars = *tc.TokenizeChineseChars
	}
	opts.UnkToken, opts.CLSToken, opts.SEPToken = tc.UnkToken.s, tc.CLSToken.s, tc.SEPToken.s
	opts.PADToken, opts.MASKToken = tc.PADToken.s, tc.MASKToken.s
	opts.ClassicTruncation = cfg.ClassicTruncation
	t, err := NewFromVocab(tokens, opts)
	if err != nil {
		return nil, fmt.Errorf("wordpiece: %s: %w", path, err)
	}
	return t, nil
}

func looksLikeJSON(data []byte) bool {
	d := bytes.TrimLeft(data, " \t\r\n")
	return len(d) > 0 && d[0] == '{'
}

// tokenizerConfig is the part of a transformers tokenizer_config.json that
// matters for a bare vocab.txt.
type tokenizerConfig struct {
	DoLowerCase          *bool     `json:"do_lower_case"`
	StripAccents         *bool     `json:"strip_accents"`
	TokenizeChineseChars *bool     `json:"tokenize_chinese_chars"`
	UnkToken             tokenName `json:"unk_token"`
	CLSToken             tokenName `json:"cls_token"`
	SEPToken             tokenName `json:"sep_token"`
	PADToken             tokenName `json:"pad_token"`
	MASKToken            tokenName `json:"mask_token"`
}

// tokenName is a special token in tokenizer_config.json: a string or an
// AddedToken object with a "content" field.
type tokenName struct{ s string }

// UnmarshalJSON accepts "name", {"content": "name", ...} or null.
func (n *tokenName) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, &n.s); err == nil {
		return nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	n.s = obj.Content
	return nil
}

// readTokenizerConfig reads a tokenizer_config.json; a missing file gives
// the zero config.
func readTokenizerConfig(path string) (tokenizerConfig, error) {
	var cfg tokenizerConfig
	data, err := readlimit.ReadFile(path, maxTokenizerConfigBytes, ErrFormat)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("wordpiece: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("wordpiece: %s: %w: %v", path, ErrFormat, err)
	}
	return cfg, nil
}

// ReadVocab reads a vocab.txt: one token per line, the line number (from
// 0) being its id. The line ending (\n or \r\n) is not part of the token.
func ReadVocab(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	var tokens []string
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			line = strings.TrimSuffix(line, "\n")
			line = strings.TrimSuffix(line, "\r")
			tokens = append(tokens, line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read vocab line %d: %w", len(tokens)+1, err)
		}
	}
	if len(tokens) == 0 {
		return nil, ErrEmptyVocab
	}
	return tokens, nil
}

// tokenizerJSON is the part of HF's tokenizer.json this package reads.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID         *int32 `json:"id"`
		Content    string `json:"content"`
		Special    bool   `json:"special"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		SingleWord bool   `json:"single_word"`
		Normalized bool   `json:"normalized"`
	} `json:"added_tokens"`
	Normalizer *struct {
		Type               string `json:"type"`
		CleanText          *bool  `json:"clean_text"`
		HandleChineseChars *bool  `json:"handle_chinese_chars"`
		StripAccents       *bool  `json:"strip_accents"`
		Lowercase          *bool  `json:"lowercase"`
	} `json:"normalizer"`
	PreTokenizer *struct {
		Type string `json:"type"`
	} `json:"pre_tokenizer"`
	PostProcessor *struct {
		Type   string          `json:"type"`
		CLS    json.RawMessage `json:"cls"`
		SEP    json.RawMessage `json:"sep"`
		Single []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
		} `json:"single"`
	} `json:"post_processor"`
	Model struct {
		Type                    string           `json:"type"`
		UnkToken                *string          `json:"unk_token"`
		ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    *int             `json:"max_input_chars_per_word"`
		Vocab                   map[string]int32 `json:"vocab"`
	} `json:"model"`
}

// FromTokenizerJSON builds a tokenizer from the bytes of an HF
// tokenizer.json with a BertNormalizer (or none), a BertPreTokenizer and a
// WordPiece model. Added tokens with normalized=false (all of BERT's) are
// matched in the raw text, normalized ones in the normalised text, as in
// HF (single_word is not supported and ignored; BERT does not use it).
// The post-processor's [CLS]/[SEP] names are read from a BertProcessing or
// TemplateProcessing; truncation and padding settings in the file are
// ignored (callers pass maxLen). classic selects the truncation rule of
// tokenizers ≤ 0.22.
func FromTokenizerJSON(data []byte, classic bool) (*Tokenizer, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if tj.Model.Type != "" && tj.Model.Type != "WordPiece" {
		return nil, fmt.Errorf("%w: model type %q (want WordPiece)", ErrUnsupported, tj.Model.Type)
	}
	if len(tj.Model.Vocab) == 0 {
		return nil, fmt.Errorf("%w: model.vocab is empty or missing", ErrEmptyVocab)
	}
	if tj.PreTokenizer != nil && tj.PreTokenizer.Type != "BertPreTokenizer" {
		return nil, fmt.Errorf("%w: pre_tokenizer %q (want BertPreTokenizer)", ErrUnsupported, tj.PreTokenizer.Type)
	}
	var opts Options
	if n := tj.Normalizer; n != nil {
		if n.Type != "BertNormalizer" {
			return nil, fmt.Errorf("%w: normalizer %q (want BertNormalizer)", ErrUnsupported, n.Type)
		}
		// HF's defaults for absent fields: all true, strip_accents null.
		opts.CleanText = n.CleanText == nil || *n.CleanText
		opts.HandleChineseChars = n.HandleChineseChars == nil || *n.HandleChineseChars
		opts.Lowercase = n.Lowercase == nil || *n.Lowercase
		opts.StripAccents = n.StripAccents
	}
	if tj.Model.UnkToken != nil {
		opts.UnkToken = *tj.Model.UnkToken
	}
	opts.Prefix = tj.Model.ContinuingSubwordPrefix
	if tj.Model.MaxInputCharsPerWord != nil {
		if *tj.Model.MaxInputCharsPerWord <= 0 {
			return nil, fmt.Errorf("%w: max_input_chars_per_word %d", ErrFormat, *tj.Model.MaxInputCharsPerWord)
		}
		opts.MaxInputCharsPerWord = *tj.Model.MaxInputCharsPerWord
	}
	if pp := tj.PostProcessor; pp != nil && pp.Type == "TemplateProcessing" && len(pp.Single) >= 2 {
		// single: [CLS] $A [SEP], with whatever the special tokens are called.
		if st := pp.Single[0].SpecialToken; st != nil {
			opts.CLSToken = st.ID
		}
		if st := pp.Single[len(pp.Single)-1].SpecialToken; st != nil {
			opts.SEPToken = st.ID
		}
	}
	if pp := tj.PostProcessor; pp != nil && pp.Type == "BertProcessing" {
		// "cls": ["[CLS]", 101]
		var name string
		var id int32
		if tok, ok := parsePair(pp.CLS, &name, &id); ok {
			opts.CLSToken = tok
		}
		if tok, ok := parsePair(pp.SEP, &name, &id); ok {
			opts.SEPToken = tok
		}
	}
	m := make(map[string]int32, len(tj.Model.Vocab)+len(tj.AddedTokens))
	for tok, id := range tj.Model.Vocab {
		m[tok] = id
	}
	opts.AddedTokens = []AddedToken{}
	for i, a := range tj.AddedTokens {
		if a.ID == nil {
			return nil, fmt.Errorf("%w: added_tokens[%d] has no id", ErrFormat, i)
		}
		if a.Content == "" {
			return nil, fmt.Errorf("%w: added_tokens[%d] has empty content", ErrFormat, i)
		}
		if _, ok := m[a.Content]; !ok {
			m[a.Content] = *a.ID
		}
		opts.AddedTokens = append(opts.AddedTokens, AddedToken{
			Content: a.Content, ID: *a.ID, Special: a.Special, LStrip: a.LStrip, RStrip: a.RStrip, Normalized: a.Normalized,
		})
	}
	opts.ClassicTruncation = classic
	// id -> token: added tokens first (HF looks them up first), then the
	// model vocabulary in token order, so that the table is deterministic.
	size := 0
	for _, id := range m {
		if id < 0 || int(id) >= maxVocabID(len(m)) {
			return nil, fmt.Errorf("%w: token id %d out of range for %d tokens", ErrFormat, id, len(m))
		}
		size = max(size, int(id)+1)
	}
	vocab := make([]string, size)
	for _, a := range opts.AddedTokens {
		if a.ID >= 0 && int(a.ID) < size && vocab[a.ID] == "" {
			vocab[a.ID] = a.Content
		}
	}
	toks := make([]string, 0, len(tj.Model.Vocab))
	for tok := range tj.Model.Vocab {
		toks = append(toks, tok)
	}
	sort.Strings(toks)
	for _, tok := range toks {
		if id := tj.Model.Vocab[tok]; vocab[id] == "" {
			vocab[id] = tok
		}
	}
	return newTokenizer(vocab, m, opts)
}

// parsePair reads BertProcessing's ["token", id].
func parsePair(raw json.RawMessage, name *string, id *int32) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var v []json.RawMessage
	if json.Unmarshal(raw, &v) != nil || len(v) != 2 {
		return "", false
	}
	if json.Unmarshal(v[0], name) != nil || json.Unmarshal(v[1], id) != nil {
		return "", false
	}
	return *name, true
}

// Bounds on the tokenizer files read whole: the largest published
// tokenizer.json files (multilingual vocabularies of 250k tokens) are
// about 20 MB, tokenizer_config.json a few kilobytes.
const (
	maxTokenizerBytes       = 256 << 20
	maxTokenizerConfigBytes = 1 << 20
)
