package wordpiece

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/contriever-go/contriever/internal/fixture"
)

var (
	repoOnce sync.Once
	repoTok  *Tokenizer
	repoErr  error
)

// repoTokenizer loads the bundled bert-base-uncased vocab.txt.
func repoTokenizer(tb testing.TB) *Tokenizer {
	tb.Helper()
	path := fixture.Repo(tb, "data", "vocab", "vocab.txt")
	repoOnce.Do(func() { repoTok, repoErr = Load(path) })
	if repoErr != nil {
		tb.Fatal(repoErr)
	}
	return repoTok
}

func toks(tb testing.TB, tok *Tokenizer, text string) []string {
	tb.Helper()
	e := tok.Encode(text, 0)
	return e.Tokens[1 : len(e.Tokens)-1]
}

// TestUnicode8Props checks the generated table on the characters the
// fixture README names: HF uses Unicode-8-era categories.
func TestUnicode8Props(t *testing.T) {
	cases := []struct {
		r    rune
		bit  uint8
		want bool
	}{
		{0x2E42, propPunct, true}, {0x2E43, propPunct, false}, {0x2E5D, propPunct, false},
		{0x061C, propControl, true}, {0x110CD, propControl, false},
		{0x1AB0, propMn, true}, {0x1E944, propMn, false},
		{0x0301, propMn, true}, {0x0903, propMn, false}, {0x20E3, propMn, false},
		{0x00AD, propControl, true}, {0x200B, propControl, true}, {0xE000, propControl, true},
		{0x0378, propControl, false}, {0x0085, propControl, true}, {0x0085, propSpace, true},
		{0x3000, propSpace, true}, {'$', propPunct, true}, {0x00A7, propPunct, true},
		{0x4E2D, propCJK, true}, {0x2B81F, propCJK, true}, {0x2B820, propCJK, false},
		// unicode_categories 0.1.1 lists only the ends of private-use ranges.
		{0xE001, propControl, false}, {0xF8FF, propControl, true}, {0xF0000, propControl, true},
		{0xF0001, propControl, false}, {0x10FFFD, propControl, true},
		// Recategorised after Unicode 8.0: HF keeps the old category.
		{0x166D, propPunct, true}, {0x111C9, propPunct, true}, {0x111C9, propMn, false},
		{0x1734, propMn, true}, {0x1885, propMn, false}, {0xA9BD, propMn, false},
	}
	for _, c := range cases {
		if got := props(c.r)&c.bit != 0; got != c.want {
			t.Errorf("%U bit %b: %v, want %v", c.r, c.bit, got, c.want)
		}
	}
}

func TestNormalisationOptions(t *testing.T) {
	vocab := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Café", "café", "cafe", "Cafe",
		"i\u0307stanbul", "istanbul", "x\U0001E94A\U0001E944", "xxx", "Ä", "a", "##b", "中", "文", ",", "x"}
	f := false
	cases := []struct {
		name string
		opts Options
		text string
		want []string
	}{
		{"uncased", UncasedOptions(), "Café", []string{"cafe"}},
		{"cased", CasedOptions(), "Café", []string{"Café"}},
		{"lower-no-strip", Options{CleanText: true, Lowercase: true, StripAccents: &f}, "Café", []string{"café"}},
		{"strip-no-lower", Options{StripAccents: new(true)}, "Café", []string{"Cafe"}},
		{"dotted-I-lower-only", Options{Lowercase: true, StripAccents: &f}, "İstanbul", []string{"i\u0307stanbul"}},
		{"dotted-I-uncased", UncasedOptions(), "İstanbul", []string{"istanbul"}},
		{"cjk", UncasedOptions(), "中文,x", []string{"中", "文", ",", "x"}},
		{"no-cjk-padding", Options{CleanText: true, Lowercase: true}, "中文", []string{"[UNK]"}},
		{"clean", UncasedOptions(), "x\u200bx\x00\ufffd,\u00a0x", []string{"[UNK]", ",", "x"}},
		{"wordpiece", UncasedOptions(), "ab abb", []string{"a", "##b", "a", "##b", "##b"}},
		{"no-clean-control-kept", Options{}, "x\x01", []string{"[UNK]"}},
		{"private-use-ends-removed", UncasedOptions(), "x\ue000x\uf8ffx", []string{"xxx"}},
		{"private-use-kept", UncasedOptions(), "a\ue001b x\ue000", []string{"[UNK]", "x"}},
		{"no-clean-vt-splits", Options{}, "x\vx", []string{"x", "x"}},
		// NFD reorders marks by combining class; U+1E944 (ccc 230) and
		// U+1E94A (ccc 7) are Mn only after Unicode 8, so HF keeps them.
		{"canonical-order", UncasedOptions(), "x\U0001E944\U0001E94A", []string{"x\U0001E94A\U0001E944"}},
		{"canonical-order-kept", UncasedOptions(), "x\U0001E94A\U0001E944", []string{"x\U0001E94A\U0001E944"}},
		{"canonical-order-stripped-between", UncasedOptions(), "x\U0001E944\u0301\u200b\U0001E94A", []string{"x\U0001E94A\U0001E944"}},
		{"starter-breaks-run", UncasedOptions(), "x\U0001E944a\U0001E94A", []string{"[UNK]"}},
	}
	for _, c := range cases {
		tok, err := NewFromVocab(vocab, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := toks(t, tok, c.text); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q -> %q, want %q", c.name, c.text, got, c.want)
		}
	}
}

func TestSpecialTokensAndOffsets(t *testing.T) {
	tok := repoTokenizer(t)
	text := "Ünï[CLS]x [cls]  😀 [MASK][MASK]"
	e := tok.Encode(text, 0)
	want := []string{"[CLS]", "un", "##i", "[CLS]", "x", "[", "cl", "##s", "]", "[UNK]", "[MASK]", "[MASK]", "[SEP]"}
	if !slices.Equal(e.Tokens, want) {
		t.Fatalf("tokens %q, want %q", e.Tokens, want)
	}
	rs := []rune(text)
	spans := []string{"", "Ün", "ï", "[CLS]", "x", "[", "cl", "s", "]", "😀", "[MASK]", "[MASK]", ""}
	for i, o := range e.Offsets {
		if got := string(rs[o[0]:o[1]]); got != spans[i] {
			t.Errorf("token %d %q: span %v = %q, want %q", i, e.Tokens[i], o, got, spans[i])
		}
	}
}

func TestNormalizedAddedTokens(t *testing.T) {
	base := repoTokenizer(t)
	opts := UncasedOptions()
	opts.AddedTokens = append(base.AddedTokens(), AddedToken{Content: "Cov-Ïd", ID: 7, Normalized: true})
	tok, err := NewFromVocab(base.Vocab(), opts)
	if err != nil {
		t.Fatal(err)
	}
	text := "the COV-\u00cfD\u200b cases, [CLS] cov-id!"
	e := tok.Encode(text, 0)
	want := []string{"[CLS]", "the", base.Token(7), "cases", ",", "[CLS]", base.Token(7), "!", "[SEP]"}
	if !slices.Equal(e.Tokens, want) {
		t.Fatalf("tokens %q, want %q", e.Tokens, want)
	}
	rs := []rune(text)
	if got := string(rs[e.Offsets[2][0]:e.Offsets[2][1]]); got != "COV-\u00cfD" {
		t.Errorf("normalized added token span %v = %q", e.Offsets[2], got)
	}
	if got := tok.Normalize("\u00dcn\u00ef \u00a0Caf\u00e9\t\u4e2d\x00x"); got != "uni  cafe  \u4e2d x" {
		t.Errorf("Normalize: %q", got)
	}
}

// TestInvalidUTF8 checks that invalid bytes act as U+FFFD (removed by
// clean_text) and count one code point each in the offsets.
func TestInvalidUTF8(t *testing.T) {
	tok := repoTokenizer(t)
	text := "\xffab\xc3 c\xe2\x82"
	e := tok.Encode(text, 0)
	if want := []string{"[CLS]", "ab", "c", "[SEP]"}; !slices.Equal(e.Tokens, want) {
		t.Fatalf("tokens %q, want %q", e.Tokens, want)
	}
	if want := [][2]int{{0, 0}, {1, 3}, {5, 6}, {0, 0}}; !slices.Equal(e.Offsets, want) {
		t.Errorf("offsets %v, want %v", e.Offsets, want)
	}
}

func TestTruncation(t *testing.T) {
	tok := repoTokenizer(t)
	text := "one two three four five"
	full := tok.Encode(text, 0)
	for maxLen := 1; maxLen <= len(full.IDs)+2; maxLen++ {
		e := tok.Encode(text, maxLen)
		n := min(max(maxLen, 2), len(full.IDs))
		if len(e.IDs) != n {
			t.Fatalf("maxLen %d: %d tokens, want %d", maxLen, len(e.IDs), n)
		}
		if want := append(slices.Clone(full.IDs[:n-1]), tok.SEP()); !slices.Equal(e.IDs, want) {
			t.Errorf("maxLen %d: %v, want %v", maxLen, e.IDs, want)
		}
		if ids := tok.EncodeIDs(text, maxLen); !slices.Equal(ids, e.IDs) {
			t.Errorf("EncodeIDs maxLen %d: %v, want %v", maxLen, ids, e.IDs)
		}
		p := tok.EncodePair(text, text, maxLen)
		if len(p.IDs) > max(maxLen, 3) {
			t.Errorf("pair maxLen %d: %d tokens", maxLen, len(p.IDs))
		}
	}
}

// TestLongestFirst checks the arithmetic against the rule as the fixture
// README states it for a budget of 125.
func TestLongestFirst(t *testing.T) {
	const budget = 125
	for n1 := 0; n1 <= 300; n1++ {
		for n2 := 0; n2 <= 300; n2++ {
			k1, k2 := longestFirst(n1, n2, budget)
			w1, w2 := n1, n2
			if n1+n2 > budget {
				s := min(n1, n2)
				switch {
				case s <= 62 && n1 <= n2:
					w1, w2 = n1, budget-n1
				case s <= 62:
					w1, w2 = budget-n2, n2
				case n1 > n2:
					w1, w2 = 63, 62
				default: // B longer, or a tie: B gets 63
					w1, w2 = 62, 63
				}
			}
			if k1 != w1 || k2 != w2 {
				t.Fatalf("longestFirst(%d, %d) = %d, %d; want %d, %d", n1, n2, k1, k2, w1, w2)
			}
		}
	}
}

func TestEncodeBatchAndPad(t *testing.T) {
	tok := repoTokenizer(t)
	texts := []string{"hello world", "", "a much longer sentence with many words in it", "[MASK]"}
	encs := tok.EncodeBatch(texts, 6)
	for i, e := range encs {
		if w := tok.Encode(texts[i], 6); !slices.Equal(e.IDs, w.IDs) {
			t.Errorf("batch %d: %v, want %v", i, e.IDs, w.IDs)
		}
	}
	var many []string
	for i := 0; i < 300; i++ {
		many = append(many, strings.Repeat("Naïve tokenisation [SEP] 中文 ", i%9)+strings.Repeat("z", i))
	}
	for i, e := range tok.EncodeBatch(many, 64) {
		if w := tok.Encode(many[i], 64); !slices.Equal(e.IDs, w.IDs) || !slices.Equal(e.Offsets, w.Offsets) {
			t.Fatalf("batch item %d differs from Encode", i)
		}
	}
	b := tok.Pad(encs, 0)
	if b.Size != 4 || b.Seq != 6 || len(b.IDs) != 24 {
		t.Fatalf("batch %d x %d, %d ids", b.Size, b.Seq, len(b.IDs))
	}
	row1 := b.IDs[6:12]
	if want := []int32{101, 102, 0, 0, 0, 0}; !slices.Equal(row1, want) {
		t.Errorf("row 1 %v, want %v", row1, want)
	}
	if want := []int32{1, 1, 0, 0, 0, 0}; !slices.Equal(b.AttentionMask[6:12], want) {
		t.Errorf("mask row 1 %v, want %v", b.AttentionMask[6:12], want)
	}
	pairs := tok.EncodePairBatch([]string{"a"}, []string{"b c"}, 0)
	pb := PadEncodings(pairs, 8, -7)
	if want := []int32{101, 1037, 102, 1038, 1039, 102, -7, -7}; !slices.Equal(pb.IDs, want) {
		t.Errorf("pair ids %v, want %v", pb.IDs, want)
	}
	if want := []int32{0, 0, 0, 1, 1, 1, 0, 0}; !slices.Equal(pb.TypeIDs, want) {
		t.Errorf("pair type ids %v, want %v", pb.TypeIDs, want)
	}
}

func TestLoadFolderAndWriteVocab(t *testing.T) {
	tok := repoTokenizer(t)
	dir := t.TempDir()
	if err := tok.WriteVocab(filepath.Join(dir, "vocab.txt")); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile(fixture.Repo(t, "data", "vocab", "vocab.txt"))
	got, _ := os.ReadFile(filepath.Join(dir, "vocab.txt"))
	if string(src) != string(got) {
		t.Fatalf("WriteVocab output differs from the source vocab.txt (%d vs %d bytes)", len(got), len(src))
	}
	folder, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := toks(t, folder, "Café"); !slices.Equal(got, []string{"cafe"}) {
		t.Errorf("folder (default uncased): %q", got)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"do_lower_case": false}`), 0o644)
	cased, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := toks(t, cased, "Café"); slices.Equal(got, []string{"cafe"}) {
		t.Errorf("do_lower_case false still lowercases: %q", got)
	}
	lc := true
	forced, err := LoadWith(dir, LoadConfig{Lowercase: &lc})
	if err != nil {
		t.Fatal(err)
	}
	if got := toks(t, forced, "Café"); !slices.Equal(got, []string{"cafe"}) {
		t.Errorf("LoadConfig.Lowercase true: %q", got)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"do_lower_case": true, "strip_accents": false, "tokenize_chinese_chars": false,
		"mask_token": {"content": "[unused1]", "lstrip": true}, "pad_token": null}`), 0o644)
	noStrip, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := toks(t, noStrip, "CAFÉ 中文"); !slices.Equal(got, []string{"[UNK]", "中", "##文"}) { // no "café" in the vocab
		t.Errorf("strip_accents false, tokenize_chinese_chars false: %q", got)
	}
	if noStrip.MASK() != 2 || noStrip.PAD() != 0 {
		t.Errorf("mask_token from tokenizer_config.json: MASK %d PAD %d", noStrip.MASK(), noStrip.PAD())
	}
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"do_lower_case": "yes"}`), 0o644)
	if _, err := Load(dir); !errors.Is(err, ErrFormat) {
		t.Errorf("bad tokenizer_config.json: %v", err)
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty folder: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := NewFromVocab(nil, UncasedOptions()); !errors.Is(err, ErrEmptyVocab) {
		t.Errorf("empty vocab: %v", err)
	}
	if _, err := NewFromVocab([]string{"[CLS]", "[SEP]", "a"}, UncasedOptions()); !errors.Is(err, ErrMissingToken) {
		t.Errorf("no [UNK]: %v", err)
	}
	if _, err := FromTokenizerJSON([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}}}`), false); !errors.Is(err, ErrUnsupported) {
		t.Errorf("BPE: %v", err)
	}
	if _, err := FromTokenizerJSON([]byte(`{"model": `), false); !errors.Is(err, ErrFormat) {
		t.Errorf("truncated JSON: %v", err)
	}
	if _, err := FromTokenizerJSON([]byte(`{"model": {"vocab": {}}}`), false); !errors.Is(err, ErrEmptyVocab) {
		t.Errorf("empty vocab: %v", err)
	}
	if _, err := ReadVocab(strings.NewReader("")); !errors.Is(err, ErrEmptyVocab) {
		t.Errorf("empty vocab.txt: %v", err)
	}
}

// checkEncoding asserts the invariants every encoding of text must hold.
func checkEncoding(t *testing.T, tok *Tokenizer, text string, e Encoding, maxLen int, pair bool) {
	t.Helper()
	n := len(e.IDs)
	if len(e.TypeIDs) != n || len(e.AttentionMask) != n || len(e.Offsets) != n || len(e.Tokens) != n {
		t.Fatalf("%q: field lengths differ", text)
	}
	minLen := 2
	if pair {
		minLen = 3
	}
	if n < minLen || (maxLen > 0 && n > max(maxLen, minLen)) {
		t.Fatalf("%q: %d tokens with maxLen %d", text, n, maxLen)
	}
	if e.IDs[0] != tok.CLS() || e.IDs[n-1] != tok.SEP() {
		t.Fatalf("%q: not [CLS] ... [SEP]: %v", text, e.IDs)
	}
	for i, id := range e.IDs {
		if id < 0 || int(id) >= tok.VocabSize() || e.Tokens[i] != tok.Token(id) {
			t.Fatalf("%q: bad id %d / token %q", text, id, e.Tokens[i])
		}
	}
	if !pair {
		nr := utf8.RuneCountInString(text)
		for i, o := range e.Offsets[1 : n-1] {
			if o[0] < 0 || o[0] >= o[1] || o[1] > nr {
				t.Fatalf("%q: token %d offsets %v (%d code points)", text, i+1, o, nr)
			}
		}
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "hello world", "Café [CLS] naïve", "\xff\xfe", "中文 😀 \u0301a", "ǅ İ ß ﬁ", strings.Repeat("é", 101),
		"a\u0000b\u200bc\u0085d", "[MASK][MASK", "x[SEP]", "x\U0001E944\U0001E94A y\U0001E94A\u0301\U0001E944", "\u1100\u302e\u302f\u0316",
		"\u1D165\u1D16D\u1D166 \u1B44\u0300\u1B44", "\U0001D15F\U0001D16D\U0001D165", "\uf900\u0301\u4e2d\u0345", "\u037e\u0387\u1fef\u2126"} {
		f.Add(s, 0)
		f.Add(s, 5)
	}
	tok := repoTokenizer(f)
	opts := tok.Options()
	opts.AddedTokens = append(tok.AddedTokens(), AddedToken{Content: "QQQ never ZZZ", ID: 1, Normalized: true})
	slow, err := NewFromVocab(tok.Vocab(), opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string, maxLen int) {
		maxLen %= 600
		e := tok.Encode(text, maxLen)
		checkEncoding(t, tok, text, e, maxLen, false)
		// The fused fast path must agree with the step-by-step normaliser.
		if !strings.Contains(slow.Normalize(text), "qqq never zzz") {
			if se := slow.Encode(text, maxLen); !slices.Equal(se.IDs, e.IDs) || !slices.Equal(se.Offsets, e.Offsets) {
				t.Fatalf("%+q: fast path %v %v, step-by-step %v %v", text, e.Tokens, e.Offsets, se.Tokens, se.Offsets)
			}
		}
		if ids := tok.EncodeIDs(text, maxLen); !slices.Equal(ids, e.IDs) {
			t.Fatalf("%q: EncodeIDs %v, Encode %v", text, ids, e.IDs)
		}
		full := tok.Encode(text, 0)
		if !slices.Equal(tok.Tokenize(text), full.IDs[1:len(full.IDs)-1]) {
			t.Fatalf("%q: Tokenize differs from Encode", text)
		}
		if maxLen > 0 {
			k := min(len(full.IDs), max(maxLen, 2))
			if !slices.Equal(e.IDs[:k-1], full.IDs[:k-1]) {
				t.Fatalf("%q: truncated encoding is not a prefix", text)
			}
		}
	})
}

func FuzzEncodePair(f *testing.F) {
	f.Add("what is this?", "A document about things.", 16)
	f.Add("", "", 3)
	f.Add(strings.Repeat("a ", 200), strings.Repeat("b ", 130), 128)
	f.Add("\xff", "[SEP]", 1)
	tok := repoTokenizer(f)
	f.Fuzz(func(t *testing.T, a, b string, maxLen int) {
		maxLen %= 300
		e := tok.EncodePair(a, b, maxLen)
		checkEncoding(t, tok, a+b, e, maxLen, true)
		na, nb := 0, 0
		for _, ty := range e.TypeIDs {
			if ty == 0 {
				na++
			} else {
				nb++
			}
		}
		la, lb := len(tok.Tokenize(a)), len(tok.Tokenize(b))
		if na-2 > la || nb-1 > lb {
			t.Fatalf("pair kept %d/%d of %d/%d pieces", na-2, nb-1, la, lb)
		}
		if maxLen <= 0 && (na-2 != la || nb-1 != lb) {
			t.Fatalf("untruncated pair kept %d/%d of %d/%d pieces", na-2, nb-1, la, lb)
		}
	})
}

func FuzzReadVocab(f *testing.F) {
	f.Add([]byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n##b\n"))
	f.Add([]byte("[UNK]\r\n[CLS]\r\n[SEP]\r\n\r\n\xff\n##\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := ReadVocab(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		tok, err := NewFromVocab(tokens, UncasedOptions())
		if err != nil {
			return
		}
		for _, s := range []string{"ab abb [UNK]", string(data)} {
			checkEncoding(t, tok, s, tok.Encode(s, 0), 0, false)
		}
	})
}

func FuzzFromTokenizerJSON(f *testing.F) {
	f.Add([]byte(`{"added_tokens":[{"id":0,"content":"[PAD]","special":true},{"id":1,"content":"[UNK]","special":true},{"id":2,"content":"[CLS]","special":true},{"id":3,"content":"[SEP]","special":true}],` +
		`"normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},"pre_tokenizer":{"type":"BertPreTokenizer"},` +
		`"post_processor":{"type":"BertProcessing","sep":["[SEP]",3],"cls":["[CLS]",2]},"model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,` +
		`"vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"a":4,"##b":5}}}`))
	f.Add([]byte(`{"model":{"vocab":{"[UNK]":1,"[CLS]":2,"[SEP]":70000000}}}`))
	f.Add([]byte(`{"added_tokens":[{"id":9,"content":"x","lstrip":true,"rstrip":true}],"model":{"vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2}}}`))
	f.Add([]byte(`{"added_tokens":[{"id":1,"content":"A\u0301b","normalized":true},{"id":0,"content":"[UNK]"}],"normalizer":{"type":"BertNormalizer"},"model":{"vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2,"ab":3}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := FromTokenizerJSON(data, false)
		if err != nil {
			return
		}
		for _, s := range []string{"ab abb [UNK] x  x", string(data)} {
			checkEncoding(t, tok, s, tok.Encode(s, 0), 0, false)
			tok.EncodePair(s, s, 7)
		}
	})
}

func TestTokenizerJSONTemplateNames(t *testing.T) {
	js := `{"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<cls>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"<sep>","type_id":0}}]},` +
		`"added_tokens":[{"id":1,"content":"<cls>","special":true},{"id":2,"content":"<sep>","special":true}],` +
		`"normalizer":{"type":"BertNormalizer","lowercase":false},"model":{"type":"WordPiece","unk_token":"<unk>","continuing_subword_prefix":"@@","vocab":{"<unk>":0,"<cls>":1,"<sep>":2,"a":3,"@@b":4,"A":5}}}`
	tok, err := FromTokenizerJSON([]byte(js), false)
	if err != nil {
		t.Fatal(err)
	}
	e := tok.Encode("ab A<sep>x", 0)
	if want := []int32{1, 3, 4, 5, 2, 0, 2}; !slices.Equal(e.IDs, want) {
		t.Errorf("ids %v, want %v (tokens %q)", e.IDs, want, e.Tokens)
	}
	if tok.CLS() != 1 || tok.SEP() != 2 || tok.UNK() != 0 || tok.PAD() != -1 || tok.MASK() != -1 {
		t.Errorf("specials cls %d sep %d unk %d pad %d mask %d", tok.CLS(), tok.SEP(), tok.UNK(), tok.PAD(), tok.MASK())
	}
}

// TestTokenizerJSONMatchesVocabTxt checks that HF's tokenizer.json and the
// bundled vocab.txt give the same vocabulary and special ids.
func TestTokenizerJSONMatchesVocabTxt(t *testing.T) {
	a := repoTokenizer(t)
	b := hfTokenizer(t, false)
	if !slices.Equal(a.Vocab(), b.Vocab()) {
		t.Fatal("vocabularies differ")
	}
	if a.CLS() != 101 || b.CLS() != 101 || a.SEP() != 102 || b.SEP() != 102 || a.PAD() != 0 || b.PAD() != 0 ||
		a.UNK() != 100 || b.UNK() != 100 || a.MASK() != 103 || b.MASK() != 103 || a.VocabSize() != 30522 {
		t.Errorf("special ids differ from bert-base-uncased's")
	}
	if id, ok := a.ID("##ing"); !ok || a.Token(id) != "##ing" {
		t.Errorf("ID/Token round trip for ##ing: %d %v", id, ok)
	}
	if _, ok := a.ID("no-such-token"); ok {
		t.Error("ID found a token that is not in the vocabulary")
	}
}
