package wordpiece

import (
	"sort"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Character property bits, as HF's BertNormalizer and BertPreTokenizer see
// them: control, punctuation and marks from the exact tables of the crate
// HF uses (unicode_categories 0.1.1, Unicode 8.0; see unicode8_tables.go),
// whitespace, case and decompositions from Go's tables.
const (
	propControl    uint8 = 1 << iota // Cc, Cf or Co (clean_text removes it), \t \n \r excluded
	propSpace                        // White_Space, plus \t \n \r
	propPunct                        // ASCII punctuation or P*
	propMn                           // non-spacing mark (strip_accents removes it)
	propCJK                          // ideograph padded by handle_chinese_chars
	propDecomp                       // has a canonical decomposition (NFD changes it)
	propLower                        // lowercasing changes it
	propNonStarter                   // canonical combining class > 0 (NFD reorders it)
)

var (
	bmpOnce  sync.Once
	bmpProps []uint8 // properties of U+0000..U+FFFF, built on first use
)

// inRanges reports whether r is in the sorted inclusive ranges t.
func inRanges(t [][2]rune, r rune) bool {
	i := sort.Search(len(t), func(i int) bool { return t[i][1] >= r })
	return i < len(t) && t[i][0] <= r
}

// isCJK is HF's is_chinese_char (including its 0x2B920 lower bound).
func isCJK(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF, r >= 0x3400 && r <= 0x4DBF,
		r >= 0x20000 && r <= 0x2A6DF, r >= 0x2A700 && r <= 0x2B73F,
		r >= 0x2B740 && r <= 0x2B81F, r >= 0x2B920 && r <= 0x2CEAF,
		r >= 0xF900 && r <= 0xFAFF, r >= 0x2F800 && r <= 0x2FA1F:
		return true
	}
	return false
}

func isHangulSyllable(r rune) bool { return r >= 0xAC00 && r <= 0xD7A3 }

// computeProps derives the property bits of r from Go's tables.
func computeProps(r rune) uint8 {
	var p uint8
	switch r {
	case '\t', '\n', '\r':
		return propSpace
	}
	if r < 0x80 {
		c := byte(r)
		if c < 0x20 || c == 0x7F {
			p |= propControl
		}
		if c == ' ' || c == '\v' || c == '\f' {
			p |= propSpace
		}
		if (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~') {
			p |= propPunct
		}
		if c >= 'A' && c <= 'Z' {
			p |= propLower
		}
		return p
	}
	if inRanges(hfOther, r) {
		p |= propControl
	}
	if unicode.IsSpace(r) {
		p |= propSpace
	}
	if inRanges(hfPunct, r) {
		p |= propPunct
	}
	if inRanges(hfMn, r) {
		p |= propMn
	}
	if isCJK(r) {
		p |= propCJK
	}
	if isHangulSyllable(r) {
		p |= propDecomp
	} else if r >= 0xC0 && utf8.ValidRune(r) {
		var b [utf8.UTFMax]byte
		n := utf8.EncodeRune(b[:], r)
		if len(norm.NFD.Properties(b[:n]).Decomposition()) > 0 {
			p |= propDecomp
		}
	}
	if r == 0x130 || unicode.ToLower(r) != r {
		p |= propLower
	}
	if ccc(r) != 0 {
		p |= propNonStarter
	}
	return p
}

// ccc returns the canonical combining class of r.
func ccc(r rune) uint8 {
	if r < 0x300 || !utf8.ValidRune(r) {
		return 0
	}
	var b [utf8.UTFMax]byte
	n := utf8.EncodeRune(b[:], r)
	return norm.NFD.Properties(b[:n]).CCC()
}

// insertMark appends the non-starter l (input index ri) to the word w/wo at
// its canonical position: after every rune of w[from:] whose combining
// class is not greater than l's (NFD's stable canonical reordering).
// moved reports whether l went before other runes.
func insertMark(w []byte, wo []int32, from int, l rune, ri int32) (_ []byte, _ []int32, moved bool) {
	cl := ccc(l)
	pos := len(w)
	for pos > from {
		r, size := utf8.DecodeLastRune(w[:pos])
		if ccc(r) <= cl {
			break
		}
		pos -= size
	}
	var b [utf8.UTFMax]byte
	n := utf8.EncodeRune(b[:], l)
	w = append(w, b[:n]...)
	copy(w[pos+n:], w[pos:len(w)-n])
	copy(w[pos:], b[:n])
	for k := 0; k < n; k++ {
		wo = append(wo, ri)
	}
	copy(wo[pos+n:], wo[pos:len(wo)-n])
	for k := pos; k < pos+n; k++ {
		wo[k] = ri
	}
	return w, wo, pos < len(w)-n
}

// props returns the property bits of r.
func props(r rune) uint8 {
	if r < 0x10000 {
		bmpOnce.Do(buildBMP)
		return bmpProps[r]
	}
	return computeProps(r)
}

func buildBMP() {
	t := make([]uint8, 0x10000)
	for r := range t {
		t[r] = computeProps(rune(r))
	}
	bmpProps = t
}

// decompose appends the canonical (NFD) decomposition of r to dst.
func decompose(dst []rune, r rune) []rune {
	if isHangulSyllable(r) {
		const sBase, lBase, vBase, tBase, tCount, nCount = 0xAC00, 0x1100, 0x1161, 0x11A7, 28, 588
		s := r - sBase
		dst = append(dst, lBase+s/nCount, vBase+(s%nCount)/tCount)
		if t := s % tCount; t != 0 {
			dst = append(dst, tBase+t)
		}
		return dst
	}
	var b [utf8.UTFMax]byte
	n := utf8.EncodeRune(b[:], r)
	d := norm.NFD.Properties(b[:n]).Decomposition()
	if len(d) == 0 {
		return append(dst, r)
	}
	for len(d) > 0 {
		c, size := utf8.DecodeRune(d)
		dst = append(dst, c)
		d = d[size:]
	}
	return dst
}

// lower appends HF's (Rust's char::to_lowercase) lowercase of r to dst.
func lower(dst []rune, r rune) []rune {
	if r == 0x130 { // İ lowercases to i + combining dot above
		return append(dst, 'i', 0x307)
	}
	return append(dst, unicode.ToLower(r))
}
