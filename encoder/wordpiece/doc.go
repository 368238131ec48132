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
// Character classes follow HF's Unicode-8-era tables: a character that Go's
// Unicode 15 tables class as punctuation, control/format/private-use or
// non-spacing mark but that Unicode 8.0 had not yet assigned is treated as
// an ordinary character (see unicode8_tables.go, made by gen_unicode8.go).
// Offsets count Unicode code points of the input; invalid UTF-8 bytes count
// as one code point each (U+FFFD), exactly as []rune(text) does.
package wordpiece

//go:generate go run gen_unicode8.go
