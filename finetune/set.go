package finetune

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/internal/gzfile"
)

// Errors callers may test with errors.Is.
var (
	// ErrMalformed is wrapped by every error about a line or record that
	// cannot be parsed (it is beir.ErrMalformed).
	ErrMalformed = beir.ErrMalformed
	// ErrUnknownPassage reports a judgement or an id naming a passage the
	// collection does not hold.
	ErrUnknownPassage = errors.New("finetune: unknown passage")
	// ErrUnknownQuery reports a judged query missing from the queries file.
	ErrUnknownQuery = errors.New("finetune: unknown query")
	// ErrEmpty reports a training set without a usable example.
	ErrEmpty = errors.New("finetune: no training example with a positive passage")
	// ErrFormat reports a path whose format cannot be recognised.
	ErrFormat = errors.New("finetune: unrecognised training data")
)

// Passage is one passage of a training set (the project's document type;
// its ID may be empty for DPR ctxs without an id and text triples). The
// text the model sees is its Passage(): title + " " + text, or the text
// alone when the title is empty.
type Passage = document.Doc

// Example is one training query with its passages, as indices into the
// set's Passages.
type Example struct {
	QID   string // may be empty
	Query string
	// Positives are the judged relevant passages (at least one).
	Positives []int32
	// HardNegatives are mined or given hard negatives, best ranked first.
	HardNegatives []int32
	// Negatives are given random negatives (DPR negative_ctxs); when
	// empty, random negatives are drawn from the whole set.
	Negatives []int32
}

// Set is a training set: deduplicated passages and the examples that
// refer to them. The zero value is empty and ready to use.
type Set struct {
	Passages []Passage
	Examples []Example
	// Skipped counts input examples dropped for having no positive.
	Skipped int

	byID   map[string]int32
	byText map[[16]byte]int32
}

// Add returns the index of p in the set, adding it when new. Passages with
// an id are deduplicated by id (the first text wins), those without by
// title and text.
func (s *Set) Add(p Passage) int32 {
	if p.ID != "" {
		if s.byID == nil {
			s.byID = map[string]int32{}
		}
		if i, ok := s.byID[p.ID]; ok {
			return i
		}
		i := int32(len(s.Passages))
		s.byID[p.ID] = i
		s.Passages = append(s.Passages, p)
		return i
	}
	if s.byText == nil {
		s.byText = map[[16]byte]int32{}
	}
	k := textKey(p.Title, p.Text)
	if i, ok := s.byText[k]; ok {
		return i
	}
	i := int32(len(s.Passages))
	s.byText[k] = i
	s.Passages = append(s.Passages, p)
	return i
}

// Lookup returns the index of the passage with the given id.
func (s *Set) Lookup(id string) (int32, bool) {
	i, ok := s.byID[id]
	return i, ok
}

func textKey(title, text string) [16]byte {
	h := fnv.New128a()
	io.WriteString(h, title)
	h.Write([]byte{0})
	io.WriteString(h, text)
	var k [16]byte
	h.Sum(k[:0])
	return k
}

// contentKey identifies a passage's content (for duplicate detection).
func contentKey(p Passage) [16]byte { return textKey("", p.Passage()) }

// Validate reports a set that cannot be trained on: no example, or an
// example without a positive or with an index out of range.
func (s *Set) Validate() error {
	if len(s.Examples) == 0 {
		return ErrEmpty
	}
	n := int32(len(s.Passages))
	for i, ex := range s.Examples {
		if len(ex.Positives) == 0 {
			return fmt.Errorf("finetune: example %d (%q) has no positive passage", i, ex.Query)
		}
		for _, l := range [][]int32{ex.Positives, ex.HardNegatives, ex.Negatives} {
			for _, j := range l {
				if j < 0 || j >= n {
					return fmt.Errorf("finetune: example %d refers to passage %d of %d", i, j, n)
				}
			}
		}
	}
	return nil
}

// Stats summarises a set.
type Stats struct {
	Examples, Passages         int
	Positives, Hard, Negatives int // totals over the examples
	WithHard                   int // examples with at least one hard negative
}

// Stats counts the set's examples and passages.
func (s *Set) Stats() Stats {
	st := Stats{Examples: len(s.Examples), Passages: len(s.Passages)}
	for _, ex := range s.Examples {
		st.Positives += len(ex.Positives)
		st.Hard += len(ex.HardNegatives)
		st.Negatives += len(ex.Negatives)
		if len(ex.HardNegatives) > 0 {
			st.WithHard++
		}
	}
	return st
}

// String describes the counts for a log line.
func (st Stats) String() string {
	return fmt.Sprintf("%d examples (%d positives, %d hard negatives in %d examples, %d given negatives), %d passages",
		st.Examples, st.Positives, st.Hard, st.WithHard, st.Negatives, st.Passages)
}

// openFile opens path, decompressing gzip (recognised by its magic bytes).
func openFile(path string) (io.Reader, func() error, error) {
	rc, err := gzfile.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("finetune: %w", err)
	}
	return rc, rc.Close, nil
}

// maxLine is the longest line the line readers accept.
const maxLine = 64 << 20

// readLines calls fn with every line of path (gzip or plain; without its
// line ending) and its 1-based number. An error from fn is wrapped in a
// *beir.LineError.
func readLines(path string, fn func(line string, n int) error) error {
	r, closeFn, err := openFile(path)
	if err != nil {
		return err
	}
	defer closeFn()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		b := sc.Bytes()
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		line := strings.TrimSuffix(string(b), "\r")
		if err := fn(line, n); err != nil {
			return &beir.LineError{Path: path, Line: n, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return &beir.LineError{Path: path, Line: n + 1, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	return nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
