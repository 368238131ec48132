package wordpiece

import (
	"strings"
	"unicode/utf8"
)

// normalizeRunes applies HF's BertNormalizer to seg step by step, as HF
// does (clean text, CJK padding, NFD with canonical reordering and
// non-spacing marks dropped, per-character lowercasing). It returns the
// normalised runes and, for each, the code-point index in the input of the
// character it came from (r0 being the index of seg's first code point).
// Padding spaces take their ideograph's index.
func (t *Tokenizer) normalizeRunes(seg string, r0 int32) ([]rune, []int32) {
	var rs []rune
	var ro []int32
	ri := r0
	for _, r := range seg { // invalid bytes give U+FFFD, one per byte
		p := props(r)
		if t.opts.CleanText {
			if r == 0 || r == utf8.RuneError || p&propControl != 0 {
				ri++
				continue
			}
			if p&propSpace != 0 {
				r = ' '
			}
		}
		if t.opts.HandleChineseChars && p&propCJK != 0 {
			rs = append(rs, ' ', r, ' ')
			ro = append(ro, ri, ri, ri)
		} else {
			rs = append(rs, r)
			ro = append(ro, ri)
		}
		ri++
	}
	if t.stripAccents {
		var ds []rune
		var do []int32
		for i, r := range rs {
			n := len(ds)
			if props(r)&propDecomp != 0 {
				ds = decompose(ds, r)
			} else {
				ds = append(ds, r)
			}
			for ; n < len(ds); n++ {
				do = append(do, ro[i])
			}
		}
		// Canonical ordering: stable sort of each run of non-starters by
		// combining class.
		for i := 1; i < len(ds); i++ {
			if props(ds[i])&propNonStarter == 0 {
				continue
			}
			c := ccc(ds[i])
			for j := i; j > 0; j-- {
				if props(ds[j-1])&propNonStarter == 0 || ccc(ds[j-1]) <= c {
					break
				}
				ds[j-1], ds[j] = ds[j], ds[j-1]
				do[j-1], do[j] = do[j], do[j-1]
			}
		}
		rs, ro = rs[:0], ro[:0]
		for i, r := range ds {
			if props(r)&propMn == 0 {
				rs = append(rs, r)
				ro = append(ro, do[i])
			}
		}
	}
	if t.opts.Lowercase {
		var ls []rune
		var lo []int32
		for i, r := range rs {
			n := len(ls)
			ls = lower(ls, r)
			for ; n < len(ls); n++ {
				lo = append(lo, ro[i])
			}
		}
		rs, ro = ls, lo
	}
	return rs, ro
}

// Normalize returns text as HF's BertNormalizer leaves it (before
// pre-tokenisation and before added tokens are considered).
func (t *Tokenizer) Normalize(text string) string {
	rs, _ := t.normalizeRunes(text, 0)
	return string(rs)
}

// segmentNormalized is segment for tokenizers with normalized added
// tokens: it normalises seg as a whole, matches those tokens in the
// normalised text (leftmost-longest), and pre-tokenises and encodes the
// text between them with the plain (non-normalising) tokenizer.
func (t *Tokenizer) segmentNormalized(seg string, r0 int, q *seq, s *scratch) int {
	rs, ro := t.normalizeRunes(seg, int32(r0))
	end := r0 + utf8.RuneCountInString(seg)
	norm := string(rs)
	// byte offset -> rune index in norm
	runeAt := make([]int32, len(norm)+1)
	k := int32(0)
	for i := range norm {
		runeAt[i] = k
		k++
	}
	runeAt[len(norm)] = k
	orig := func(a, b int32) (int32, int32) { // normalised runes [a,b) -> input span
		lo, hi := ro[a], ro[a]+1
		for _, o := range ro[a+1 : b] {
			lo, hi = min(lo, o), max(hi, o+1)
		}
		return lo, hi
	}
	encodeGap := func(gap string, base int32) {
		mark := len(q.ids)
		t.plain.segment(gap, int(base), q, s)
		if q.wantOffs {
			for i := mark; i < len(q.offs); i++ {
				lo, hi := orig(int32(q.offs[i][0]), int32(q.offs[i][1]))
				q.offs[i] = [2]int{int(lo), int(hi)}
			}
		}
	}
	pos := 0
	for pos < len(norm) && !q.full() {
		ms, me, id := -1, -1, int32(0)
	search:
		for i := pos; i < len(norm); i++ {
			if !utf8.RuneStart(norm[i]) {
				continue
			}
			for _, a := range t.normAdded {
				if strings.HasPrefix(norm[i:], a.Content) {
					ms, me, id = i, i+len(a.Content), a.ID
					break search
				}
			}
		}
		if ms < 0 {
			encodeGap(norm[pos:], runeAt[pos])
			break
		}
		encodeGap(norm[pos:ms], runeAt[pos])
		if q.full() {
			break
		}
		lo, hi := orig(runeAt[ms], runeAt[me])
		q.emit(id, lo, hi)
		pos = me
	}
	return end
}
