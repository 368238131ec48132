package wordpiece

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/contriever-go/contriever/internal/parallel"
)

// Encoding is the result of encoding one sequence or one pair, with the
// special tokens in place: [CLS] A [SEP] or [CLS] A [SEP] B [SEP].
type Encoding struct {
	// IDs are the token ids.
	IDs []int32
	// TypeIDs are 0 on [CLS] A [SEP] and 1 on B [SEP].
	TypeIDs []int32
	// AttentionMask is 1 for every token (padding adds the zeros).
	AttentionMask []int32
	// Offsets are the [start, end) spans of the tokens in the input text,
	// in Unicode code points (invalid UTF-8 bytes count one each, as in
	// []rune(text)). Pair offsets index their own text. [CLS] and [SEP]
	// added by the template have [0, 0].
	Offsets [][2]int
	// Tokens are the token strings of IDs (such as "##ing" or "[UNK]").
	Tokens []string
}

// Len returns the number of tokens.
func (e Encoding) Len() int { return len(e.IDs) }

// seq accumulates the pieces of one sequence.
type seq struct {
	ids      []int32
	offs     [][2]int
	wantOffs bool
	limit    int // stop after the word at which len(ids) >= limit; < 0: none
}

func (q *seq) reset(wantOffs bool, limit int) {
	q.ids = q.ids[:0]
	q.offs = q.offs[:0]
	q.wantOffs = wantOffs
	q.limit = limit
}

func (q *seq) full() bool { return q.limit >= 0 && len(q.ids) >= q.limit }

func (q *seq) emit(id int32, start, end int32) {
	q.ids = append(q.ids, id)
	if q.wantOffs {
		q.offs = append(q.offs, [2]int{int(start), int(end)})
	}
}

// scratch holds the reusable buffers of one encoding call.
type scratch struct {
	a, b  seq
	word  []byte  // normalised bytes of the current word
	wordO []int32 // code-point index in the input of each byte of word
	runes []rune  // decomposition buffer
	low   []rune  // lowercasing buffer
	// reordered is set when canonical reordering moved a mark in the
	// current word, whose input indices are then no longer increasing.
	reordered bool
}

// tokenizeInto splits text on added tokens, normalises, pre-tokenises and
// WordPiece-encodes the rest, appending to q until q is full.
func (t *Tokenizer) tokenizeInto(text string, q *seq, s *scratch) {
	if q.full() {
		return
	}
	pos, rpos := 0, 0
	for pos < len(text) {
		ms, me, id := t.nextAdded(text, pos)
		segEnd := len(text)
		if ms >= 0 {
			segEnd = ms
		}
		if t.normAdded != nil {
			rpos = t.segmentNormalized(text[pos:segEnd], rpos, q, s)
		} else {
			rpos = t.segment(text[pos:segEnd], rpos, q, s)
		}
		if ms < 0 || q.full() {
			return
		}
		n := utf8.RuneCountInString(text[ms:me])
		q.emit(id, int32(rpos), int32(rpos+n))
		rpos += n
		pos = me
		if q.full() {
			return
		}
	}
}

// nextAdded finds the leftmost-longest added token at or after byte from.
// It returns the match's byte span (widened by lstrip/rstrip) and id, or
// ms = -1.
func (t *Tokenizer) nextAdded(text string, from int) (ms, me int, id int32) {
	if len(t.added) == 0 {
		return -1, -1, 0
	}
	for i := from; i < len(text); i++ {
		if t.singleFirst >= 0 {
			j := strings.IndexByte(text[i:], byte(t.singleFirst))
			if j < 0 {
				return -1, -1, 0
			}
			i += j
		} else if !t.addedFirst[text[i]] {
			continue
		}
		rest := text[i:]
		for k := range t.added {
			a := &t.added[k]
			if !strings.HasPrefix(rest, a.Content) {
				continue
			}
			ms, me = i, i+len(a.Content)
			if a.LStrip {
				for ms > from {
					r, size := utf8.DecodeLastRuneInString(text[from:ms])
					if props(r)&propSpace == 0 {
						break
					}
					ms -= size
				}
			}
			if a.RStrip {
				for me < len(text) {
					r, size := utf8.DecodeRuneInString(text[me:])
					if props(r)&propSpace == 0 {
						break
					}
					me += size
				}
			}
			return ms, me, a.ID
		}
	}
	return -1, -1, 0
}

// segment normalises, pre-tokenises and encodes seg, whose first code
// point has index r0 in the input. It returns the index after seg.
func (t *Tokenizer) segment(seg string, r0 int, q *seq, s *scratch) int {
	w, wo := s.word[:0], s.wordO[:0]
	nr := 0 // code points in the current word
	// runFrom is where, in w, the current run of non-starters began
	// (after the last starter): NFD reorders marks within such a run.
	runFrom := 0
	ri := int32(r0)
	defer func() { s.word, s.wordO = w[:0], wo[:0] }()
	for i := 0; i < len(seg); {
		c := seg[i]
		if c < utf8.RuneSelf {
			switch t.ascii[c] {
			case asciiKeep:
				w = append(w, t.lowerASCII[c])
				wo = append(wo, ri)
				nr++
				runFrom = len(w)
			case asciiSpace:
				if len(w) > 0 {
					t.wordPiece(w, wo, nr, q, s)
					w, wo, nr, runFrom = w[:0], wo[:0], 0, 0
					if q.full() {
						return int(ri)
					}
				}
			case asciiPunct:
				if len(w) > 0 {
					t.wordPiece(w, wo, nr, q, s)
					w, wo, nr, runFrom = w[:0], wo[:0], 0, 0
					if q.full() {
						return int(ri)
					}
				}
				t.wordPiece(append(w, c), append(wo, ri), 1, q, s)
				if q.full() {
					return int(ri)
				}
			}
			i++
			ri++
			continue
		}
		r, size := utf8.DecodeRuneInString(seg[i:])
		i += size
		p := props(r)
		if t.opts.CleanText && (r == utf8.RuneError || p&propControl != 0) {
			ri++
			continue
		}
		cjk := t.opts.HandleChineseChars && p&propCJK != 0
		if cjk && len(w) > 0 {
			t.wordPiece(w, wo, nr, q, s)
			w, wo, nr, runFrom = w[:0], wo[:0], 0, 0
			if q.full() {
				return int(ri)
			}
		}
		rs := s.runes[:0]
		if t.stripAccents && p&propDecomp != 0 {
			rs = decompose(rs, r)
		} else {
			rs = append(rs, r)
		}
		s.runes = rs
		for _, c := range rs {
			pc := p
			if c != r {
				pc = props(c)
			}
			if t.stripAccents && pc&propMn != 0 {
				if pc&propNonStarter == 0 {
					runFrom = len(w)
				}
				continue
			}
			ls := s.low[:0]
			if t.opts.Lowercase && pc&propLower != 0 {
				ls = lower(ls, c)
			} else {
				ls = append(ls, c)
			}
			s.low = ls
			for _, l := range ls {
				pl := pc
				if l != c {
					pl = props(l)
				}
				switch {
				case pl&propSpace != 0:
					if len(w) > 0 {
						t.wordPiece(w, wo, nr, q, s)
						w, wo, nr, runFrom = w[:0], wo[:0], 0, 0
						if q.full() {
							return int(ri)
						}
					}
				case pl&propPunct != 0:
					if len(w) > 0 {
						t.wordPiece(w, wo, nr, q, s)
						w, wo, nr, runFrom = w[:0], wo[:0], 0, 0
						if q.full() {
							return int(ri)
						}
					}
					n := len(w)
					w = utf8.AppendRune(w, l)
					for ; n < len(w); n++ {
						wo = append(wo, ri)
					}
					t.wordPiece(w, wo, 1, q, s)
					w, wo, runFrom = w[:0], wo[:0], 0
					if q.full() {
						return int(ri)
					}
				default:
					if t.stripAccents && pl&propNonStarter != 0 {
						var moved bool
						w, wo, moved = insertMark(w, wo, runFrom, l, ri)
						s.reordered = s.reordered || moved
					} else {
						n := len(w)
						w = utf8.AppendRune(w, l)
						for ; n < len(w); n++ {
							wo = append(wo, ri)
						}
						runFrom = len(w)
					}
					nr++
				}
			}
		}
		if cjk && len(w) > 0 {
			t.wordPiece(w, wo, nr, q, s)
			w, wo, nr, runFrom = w[:0], wo[:0], 0, 0
			if q.full() {
				return int(ri)
			}
		}
		ri++
	}
	if len(w) > 0 {
		t.wordPiece(w, wo, nr, q, s)
	}
	return int(ri)
}

// wordPiece encodes one pre-token w (nr code points; wo[i] is the input
// code-point index of byte i) with greedy longest-match-first WordPiece.
func (t *Tokenizer) wordPiece(w []byte, wo []int32, nr int, q *seq, s *scratch) {
	reordered := s.reordered
	s.reordered = false
	span := func(a, b int) (int32, int32) {
		if !reordered {
			return wo[a], wo[b-1] + 1
		}
		return slices.Min(wo[a:b]), slices.Max(wo[a:b]) + 1
	}
	if nr > t.maxChars {
		lo, hi := span(0, len(w))
		q.emit(t.unk, lo, hi)
		return
	}
	mark := len(q.ids)
	m, maxLen := t.word, t.maxWordLen
	for start := 0; start < len(w); {
		end := len(w)
		if end-start > maxLen {
			end = start + maxLen
			for end > start && !utf8.RuneStart(w[end]) {
				end--
			}
		}
		id := int32(-1)
		for end > start {
			if v, ok := m[string(w[start:end])]; ok {
				id = v
				break
			}
			end--
			for end > start && !utf8.RuneStart(w[end]) {
				end--
			}
		}
		if id < 0 {
			q.ids = q.ids[:mark]
			if q.wantOffs {
				q.offs = q.offs[:mark]
			}
			lo, hi := span(0, len(w))
			q.emit(t.unk, lo, hi)
			return
		}
		lo, hi := span(start, end)
		q.emit(id, lo, hi)
		start = end
		m, maxLen = t.cont, t.maxContLen
	}
}

// longestFirst returns how many pieces of each sequence HF's longest_first
// truncation keeps when the pair's content budget is budget and the
// sequences measure n1 and n2 (tokenizers/src/utils/truncation.rs).
func longestFirst(n1, n2, budget int) (int, int) {
	if n1+n2 <= budget {
		return n1, n2
	}
	swap := false
	if n1 > n2 {
		swap = true
		n1, n2 = n2, n1
	}
	if n1 > budget {
		n2 = n1
	} else {
		n2 = max(n1, budget-n1)
	}
	if n1+n2 > budget {
		n1 = budget / 2
		n2 = n1 + budget%2
	}
	if swap {
		n1, n2 = n2, n1
	}
	return n1, n2
}

// Encode encodes text as [CLS] text [SEP]. With maxLen > 0 the encoding is
// cut to at most maxLen tokens, specials included (HF's truncation to
// max_length, direction right); maxLen of 1 or 2 gives [CLS] [SEP].
func (t *Tokenizer) Encode(text string, maxLen int) Encoding {
	s := t.pool.Get().(*scratch)
	limit := -1
	if maxLen > 0 {
		limit = max(maxLen-2, 0)
	}
	s.a.reset(true, limit)
	t.tokenizeInto(text, &s.a, s)
	if limit >= 0 && len(s.a.ids) > limit {
		s.a.ids, s.a.offs = s.a.ids[:limit], s.a.offs[:limit]
	}
	e := t.build(&s.a, nil)
	t.pool.Put(s)
	return e
}

// EncodePair encodes a and b as [CLS] a [SEP] b [SEP] with type id 1 on b
// and its [SEP]. With maxLen > 0 the pair is cut to maxLen tokens by HF's
// longest_first rule: tokenizers 0.23's (each side measured only up to the
// word at which it reaches maxLen pieces), or the classic rule of
// tokenizers ≤ 0.22 when Options.ClassicTruncation is set.
func (t *Tokenizer) EncodePair(a, b string, maxLen int) Encoding {
	s := t.pool.Get().(*scratch)
	limit := -1
	if maxLen > 0 && !t.opts.ClassicTruncation {
		limit = maxLen
	}
	s.a.reset(true, limit)
	s.b.reset(true, limit)
	t.tokenizeInto(a, &s.a, s)
	t.tokenizeInto(b, &s.b, s)
	if maxLen > 0 {
		k1, k2 := longestFirst(len(s.a.ids), len(s.b.ids), max(maxLen-3, 0))
		s.a.ids, s.a.offs = s.a.ids[:k1], s.a.offs[:k1]
		s.b.ids, s.b.offs = s.b.ids[:k2], s.b.offs[:k2]
	}
	e := t.build(&s.a, &s.b)
	t.pool.Put(s)
	return e
}

// build lays out [CLS] a [SEP] (b [SEP]) in a fresh Encoding.
func (t *Tokenizer) build(a, b *seq) Encoding {
	n := len(a.ids) + 2
	if b != nil {
		n += len(b.ids) + 1
	}
	buf := make([]int32, 3*n)
	e := Encoding{
		IDs:           buf[:0:n],
		TypeIDs:       buf[n : 2*n : 2*n],
		AttentionMask: buf[2*n : 3*n : 3*n],
		Offsets:       make([][2]int, 0, n),
		Tokens:        make([]string, n),
	}
	e.IDs = append(e.IDs, t.cls)
	e.Offsets = append(e.Offsets, [2]int{})
	e.IDs = append(e.IDs, a.ids...)
	e.Offsets = append(e.Offsets, a.offs...)
	e.IDs = append(e.IDs, t.sep)
	e.Offsets = append(e.Offsets, [2]int{})
	if b != nil {
		for i := len(e.IDs); i < n; i++ {
			e.TypeIDs[i] = 1
		}
		e.IDs = append(e.IDs, b.ids...)
		e.Offsets = append(e.Offsets, b.offs...)
		e.IDs = append(e.IDs, t.sep)
		e.Offsets = append(e.Offsets, [2]int{})
	}
	for i, id := range e.IDs {
		e.AttentionMask[i] = 1
		e.Tokens[i] = t.vocab[id]
	}
	return e
}

// Tokenize returns the word-piece ids of text without special tokens and
// without truncation (added tokens written in the text still map to their
// ids, as in HF's encode with add_special_tokens=False).
func (t *Tokenizer) Tokenize(text string) []int32 {
	return t.AppendTokenize(nil, text)
}

// AppendTokenize appends the word-piece ids of text (as Tokenize) to dst.
func (t *Tokenizer) AppendTokenize(dst []int32, text string) []int32 {
	s := t.pool.Get().(*scratch)
	s.a.reset(false, -1)
	s.a.ids = dst
	t.tokenizeInto(text, &s.a, s)
	dst = s.a.ids
	s.a.ids = nil
	t.pool.Put(s)
	return dst
}

// EncodeIDs returns the ids of Encode(text, maxLen) alone ([CLS] … [SEP],
// cut to maxLen), without building offsets, token strings or masks; with
// maxLen > 0 it stops tokenising once the budget is reached.
func (t *Tokenizer) EncodeIDs(text string, maxLen int) []int32 {
	return t.AppendEncodeIDs(nil, text, maxLen)
}

// AppendEncodeIDs appends the ids of Encode(text, maxLen) to dst.
func (t *Tokenizer) AppendEncodeIDs(dst []int32, text string, maxLen int) []int32 {
	s := t.pool.Get().(*scratch)
	limit := -1
	dst = append(dst, t.cls)
	if maxLen > 0 {
		limit = len(dst) + max(maxLen-2, 0)
	}
	s.a.reset(false, limit)
	s.a.ids = dst
	t.tokenizeInto(text, &s.a, s)
	dst = s.a.ids
	s.a.ids = nil
	t.pool.Put(s)
	if limit >= 0 && len(dst) > limit {
		dst = dst[:limit]
	}
	return append(dst, t.sep)
}

// EncodeBatch encodes every text as Encode does, on all cores
// (GOMAXPROCS goroutines), keeping the input order.
func (t *Tokenizer) EncodeBatch(texts []string, maxLen int) []Encoding {
	out := make([]Encoding, len(texts))
	parallel.Items(len(texts), 0, func(_, i int) { out[i] = t.Encode(texts[i], maxLen) })
	return out
}

// EncodePairBatch encodes the pairs (a[i], b[i]) as EncodePair does, on all
// cores, keeping the input order. It panics if len(a) != len(b).
func (t *Tokenizer) EncodePairBatch(a, b []string, maxLen int) []Encoding {
	if len(a) != len(b) {
		panic("wordpiece: EncodePairBatch with slices of different lengths")
	}
	out := make([]Encoding, len(a))
	parallel.Items(len(a), 0, func(_, i int) { out[i] = t.EncodePair(a[i], b[i], maxLen) })
	return out
}

// Batch is a right-padded batch of encodings in row-major [Size*Seq]
// layout, ready for the model.
type Batch struct {
	IDs, AttentionMask, TypeIDs []int32
	Size, Seq                   int
}

// Pad lays encs out as a padded batch with the tokenizer's [PAD] id (0 when
// the vocabulary has none). See PadEncodings.
func (t *Tokenizer) Pad(encs []Encoding, seqLen int) Batch {
	pad := t.pad
	if pad < 0 {
		pad = 0
	}
	return PadEncodings(encs, seqLen, pad)
}

// PadEncodings lays encs out as a batch of Seq = max(seqLen, longest
// encoding) columns, filling the tail of each row with padID, attention 0
// and type id 0. Encodings are never cut: truncate them when encoding.
func PadEncodings(encs []Encoding, seqLen int, padID int32) Batch {
	seqN := max(seqLen, 0)
	for _, e := range encs {
		seqN = max(seqN, len(e.IDs))
	}
	b := Batch{Size: len(encs), Seq: seqN}
	buf := make([]int32, 3*len(encs)*seqN)
	b.IDs = buf[:len(encs)*seqN]
	b.AttentionMask = buf[len(encs)*seqN : 2*len(encs)*seqN]
	b.TypeIDs = buf[2*len(encs)*seqN:]
	for i, e := range encs {
		row := i * seqN
		copy(b.IDs[row:], e.IDs)
		for j := len(e.IDs); j < seqN; j++ {
			b.IDs[row+j] = padID
		}
		for j := range e.IDs {
			b.AttentionMask[row+j] = 1
		}
		if e.AttentionMask != nil {
			copy(b.AttentionMask[row:row+len(e.IDs)], e.AttentionMask)
		}
		copy(b.TypeIDs[row:row+len(e.IDs)], e.TypeIDs)
	}
	return b
}
