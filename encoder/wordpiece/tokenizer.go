package wordpiece

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// Sentinel errors returned (wrapped) by the constructors and loaders.
var (
	// ErrMissingToken means a token the tokenizer needs ([UNK], [CLS] or
	// [SEP], or the configured replacements) is not in the vocabulary.
	ErrMissingToken = errors.New("wordpiece: required token missing from vocabulary")
	// ErrEmptyVocab means the vocabulary has no tokens.
	ErrEmptyVocab = errors.New("wordpiece: empty vocabulary")
	// ErrUnsupported means a tokenizer.json uses a component this package
	// does not implement (another normalizer, pre-tokenizer or model).
	ErrUnsupported = errors.New("wordpiece: unsupported tokenizer component")
	// ErrFormat means a vocabulary or tokenizer file is malformed.
	ErrFormat = errors.New("wordpiece: malformed tokenizer file")
)

// AddedToken is a token matched literally in the raw text before
// normalisation (HF's added tokens with normalized=false), such as [CLS].
type AddedToken struct {
	Content string
	ID      int32
	// Special marks special tokens (all of BERT's added tokens are).
	Special bool
	// LStrip and RStrip make a match swallow the whitespace on its left or
	// right, as HF's lstrip/rstrip do (raw-text tokens only).
	LStrip, RStrip bool
	// Normalized tokens are matched, like HF's normalized=true added
	// tokens, in the normalised text against their normalised content.
	Normalized bool
}

// Options configures a Tokenizer. The zero value is a cased tokenizer with
// no normalisation; UncasedOptions gives bert-base-uncased's settings.
type Options struct {
	// CleanText removes NUL, U+FFFD and control/format/private-use
	// characters (other than \t \n \r) and maps whitespace to a space.
	CleanText bool
	// HandleChineseChars puts spaces around CJK ideographs.
	HandleChineseChars bool
	// StripAccents decomposes (NFD) and drops non-spacing marks; nil follows
	// Lowercase, as HF's strip_accents: null does.
	StripAccents *bool
	// Lowercase lowercases one character at a time.
	Lowercase bool

	// UnkToken, CLSToken, SEPToken, PADToken and MASKToken name the special
	// tokens; empty means "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]".
	// UNK, CLS and SEP must be in the vocabulary; PAD and MASK may be absent.
	UnkToken, CLSToken, SEPToken, PADToken, MASKToken string
	// Prefix is the continuing-subword prefix; nil means "##".
	Prefix *string
	// MaxInputCharsPerWord: a longer word (in characters after
	// normalisation) becomes [UNK]. 0 means 100.
	MaxInputCharsPerWord int

	// AddedTokens are matched in the raw text. nil means the five special
	// tokens (UNK, CLS, SEP, PAD, MASK) that are in the vocabulary.
	AddedTokens []AddedToken

	// ClassicTruncation selects the longest_first rule of tokenizers ≤ 0.22
	// (both sequences measured in full) instead of 0.23's early exit.
	ClassicTruncation bool
}

// UncasedOptions returns bert-base-uncased's settings: clean text, CJK
// padding, lowercasing and accent stripping.
func UncasedOptions() Options {
	return Options{CleanText: true, HandleChineseChars: true, Lowercase: true}
}

// CasedOptions returns bert-base-cased's settings: clean text and CJK
// padding, with no lowercasing and no accent stripping.
func CasedOptions() Options {
	return Options{CleanText: true, HandleChineseChars: true}
}

// Tokenizer is a BERT WordPiece tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	opts         Options
	stripAccents bool
	prefix       string
	maxChars     int

	vocab      []string         // id -> token ("" for unused ids)
	word       map[string]int32 // all tokens (first piece of a word)
	cont       map[string]int32 // tokens with the prefix, prefix removed
	maxWordLen int              // longest key of word, bytes
	maxContLen int              // longest key of cont, bytes

	unk, cls, sep, pad, mask int32

	added       []AddedToken // sorted by content length, longest first
	addedFirst  [256]bool    // first bytes of added tokens
	singleFirst int          // the first byte shared by all added tokens, or -1
	normAdded   []AddedToken // normalized added tokens, content normalised, longest first
	plain       *Tokenizer   // same vocabulary, no normalisation (after normAdded matching)

	ascii      [128]uint8 // per ASCII byte: asciiDrop/asciiSpace/asciiPunct/asciiKeep
	lowerASCII [128]byte

	pool *sync.Pool // *scratch
}

const (
	asciiKeep uint8 = iota
	asciiDrop
	asciiSpace
	asciiPunct
)

// maxVocabID bounds the ids of a vocabulary of n tokens, so that a corrupt
// file cannot make the id table huge: ids may leave holes, but not many.
func maxVocabID(n int) int { return 2*n + 1<<16 }

// NewFromVocab builds a tokenizer whose token i is tokens[i]. When a token
// occurs twice, the later id wins in lookups, as in HF.
func NewFromVocab(tokens []string, opts Options) (*Tokenizer, error) {
	if len(tokens) == 0 {
		return nil, ErrEmptyVocab
	}
	m := make(map[string]int32, len(tokens))
	for i, tok := range tokens {
		m[tok] = int32(i)
	}
	return newTokenizer(append([]string(nil), tokens...), m, opts)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// newTokenizer builds the tokenizer from the id->token table and the
// token->id map (which may hold ids beyond len(vocab); vocab is grown).
func newTokenizer(vocab []string, m map[string]int32, opts Options) (*Tokenizer, error) {
	if len(m) == 0 {
		return nil, ErrEmptyVocab
	}
	t := &Tokenizer{opts: opts, word: m, prefix: "##", maxChars: 100}
	if opts.Prefix != nil {
		t.prefix = *opts.Prefix
	}
	if opts.MaxInputCharsPerWord > 0 {
		t.maxChars = opts.MaxInputCharsPerWord
	}
	t.stripAccents = opts.Lowercase
	if opts.StripAccents != nil {
		t.stripAccents = *opts.StripAccents
	}
	for tok, id := range m {
		if id < 0 {
			return nil, fmt.Errorf("%w: negative id %d for %q", ErrFormat, id, tok)
		}
		if int(id) >= len(vocab) {
			if int(id) >= maxVocabID(len(m)) {
				return nil, fmt.Errorf("%w: id %d for %q is out of range for %d tokens", ErrFormat, id, tok, len(m))
			}
			vocab = append(vocab, make([]string, int(id)+1-len(vocab))...)
		}
	}
	for tok, id := range m {
		if vocab[id] == "" {
			vocab[id] = tok
		}
	}
	t.vocab = vocab
	t.cont = make(map[string]int32)
	for tok, id := range m {
		if len(tok) > t.maxWordLen {
			t.maxWordLen = len(tok)
		}
		if rest, ok := strings.CutPrefix(tok, t.prefix); ok && rest != "" {
			t.cont[rest] = id
			if len(rest) > t.maxContLen {
				t.maxContLen = len(rest)
			}
		}
	}
	need := func(name string) (int32, error) {
		id, ok := m[name]
		if !ok {
			return -1, fmt.Errorf("%w: %q", ErrMissingToken, name)
		}
		return id, nil
	}
	var err error
	if t.unk, err = need(orDefault(opts.UnkToken, "[UNK]")); err != nil {
		return nil, err
	}
	if t.cls, err = need(orDefault(opts.CLSToken, "[CLS]")); err != nil {
		return nil, err
	}
	if t.sep, err = need(orDefault(opts.SEPToken, "[SEP]")); err != nil {
		return nil, err
	}
	t.pad, _ = need(orDefault(opts.PADToken, "[PAD]"))
	t.mask, _ = need(orDefault(opts.MASKToken, "[MASK]"))

	added := opts.AddedTokens
	if added == nil {
		for _, id := range []int32{t.pad, t.unk, t.cls, t.sep, t.mask} {
			if id >= 0 {
				added = append(added, AddedToken{Content: t.vocab[id], ID: id, Special: true})
			}
		}
	}
	t.initASCII()
	for _, a := range added {
		if a.Content == "" {
			continue
		}
		if a.ID < 0 || int(a.ID) >= len(t.vocab) {
			return nil, fmt.Errorf("%w: added token %q has id %d outside the vocabulary", ErrFormat, a.Content, a.ID)
		}
		if a.Normalized {
			if a.Content = t.Normalize(a.Content); a.Content != "" {
				t.normAdded = append(t.normAdded, a)
			}
			continue
		}
		t.added = append(t.added, a)
		t.addedFirst[a.Content[0]] = true
	}
	if len(t.normAdded) > 0 {
		sort.SliceStable(t.normAdded, func(i, j int) bool { return len(t.normAdded[i].Content) > len(t.normAdded[j].Content) })
		plain := *t
		plain.opts = Options{MaxInputCharsPerWord: t.maxChars}
		plain.stripAccents = false
		plain.added, plain.normAdded, plain.addedFirst = nil, nil, [256]bool{}
		plain.pool = newScratchPool()
		plain.initASCII()
		t.plain = &plain
	}
	t.singleFirst = -1
	for c, ok := range t.addedFirst {
		if !ok {
			continue
		}
		if t.singleFirst == -1 {
			t.singleFirst = c
		} else {
			t.singleFirst = -2
		}
	}
	if t.singleFirst == -2 {
		t.singleFirst = -1
	}
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].Content) > len(t.added[j].Content) })

	t.pool = newScratchPool()
	return t, nil
}

func newScratchPool() *sync.Pool {
	return &sync.Pool{New: func() any { return new(scratch) }}
}

// initASCII fills the per-byte tables of the ASCII fast path from t.opts.
func (t *Tokenizer) initASCII() {
	for c := 0; c < 128; c++ {
		p := computeProps(rune(c))
		k := asciiKeep
		switch {
		case t.opts.CleanText && (c == 0 || p&propControl != 0):
			k = asciiDrop
		case p&propSpace != 0:
			k = asciiSpace
		case p&propPunct != 0:
			k = asciiPunct
		}
		t.ascii[c] = k
		t.lowerASCII[c] = byte(c)
		if t.opts.Lowercase && c >= 'A' && c <= 'Z' {
			t.lowerASCII[c] = byte(c) + 'a' - 'A'
		}
	}
}

// Options returns the options the tokenizer was built with.
func (t *Tokenizer) Options() Options { return t.opts }

// VocabSize returns the number of ids (the largest id plus one).
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// ID returns the id of token.
func (t *Tokenizer) ID(token string) (int32, bool) {
	id, ok := t.word[token]
	return id, ok
}

// Token returns the token with the given id, or "" when there is none.
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.vocab) {
		return ""
	}
	return t.vocab[id]
}

// CLS returns the id of [CLS].
func (t *Tokenizer) CLS() int32 { return t.cls }

// SEP returns the id of [SEP].
func (t *Tokenizer) SEP() int32 { return t.sep }

// UNK returns the id of [UNK].
func (t *Tokenizer) UNK() int32 { return t.unk }

// PAD returns the id of [PAD], or -1 when the vocabulary has none.
func (t *Tokenizer) PAD() int32 { return t.pad }

// MASK returns the id of [MASK], or -1 when the vocabulary has none.
func (t *Tokenizer) MASK() int32 { return t.mask }

// AddedTokens returns the tokens matched literally in the raw text.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added...) }

// Vocab returns a copy of the id -> token table.
func (t *Tokenizer) Vocab() []string { return append([]string(nil), t.vocab...) }

// WriteVocab writes the vocabulary as a vocab.txt (one token per line, in
// id order) to path, atomically: a temporary file in the same folder is
// written, synced and renamed over path.
func (t *Tokenizer) WriteVocab(path string) error {
	var b strings.Builder
	for _, tok := range t.vocab {
		b.WriteString(tok)
		b.WriteByte('\n')
	}
	if err := atomicfile.WriteFile(path, []byte(b.String())); err != nil {
		return fmt.Errorf("wordpiece: %w", err)
	}
	return nil
}
