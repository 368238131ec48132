package beir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/contriever-go/contriever/internal/gzfile"
)

// ErrMalformed is wrapped by every error about a line that cannot be
// parsed.
var ErrMalformed = errors.New("malformed line")

// ErrDuplicate is wrapped by errors about a repeated id (a corpus or query
// id, a qrels or run entry).
var ErrDuplicate = errors.New("duplicate id")

// LineError locates a bad line in an input file.
type LineError struct {
	Path string
	Line int // 1-based
	Err  error
}

// Error gives "path:line: cause", the form editors and compilers use.
func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error { return e.Err }

func lineErr(path string, line int, format string, args ...any) error {
	return &LineError{Path: path, Line: line, Err: fmt.Errorf(format, args...)}
}

// openFile opens path for reading, decompressing it when it starts with the
// gzip magic bytes (whatever its name).
func openFile(path string) (io.ReadCloser, error) { return gzfile.Open(path) }

// eachLine calls fn for every line of r (without its line ending), with
// 1-based line numbers. Lines may be of any length. A leading UTF-8 byte
// order mark is dropped. The line slice is only valid during the call.
func eachLine(r io.Reader, fn func(n int, line []byte) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var long []byte
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if len(long) > 0 {
			long = append(long, chunk...)
			line = long
		}
		if err != nil && err != io.EOF {
			return err
		}
		if len(line) > 0 {
			n++
			if n == 1 {
				line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
			}
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if ferr := fn(n, line); ferr != nil {
				return ferr
			}
		}
		long = long[:0]
		if cap(long) > 1<<24 {
			long = nil
		}
		if err == io.EOF {
			return nil
		}
	}
}

// jsonRecord is one line of corpus.jsonl or queries.jsonl.
type jsonRecord struct {
	ID    json.RawMessage `json:"_id"`
	Title *string         `json:"title"`
	Text  *string         `json:"text"`
}

// parseID accepts a JSON string or number as an id.
func parseID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", errors.New(`missing "_id"`)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf(`bad "_id": %w`, err)
		}
		if s == "" {
			return "", errors.New(`empty "_id"`)
		}
		return s, nil
	}
	var num json.Number
	if err := json.Unmarshal(raw, &num); err != nil {
		return "", fmt.Errorf(`"_id" is neither a string nor a number: %s`, raw)
	}
	return num.String(), nil
}

func decodeRecord(line []byte) (id, title, text string, err error) {
	var rec jsonRecord
	if err := json.Unmarshal(line, &rec); err != nil {
		return "", "", "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	id, err = parseID(rec.ID)
	if err != nil {
		return "", "", "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if rec.Title != nil {
		title = *rec.Title
	}
	if rec.Text != nil {
		text = *rec.Text
	}
	return id, title, text, nil
}

func isBlank(line []byte) bool { return len(bytes.TrimSpace(line)) == 0 }

// ReadCorpus streams the documents of a corpus.jsonl file (plain or gzip)
// to fn, in file order, without holding the corpus in memory. Each line is
// a JSON object with "_id", optional "title" (missing means empty) and
// "text". Blank lines are skipped. A malformed line or a repeated id stops
// the read with a *LineError; an error from fn stops it and is returned
// unchanged.
func ReadCorpus(path string, fn func(Doc) error) error {
	return readCorpus(path, nil, fn)
}

func readCorpus(path string, r io.Reader, fn func(Doc) error) error {
	if r == nil {
		f, err := openFile(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	return eachRecord(path, r, "document", func(id, title, text string) error {
		return fn(Doc{ID: id, Title: title, Text: text})
	})
}

// eachRecord reads the JSON lines of a corpus or queries file ("_id",
// optional "title", "text") and passes each to fn, skipping blank lines. A
// malformed line or a repeated id (what names the kind of record) stops it
// with a *LineError; an error from fn stops it and is returned unchanged.
func eachRecord(path string, r io.Reader, what string, fn func(id, title, text string) error) error {
	seen := make(map[string]struct{})
	var cbErr error
	err := eachLine(r, func(n int, line []byte) error {
		if isBlank(line) {
			return nil
		}
		id, title, text, err := decodeRecord(line)
		if err != nil {
			return &LineError{Path: path, Line: n, Err: err}
		}
		if _, dup := seen[id]; dup {
			return &LineError{Path: path, Line: n, Err: fmt.Errorf("%w: %s %q", ErrDuplicate, what, id)}
		}
		seen[id] = struct{}{}
		if err := fn(id, title, text); err != nil {
			cbErr = err
			return err
		}
		return nil
	})
	if cbErr != nil {
		return cbErr
	}
	return pathError(path, err)
}

// pathError returns nil for nil, a *LineError (which names its file and
// line) unchanged, and any other error prefixed with path.
func pathError(path string, err error) error {
	if err == nil {
		return nil
	}
	var le *LineError
	if errors.As(err, &le) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// CountLines returns the number of non-blank lines of a file (plain or
// gzip): for a corpus.jsonl, the number of documents, used as the total of
// a progress bar.
func CountLines(path string) (int, error) {
	f, err := openFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	count := 0
	err = eachLine(f, func(_ int, line []byte) error {
		if !isBlank(line) {
			count++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return count, nil
}

// ReadQueries reads a queries.jsonl file (plain or gzip): one JSON object a
// line with "_id" and "text". Queries come back in file order.
func ReadQueries(path string) ([]Query, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readQueries(path, f)
}

func readQueries(path string, r io.Reader) ([]Query, error) {
	var qs []Query
	err := eachRecord(path, r, "query", func(id, _, text string) error {
		qs = append(qs, Query{ID: id, Text: text})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return qs, nil
}

// ReadQrels reads relevance judgements (plain or gzip). Two layouts are
// accepted: BEIR's TSV "query-id corpus-id score" (the header line, when
// present, is skipped) and TREC's "qid iter docid rel". Fields are
// separated by tabs, or by spaces when the line has no tab. Grades are
// integers; 0-grade (and negative) judgements are kept as judged
// non-relevant. A repeated (query, document) pair is an error.
func ReadQrels(path string) (Qrels, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readQrels(path, f)
}

func splitFields(line string) []string {
	if strings.IndexByte(line, '\t') >= 0 {
		fs := strings.Split(line, "\t")
		for i := range fs {
			fs[i] = strings.TrimSpace(fs[i])
		}
		return fs
	}
	return strings.Fields(line)
}

func readQrels(path string, r io.Reader) (Qrels, error) {
	q := make(Qrels)
	err := eachLine(r, func(n int, raw []byte) error {
		line := string(raw)
		if strings.TrimSpace(line) == "" {
			return nil
		}
		fs := splitFields(line)
		var qid, did, grade string
		switch len(fs) {
		case 3:
			qid, did, grade = fs[0], fs[1], fs[2]
		case 4:
			qid, did, grade = fs[0], fs[2], fs[3]
		default:
			return lineErr(path, n, "%w: want 3 fields (query-id corpus-id score) or 4 (qid iter docid rel), got %d", ErrMalformed, len(fs))
		}
		g, err := strconv.Atoi(grade)
		if err != nil {
			if n == 1 {
				return nil // header line
			}
			return lineErr(path, n, "%w: grade %q is not an integer", ErrMalformed, grade)
		}
		if qid == "" || did == "" {
			return lineErr(path, n, "%w: empty query or document id", ErrMalformed)
		}
		m := q[qid]
		if m == nil {
			m = make(map[string]int)
			q[qid] = m
		}
		if _, dup := m[did]; dup {
			return lineErr(path, n, "%w: judgement of document %q for query %q repeated", ErrDuplicate, did, qid)
		}
		m[did] = g
		return nil
	})
	if err := pathError(path, err); err != nil {
		return nil, err
	}
	return q, nil
}

// FindFile returns dir/name, or dir/name.gz when only that exists.
func FindFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	gz := p + ".gz"
	if _, err := os.Stat(gz); err == nil {
		return gz, nil
	}
	return "", fmt.Errorf("%s: neither %s nor %s.gz found: %w", dir, name, name, os.ErrNotExist)
}

// Dataset is a BEIR dataset split: its queries (only those judged in the
// split's qrels, in file order) and qrels in memory, its corpus read on
// demand by Corpus.
type Dataset struct {
	Dir         string
	Split       string
	CorpusPath  string
	QueriesPath string
	QrelsPath   string
	Queries     []Query
	Qrels       Qrels
}

// Load reads the queries and qrels of split (e.g. "test") from a BEIR
// dataset folder holding corpus.jsonl, queries.jsonl and qrels/<split>.tsv
// (each optionally gzipped). Queries absent from the qrels are dropped; a
// judged query missing from queries.jsonl is an error.
func Load(dir, split string) (*Dataset, error) {
	d := &Dataset{Dir: dir, Split: split}
	var err error
	if d.CorpusPath, err = FindFile(dir, "corpus.jsonl"); err != nil {
		return nil, err
	}
	if d.QueriesPath, err = FindFile(dir, "queries.jsonl"); err != nil {
		return nil, err
	}
	if d.QrelsPath, err = FindFile(filepath.Join(dir, "qrels"), split+".tsv"); err != nil {
		return nil, err
	}
	if d.Qrels, err = ReadQrels(d.QrelsPath); err != nil {
		return nil, err
	}
	all, err := ReadQueries(d.QueriesPath)
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(all))
	for _, q := range all {
		have[q.ID] = true
		if _, ok := d.Qrels[q.ID]; ok {
			d.Queries = append(d.Queries, q)
		}
	}
	for qid := range d.Qrels {
		if !have[qid] {
			return nil, fmt.Errorf("%s: query %q is judged but missing from %s", d.QrelsPath, qid, d.QueriesPath)
		}
	}
	return d, nil
}

// Corpus streams the corpus to fn (see ReadCorpus).
func (d *Dataset) Corpus(fn func(Doc) error) error { return ReadCorpus(d.CorpusPath, fn) }
