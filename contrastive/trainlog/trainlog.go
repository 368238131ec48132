// Package trainlog records a training run for people: a CSV log with one
// row per logged step (step, loss, learning rate, pairs per second, then
// any extra columns such as accuracy or an evaluation's nDCG@10) and a PNG
// plot of the loss, the learning rate and, when present, the evaluation
// curve. Pre-training and fine-tuning both use it.
package trainlog

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// Base columns, always first, in this order.
var baseCols = []string{"step", "loss", "lr", "pairs_per_s"}

// Row is one logged step. Extra holds the values of the extra columns by
// name; a column without a value is written empty (read back as NaN).
type Row struct {
	Step      int64
	Loss      float64
	LR        float64
	PairsPerS float64
	Extra     map[string]float64
}

// Log appends rows to a CSV file, flushing each one so the file is always
// readable while training runs.
type Log struct {
	f     *os.File
	w     *csv.Writer
	extra []string
}

// ErrFormat reports a CSV log that cannot be read.
var ErrFormat = errors.New("trainlog: malformed log")

// Create starts a new log at path (replacing any file there) with the
// given extra columns after the base ones.
func Create(path string, extra []string) (*Log, error) {
	return resume(path, extra, nil)
}

// Resume continues the log at path for a run resumed after step: rows
// with a larger step (logged after the state was saved) are dropped, the
// rest kept, and new rows are appended. The file must have the same
// columns. A missing file starts a new log.
func Resume(path string, extra []string, step int64) (*Log, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Create(path, extra)
	}
	if err != nil {
		return nil, fmt.Errorf("trainlog: %w", err)
	}
	cols, rows, err := parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("trainlog: %s: %w", path, err)
	}
	if !equal(cols, extra) {
		return nil, fmt.Errorf("trainlog: %s has extra columns %v, this run logs %v", path, cols, extra)
	}
	keep := rows[:0]
	for _, r := range rows {
		if r.Step <= step {
			keep = append(keep, r)
		}
	}
	return resume(path, extra, keep)
}

// resume writes the header and rows atomically, then opens the file for
// appending.
func resume(path string, extra []string, rows []Row) (*Log, error) {
	for _, c := range extra {
		for _, b := range baseCols {
			if c == b {
				return nil, fmt.Errorf("trainlog: extra column %q is a base column", c)
			}
		}
	}
	err := atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write(append(append([]string(nil), baseCols...), extra...))
		for _, r := range rows {
			cw.Write(record(r, extra))
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("trainlog: %w", err)
	}
	return &Log{f: f, w: csv.NewWriter(f), extra: extra}, nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func ff(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 8, 64)
}

func record(r Row, extra []string) []string {
	rec := []string{strconv.FormatInt(r.Step, 10), ff(r.Loss), ff(r.LR), ff(r.PairsPerS)}
	for _, c := range extra {
		v, ok := r.Extra[c]
		if !ok {
			v = math.NaN()
		}
		rec = append(rec, ff(v))
	}
	return rec
}

// Write appends a row and flushes it to the file.
func (l *Log) Write(r Row) error {
	if err := l.w.Write(record(r, l.extra)); err != nil {
		return fmt.Errorf("trainlog: %w", err)
	}
	l.w.Flush()
	if err := l.w.Error(); err != nil {
		return fmt.Errorf("trainlog: %w", err)
	}
	return nil
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// Read returns the extra column names and the rows of a log file.
func Read(path string) (extra []string, rows []Row, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("trainlog: %w", err)
	}
	defer f.Close()
	extra, rows, err = parse(f)
	if err != nil {
		return nil, nil, fmt.Errorf("trainlog: %s: %w", path, err)
	}
	return extra, rows, nil
}

func parse(r io.Reader) ([]string, []Row, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: no header: %v", ErrFormat, err)
	}
	if len(head) < len(baseCols) || !equal(head[:len(baseCols)], baseCols) {
		return nil, nil, fmt.Errorf("%w: header %v does not start with %v", ErrFormat, head, baseCols)
	}
	extra := head[len(baseCols):]
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return extra, rows, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		step, err := strconv.ParseInt(rec[0], 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: line %d: step %q", ErrFormat, line, rec[0])
		}
		vals := make([]float64, len(rec)-1)
		for i, s := range rec[1:] {
			if s == "" {
				vals[i] = math.NaN()
				continue
			}
			if vals[i], err = strconv.ParseFloat(s, 64); err != nil {
				return nil, nil, fmt.Errorf("%w: line %d: column %s: %q", ErrFormat, line, head[i+1], s)
			}
		}
		row := Row{Step: step, Loss: vals[0], LR: vals[1], PairsPerS: vals[2]}
		if len(extra) > 0 {
			row.Extra = map[string]float64{}
			for i, c := range extra {
				if v := vals[3+i]; !math.IsNaN(v) {
					row.Extra[c] = v
				}
			}
		}
		rows = append(rows, row)
	}
}
