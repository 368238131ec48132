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
)

// LoadConfig adjusts Load for files that do not say everything.
type LoadConfig struct {
	// Lowercase overrides the casing of a bare vocab.txt (default: uncased,
	// or tokenizer_config.json's do_lower_case when the folder has one).
	// It does not override a tokenizer.json, which states its normaliser.
	Lowercase *bool
	// ClassicTruncation selects the pair truncation rule of tokenizers ≤ 0.22.
	ClassicTruncation bool
}

// Load reads a tokenizer from path: a vocab.txt, an HF tokenizer.json
// (BertNormalizer, BertPreTokenizer, WordPiece), or a model folder (its
// tokenizer.json if present, else its vocab.txt). A bare vocab.txt is taken
// as uncased unless the folder's tokenizer_config.json says do_lower_case:
// false.
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
	data, err := os.ReadFile(path)
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
	opts := UncasedOptions()
	if cfg.Lowercase != nil {
		if !*cfg.Lowercase {
			opts = CasedOptions()
		}
	} else if lc, ok, err := readDoLowerCase(filepath.Join(dir, "tokenizer_config.json")); err != nil {
		return nil, err
	} else if ok && !lc {
		opts = CasedOptions()
	}
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

// readDoLowerCase reads do_lower_case from a tokenizer_config.json; ok is
// false when the file or the field is absent.
func readDoLowerCase(path string) (lower, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("wordpiece: %w", err)
	}
	var cfg struct {
		DoLowerCase *bool `json:"do_lower_case"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return false, false, fmt.Errorf("wordpiece: %s: %w: %v", path, ErrFormat, err)
	}
	if cfg.DoLowerCase == nil {
		return false, false, nil
	}
	return *cfg.DoLowerCase, true, nil
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
