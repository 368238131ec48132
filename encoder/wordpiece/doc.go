// Package wordpiece is a pure-Go BERT WordPiece tokenizer that gives the
// same ids, token strings and offsets as HuggingFace tokenizers (0.23) with
// a BertWordPiece tokenizer.json: BertNormalizer (clean text, CJK padding,
// NFD accent stripping, per-character lowercasing), BertPreTokenizer
// (whitespace and punctuation splitting), greedy longest-match WordPiece
// with a continuing-subword prefix and a per-word character limit, special
// tokens matched literally in the raw text, [CLS]/[SEP] templates for single
// sequences and pairs, and HF's longest_first truncation (the 0.23 rule with
// its early exit, or the classic rule of tokenizers ≤ 0.22 as an option).
//
// Control, punctuation and non-spacing-mark classes are HF's exactly: they
// come from the tables of the Rust crate HF uses (unicode_categories 0.1.1,
// Unicode 8.0 data), generated into unicode8_tables.go by gen_unicode8.go.
// So a character assigned or recategorised after Unicode 8.0 is classed as
// HF classes it, and private-use characters other than the first and last
// of each private-use area are ordinary characters (the crate lists only
// the ends of UnicodeData's First/Last ranges), not removed as controls.
// Offsets count Unicode code points of the input; invalid UTF-8 bytes count
// as one code point each (U+FFFD), exactly as []rune(text) does.
//
// The hot path normalises, pre-tokenises and looks up word pieces in one
// pass over the bytes (ASCII through per-byte tables, other characters
// through a lazily built table of BMP properties), with pooled buffers and
// allocation-free map lookups. A tokenizer with normalized added tokens
// takes a step-by-step path (normalizeRunes, also behind Normalize) that
// follows HF's stages literally; tests and fuzzing check that both agree.
//
// Known differences from HF, none of which occurs in the reference fixture:
// NFD, lowercasing and whitespace use Go's Unicode 15 data (HF: its crates'
// and Rust's versions), which can differ only on characters that gained a
// decomposition (U+11938 alone) or a case mapping after those versions;
// added tokens'
// single_word flag is ignored; a pair with maxLen < 3 gives [CLS] [SEP]
// [SEP] (HF errors).
package wordpiece

//go:generate go run gen_unicode8.go
