package finetune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/contriever-go/contriever/beir"
)

// Ctx is one passage of a DPR-style record.
type Ctx struct {
	// ID is the passage id; it is written as "passage_id" and read from
	// "passage_id", "id", "_id" or "psg_id" (a string or a number).
	ID    string `json:"passage_id,omitempty"`
	Title string `json:"title"`
	Text  string `json:"text"`
	// Score is the retriever's score of a mined passage.
	Score *float64 `json:"score,omitempty"`
}

// Record is one DPR-style training example, as Contriever's fine-tuning
// reads it: a question with positive, random-negative and hard-negative
// passages.
type Record struct {
	QID       string `json:"qid,omitempty"`
	Question  string `json:"question"`
	Positives []Ctx  `json:"positive_ctxs"`
	Negatives []Ctx  `json:"negative_ctxs"`
	Hard      []Ctx  `json:"hard_negative_ctxs"`
}

// dprCtx and dprRecord are what the reader accepts: the fields are checked
// for presence and type by hand.
type dprCtx struct {
	Title     *string         `json:"title"`
	Text      *string         `json:"text"`
	PassageID json.RawMessage `json:"passage_id"`
	ID        json.RawMessage `json:"id"`
	UID       json.RawMessage `json:"_id"`
	PsgID     json.RawMessage `json:"psg_id"`
}

type dprRecord struct {
	Question *string         `json:"question"`
	QID      json.RawMessage `json:"qid"`
	Pos      []dprCtx        `json:"positive_ctxs"`
	Neg      []dprCtx        `json:"negative_ctxs"`
	Hard     []dprCtx        `json:"hard_negative_ctxs"`
}

// idString turns a JSON id (string or number) into a string.
func idString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("id %s is neither a string nor a number", raw)
	}
	return n.String(), nil
}

func (c *dprCtx) passage(field string, i int) (Passage, error) {
	if c.Text == nil {
		return Passage{}, malformed("%s[%d] has no string \"text\"", field, i)
	}
	p := Passage{Text: *c.Text}
	if c.Title != nil {
		p.Title = *c.Title
	}
	for _, raw := range []json.RawMessage{c.PassageID, c.ID, c.UID, c.PsgID} {
		id, err := idString(raw)
		if err != nil {
			return Passage{}, malformed("%s[%d]: %v", field, i, err)
		}
		if id != "" {
			p.ID = id
			break
		}
	}
	return p, nil
}

// addRecord adds one decoded record; a record without positives is
// counted in Skipped.
func (s *Set) addRecord(r *dprRecord) error {
	if r.Question == nil {
		return malformed("no string \"question\"")
	}
	qid, err := idString(r.QID)
	if err != nil {
		return malformed("qid: %v", err)
	}
	ex := Example{QID: qid, Query: *r.Question}
	lists := []struct {
		name string
		ctxs []dprCtx
		dst  *[]int32
	}{{"positive_ctxs", r.Pos, &ex.Positives}, {"hard_negative_ctxs", r.Hard, &ex.HardNegatives}, {"negative_ctxs", r.Neg, &ex.Negatives}}
	var ps [3][]Passage
	for k, l := range lists {
		for i := range l.ctxs {
			p, err := l.ctxs[i].passage(l.name, i)
			if err != nil {
				return err
			}
			ps[k] = append(ps[k], p)
		}
	}
	if len(ps[0]) == 0 {
		s.Skipped++
		return nil
	}
	for k, l := range lists {
		for _, p := range ps[k] {
			*l.dst = appendNew(*l.dst, s.Add(p))
		}
	}
	s.Examples = append(s.Examples, ex)
	return nil
}

// AddDPR adds the records of a DPR-style file (plain or gzip) to the set:
// a JSON array of records, or JSONL (one record a line). Each record has a
// string "question" and lists "positive_ctxs", "negative_ctxs" and
// "hard_negative_ctxs" (each optional) of passages with a string "text",
// an optional "title" and an optional id ("passage_id", "id", "_id" or
// "psg_id"). Records without a positive passage are skipped and counted
// in Skipped, as DPR's loader does. It returns the number of records
// read. Errors name the file and line.
func (s *Set) AddDPR(path string) (int, error) {
	r, closeFn, err := openFile(path)
	if err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(r, 1<<20)
	first, err := firstByte(br)
	closeFn()
	if err != nil {
		return 0, &beir.LineError{Path: path, Line: 1, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	if first == '[' {
		return s.addDPRArray(path)
	}
	n := 0
	err = readLines(path, func(line string, _ int) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		var rec dprRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return malformed("%v", err)
		}
		n++
		return s.addRecord(&rec)
	})
	return n, err
}

// firstByte returns the first non-space byte (io.EOF for an empty file).
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, errors.New("empty file")
			}
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xef, 0xbb, 0xbf: // a byte-order mark
			continue
		}
		return c, nil
	}
}

func (s *Set) addDPRArray(path string) (int, error) {
	r, closeFn, err := openFile(path)
	if err != nil {
		return 0, err
	}
	defer closeFn()
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); string(bom) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	cr := &lineCounter{r: br}
	dec := json.NewDecoder(cr)
	fail := func(err error) (int, error) {
		return 0, &beir.LineError{Path: path, Line: cr.lineAt(dec.InputOffset()), Err: err}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		if err == nil {
			err = fmt.Errorf("want a JSON array of records, got %v", t)
		}
		return fail(fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	n := 0
	for dec.More() {
		var rec dprRecord
		if err := dec.Decode(&rec); err != nil {
			return fail(fmt.Errorf("%w: record %d: %v", ErrMalformed, n+1, err))
		}
		if err := s.addRecord(&rec); err != nil {
			return fail(fmt.Errorf("record %d: %w", n+1, err))
		}
		n++
	}
	if _, err := dec.Token(); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fail(fmt.Errorf("%w: data after the array", ErrMalformed))
	}
	return n, nil
}

// lineCounter records where each line starts in the bytes read through
// it, so that a decoder offset can be turned into a line number.
type lineCounter struct {
	r      io.Reader
	off    int64
	base   int     // lines started before starts[0] (pruned entries)
	starts []int64 // offsets of the bytes after each '\n', recent ones
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\n' {
			c.starts = append(c.starts, c.off+int64(i)+1)
		}
	}
	c.off += int64(n)
	// The decoder lags the reader by at most its buffer: keep the line
	// starts of the last few megabytes only.
	if len(c.starts) > 1<<20 {
		keep := 1 << 19
		c.base += len(c.starts) - keep
		c.starts = append(c.starts[:0], c.starts[len(c.starts)-keep:]...)
	}
	return n, err
}

// lineAt is the 1-based line holding byte offset off.
func (c *lineCounter) lineAt(off int64) int {
	i, _ := slices.BinarySearch(c.starts, off+1)
	return c.base + i + 1
}

// LoadDPR reads a DPR-style JSON or JSONL file into a new set (see
// AddDPR).
func LoadDPR(path string) (*Set, error) {
	s := &Set{}
	if _, err := s.AddDPR(path); err != nil {
		return nil, err
	}
	return s, s.Validate()
}

func (s *Set) ctx(i int32) Ctx {
	p := s.Passages[i]
	return Ctx{ID: p.ID, Title: p.Title, Text: p.Text}
}

// Record returns example i as a DPR record.
func (s *Set) Record(i int) Record {
	ex := s.Examples[i]
	r := Record{QID: ex.QID, Question: ex.Query, Positives: []Ctx{}, Negatives: []Ctx{}, Hard: []Ctx{}}
	for _, j := range ex.Positives {
		r.Positives = append(r.Positives, s.ctx(j))
	}
	for _, j := range ex.Negatives {
		r.Negatives = append(r.Negatives, s.ctx(j))
	}
	for _, j := range ex.HardNegatives {
		r.Hard = append(r.Hard, s.ctx(j))
	}
	return r
}

// WriteRecord writes r as one JSONL line.
func WriteRecord(w io.Writer, r Record) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteDPR writes every example of the set as DPR-style JSONL.
func (s *Set) WriteDPR(w io.Writer) error {
	for i := range s.Examples {
		if err := WriteRecord(w, s.Record(i)); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
