package beir

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// ReadRun reads a TREC run file (plain or gzip): one hit a line,
// "qid Q0 docid rank score tag", fields separated by white space. The rank
// and the second and last fields are checked for presence only; ranking
// uses the score. A repeated (qid, docid) pair, a bad score or a wrong
// field count is an error naming the file and line.
func ReadRun(path string) (Run, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readRun(path, f)
}

func readRun(path string, r io.Reader) (Run, error) {
	run := make(Run)
	seen := make(map[string]map[string]struct{})
	err := eachLine(r, func(n int, raw []byte) error {
		line := string(raw)
		fs := strings.Fields(line)
		if len(fs) == 0 {
			return nil
		}
		if len(fs) != 6 {
			return lineErr(path, n, "%w: want 6 fields (qid Q0 docid rank score tag), got %d", ErrMalformed, len(fs))
		}
		qid, did := fs[0], fs[2]
		if _, err := strconv.ParseInt(fs[3], 10, 64); err != nil {
			return lineErr(path, n, "%w: rank %q is not an integer", ErrMalformed, fs[3])
		}
		score, err := strconv.ParseFloat(fs[4], 64)
		if err != nil || math.IsNaN(score) {
			return lineErr(path, n, "%w: score %q is not a number", ErrMalformed, fs[4])
		}
		s := seen[qid]
		if s == nil {
			s = make(map[string]struct{})
			seen[qid] = s
		}
		if _, dup := s[did]; dup {
			return lineErr(path, n, "%w: document %q retrieved twice for query %q", ErrDuplicate, did, qid)
		}
		s[did] = struct{}{}
		run[qid] = append(run[qid], Hit{DocID: did, Score: score})
		return nil
	})
	if err := pathError(path, err); err != nil {
		return nil, err
	}
	return run, nil
}

// WriteRun writes run in TREC format, queries in increasing id order and
// each query's hits in ranking order (see SortHits), ranks from 1. Scores
// are written in the shortest form that reads back to the same float64, so
// evaluating the file gives exactly the figures of the in-memory run. Ids
// must not contain white space; tag defaults to "contriever".
func WriteRun(w io.Writer, run Run, tag string) error {
	if tag == "" {
		tag = "contriever"
	}
	if strings.ContainsFunc(tag, isSpace) {
		return fmt.Errorf("run tag %q contains white space", tag)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	qids := make([]string, 0, len(run))
	for qid := range run {
		qids = append(qids, qid)
	}
	slices.Sort(qids)
	buf := make([]byte, 0, 128)
	for _, qid := range qids {
		if qid == "" || strings.ContainsFunc(qid, isSpace) {
			return fmt.Errorf("query id %q cannot be written to a run file", qid)
		}
		hits := slices.Clone(run[qid])
		SortHits(hits)
		for i, h := range hits {
			if h.DocID == "" || strings.ContainsFunc(h.DocID, isSpace) {
				return fmt.Errorf("doc id %q of query %q cannot be written to a run file", h.DocID, qid)
			}
			buf = buf[:0]
			buf = append(buf, qid...)
			buf = append(buf, " Q0 "...)
			buf = append(buf, h.DocID...)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, int64(i+1), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendFloat(buf, h.Score, 'g', -1, 64)
			buf = append(buf, ' ')
			buf = append(buf, tag...)
			buf = append(buf, '\n')
			if _, err := bw.Write(buf); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

// WriteRunFile writes run to path atomically (a temporary file in the same
// folder, then a rename).
func WriteRunFile(path string, run Run, tag string) error {
	return atomicfile.Write(path, func(w io.Writer) error { return WriteRun(w, run, tag) })
}
