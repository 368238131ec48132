// Package npy reads and writes float32 arrays in NumPy's .npy format
// (format versions 1.0 to 3.0 on read; 1.0 on write), the project's output
// format for embeddings. Files are written as little-endian '<f4' in C
// order with the header padded to a multiple of 64 bytes, as numpy.save
// does, and always through a temporary file renamed into place. The reader
// is strict: any other dtype, Fortran order, a malformed header, truncated
// data or trailing bytes is an error naming the file.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Sentinel errors callers may test with errors.Is.
var (
	// ErrFormat reports a file that is not a valid .npy file.
	ErrFormat = errors.New("invalid .npy file")
	// ErrUnsupported reports a valid .npy file this package does not read:
	// a dtype other than little-endian float32, or Fortran order.
	ErrUnsupported = errors.New("unsupported .npy content")
)

const (
	magic = "\x93NUMPY"
	// maxHeader bounds the header on read (numpy itself refuses more than
	// 10 000 bytes by default).
	maxHeader = 1 << 16
	// maxElems bounds the element count accepted from a header.
	maxElems = 1 << 40
)

// header returns the complete v1.0 preamble (magic, version, length and the
// dict padded with spaces and a final newline to a multiple of 64 bytes).
// When minLen > 0 the preamble is padded to at least minLen bytes.
func header(shape []int, minLen int) []byte {
	var dims []string
	for _, d := range shape {
		dims = append(dims, strconv.Itoa(d))
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	tuple += ")"
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + ", }"
	total := 10 + len(dict) + 1
	total = (total + 63) / 64 * 64
	for total < minLen {
		total += 64
	}
	b := make([]byte, 0, total)
	b = append(b, magic...)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(total-10))
	b = append(b, dict...)
	for len(b) < total-1 {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

func checkShape(shape []int, n int) error {
	want := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && want > maxElems/d {
			return fmt.Errorf("shape %v is too large", shape)
		}
		want *= d
	}
	if want != n {
		return fmt.Errorf("shape %v needs %d values, got %d", shape, want, n)
	}
	return nil
}

// WriteFloat32 writes data with the given shape (C order) as a .npy file,
// atomically. With no shape, data is written as a 1-D array.
func WriteFloat32(path string, data []float32, shape ...int) error {
	if shape == nil {
		shape = []int{len(data)}
	}
	if err := checkShape(shape, len(data)); err != nil {
		return fmt.Errorf("npy %s: %w", path, err)
	}
	w, err := create(path, shape, 0)
	if err != nil {
		return err
	}
	if err := w.write(data); err != nil {
		w.Abort()
		return err
	}
	w.want = int64(len(data))
	return w.Close()
}

// Writer streams a 2-D float32 array [rows, cols] to a .npy file: rows are
// appended with Write and Close renames the finished file into place.
// Nothing appears at the path unless Close succeeds. A Writer is not safe
// for concurrent use.
type Writer struct {
	path  string
	tmp   *os.File
	bw    *bufio.Writer
	rows  int // -1: unknown until Close
	cols  int
	hdr   int   // header length in bytes
	n     int64 // values written
	want  int64 // values expected (rows*cols), -1 when rows is unknown
	buf   []byte
	done  bool
	lastE error
}

// NewWriter starts a .npy file of shape [rows, cols]. rows may be -1 when
// the number of rows is not known in advance: the header then reserves room
// and Close fills in the count.
func NewWriter(path string, rows, cols int) (*Writer, error) {
	if cols < 0 || rows < -1 {
		return nil, fmt.Errorf("npy %s: invalid shape [%d, %d]", path, rows, cols)
	}
	minLen := 0
	if rows < 0 {
		// Room for the largest row count.
		minLen = len(header([]int{math.MaxInt64, cols}, 0))
	} else if err := checkShape([]int{rows, cols}, rows*cols); err != nil {
		return nil, fmt.Errorf("npy %s: %w", path, err)
	}
	w, err := create(path, []int{max(rows, 0), cols}, minLen)
	if err != nil {
		return nil, err
	}
	w.rows, w.cols = rows, cols
	w.want = int64(rows) * int64(cols)
	if rows < 0 {
		w.want = -1
	}
	return w, nil
}

func create(path string, shape []int, minLen int) (*Writer, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("npy %s: %w", path, err)
	}
	w := &Writer{path: path, tmp: f, bw: bufio.NewWriterSize(f, 1<<20), rows: -2, want: -1}
	h := header(shape, minLen)
	w.hdr = len(h)
	if _, err := w.bw.Write(h); err != nil {
		w.Abort()
		return nil, fmt.Errorf("npy %s: %w", path, err)
	}
	return w, nil
}

func (w *Writer) write(data []float32) error {
	const chunk = 1 << 14
	for len(data) > 0 {
		n := min(len(data), chunk)
		w.buf = w.buf[:0]
		for _, v := range data[:n] {
			w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(v))
		}
		if _, err := w.bw.Write(w.buf); err != nil {
			return fmt.Errorf("npy %s: %w", w.path, err)
		}
		w.n += int64(n)
		data = data[n:]
	}
	return nil
}

// Write appends whole rows (len(rows) must be a multiple of cols) in C
// order. Writing more rows than announced is an error.
func (w *Writer) Write(rows []float32) error {
	if w.done {
		return fmt.Errorf("npy %s: write after Close or Abort", w.path)
	}
	if w.lastE != nil {
		return w.lastE
	}
	if w.cols == 0 {
		if len(rows) != 0 {
			return fmt.Errorf("npy %s: %d values for 0 columns", w.path, len(rows))
		}
	} else if len(rows)%w.cols != 0 {
		return fmt.Errorf("npy %s: %d values is not a whole number of %d-column rows", w.path, len(rows), w.cols)
	}
	if w.want >= 0 && w.n+int64(len(rows)) > w.want {
		return fmt.Errorf("npy %s: more than the %d rows announced", w.path, w.rows)
	}
	if err := w.write(rows); err != nil {
		w.lastE = err
		return err
	}
	return nil
}

// Rows returns the number of complete rows written so far.
func (w *Writer) Rows() int {
	if w.cols == 0 {
		return 0
	}
	return int(w.n / int64(w.cols))
}

// Close checks that every announced row was written, completes the header
// when the row count was unknown, syncs the file and renames it into place.
// On error nothing is left at the path (an older file there is kept).
func (w *Writer) Close() error {
	if w.done {
		return fmt.Errorf("npy %s: closed twice", w.path)
	}
	if w.lastE != nil {
		w.Abort()
		return w.lastE
	}
	if w.want >= 0 && w.n != w.want {
		w.Abort()
		return fmt.Errorf("npy %s: %d values written, %d announced", w.path, w.n, w.want)
	}
	fail := func(err error) error {
		w.Abort()
		return fmt.Errorf("npy %s: %w", w.path, err)
	}
	if err := w.bw.Flush(); err != nil {
		return fail(err)
	}
	if w.rows == -1 {
		rows := 0
		if w.cols > 0 {
			rows = int(w.n / int64(w.cols))
		}
		if _, err := w.tmp.WriteAt(header([]int{rows, w.cols}, w.hdr), 0); err != nil {
			return fail(err)
		}
	}
	if err := w.tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := w.tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := w.tmp.Close(); err != nil {
		return fail(err)
	}
	w.done = true
	if err := os.Rename(w.tmp.Name(), w.path); err != nil {
		os.Remove(w.tmp.Name())
		return fmt.Errorf("npy %s: %w", w.path, err)
	}
	return nil
}

// Abort discards the file being written. It is safe to call after Close.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

// ReadFloat32 reads a .npy file holding little-endian float32 in C order
// and returns its values and shape (empty for a 0-d array).
func ReadFloat32(path string) ([]float32, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("npy %s: %w", path, err)
	}
	data, shape, err := decode(bufio.NewReaderSize(f, 1<<20), st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("npy %s: %w", path, err)
	}
	return data, shape, nil
}

// ReadHeader returns the shape of a float32 .npy file without reading its
// data (the header is validated as by ReadFloat32, and the file size must
// match the shape).
func ReadHeader(path string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("npy %s: %w", path, err)
	}
	shape, _, err := readHeader(bufio.NewReader(f), st.Size())
	if err != nil {
		return nil, fmt.Errorf("npy %s: %w", path, err)
	}
	return shape, nil
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// readHeader parses the preamble and returns the shape and the element
// count, checking that the data section of a size-byte file holds exactly
// that many float32 values.
func readHeader(r io.Reader, size int64) ([]int, int64, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, 0, formatErr("file too short for the .npy magic")
	}
	if string(pre[:6]) != magic {
		return nil, 0, formatErr("missing the \\x93NUMPY magic")
	}
	var hlen, prelen int64
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, 0, formatErr("truncated header length")
		}
		hlen, prelen = int64(binary.LittleEndian.Uint16(b[:])), 10
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, 0, formatErr("truncated header length")
		}
		hlen, prelen = int64(binary.LittleEndian.Uint32(b[:])), 12
	default:
		return nil, 0, fmt.Errorf("%w: format version %d.%d", ErrUnsupported, pre[6], pre[7])
	}
	if pre[7] != 0 {
		return nil, 0, fmt.Errorf("%w: format version %d.%d", ErrUnsupported, pre[6], pre[7])
	}
	if hlen > maxHeader || hlen > size-prelen {
		return nil, 0, formatErr("header length %d does not fit the %d-byte file", hlen, size)
	}
	h := make([]byte, hlen)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, 0, formatErr("truncated header")
	}
	shape, err := parseDict(h)
	if err != nil {
		return nil, 0, err
	}
	n := int64(1)
	for _, d := range shape {
		if d != 0 && n > maxElems/int64(d) {
			return nil, 0, formatErr("shape %v is too large", shape)
		}
		n *= int64(d)
	}
	if data := size - prelen - hlen; data != 4*n {
		if data < 4*n {
			return nil, 0, formatErr("truncated: shape %v needs %d data bytes, file has %d", shape, 4*n, data)
		}
		return nil, 0, formatErr("%d bytes after the %d data bytes of shape %v", data-4*n, 4*n, shape)
	}
	return shape, n, nil
}

func decode(r io.Reader, size int64) ([]float32, []int, error) {
	shape, n, err := readHeader(r, size)
	if err != nil {
		return nil, nil, err
	}
	data := make([]float32, n)
	buf := make([]byte, 4*min(n, 1<<14))
	for i := int64(0); i < n; {
		m := min(n-i, int64(len(buf)/4))
		if _, err := io.ReadFull(r, buf[:4*m]); err != nil {
			return nil, nil, formatErr("truncated data: %v", err)
		}
		for j := int64(0); j < m; j++ {
			data[i+j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
		}
		i += m
	}
	return data, shape, nil
}

// parseDict parses the header dict, a Python literal such as
// "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }" followed by
// spaces and a newline, and returns the shape.
func parseDict(h []byte) ([]int, error) {
	p := &lit{s: string(bytes.TrimRight(h, " \t\n\x00"))}
	if len(p.s) == 0 {
		return nil, formatErr("empty header")
	}
	if !p.eat('{') {
		return nil, formatErr("header is not a dict: %q", trunc(p.s))
	}
	var (
		descr, fortran, shapeSeen bool
		shape                     []int
	)
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, formatErr("header key: %v", err)
		}
		p.space()
		if !p.eat(':') {
			return nil, formatErr("header: expected ':' after %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if descr {
				return nil, formatErr("header: duplicate key 'descr'")
			}
			descr = true
			d, err := p.str()
			if err != nil {
				return nil, formatErr("header descr: %v", err)
			}
			if d != "<f4" {
				return nil, fmt.Errorf("%w: dtype %q (only little-endian float32 '<f4' is read)", ErrUnsupported, d)
			}
		case "fortran_order":
			if fortran {
				return nil, formatErr("header: duplicate key 'fortran_order'")
			}
			fortran = true
			switch {
			case p.word("False"):
			case p.word("True"):
				return nil, fmt.Errorf("%w: Fortran-order array (only C order is read)", ErrUnsupported)
			default:
				return nil, formatErr("header: fortran_order is not True or False")
			}
		case "shape":
			if shapeSeen {
				return nil, formatErr("header: duplicate key 'shape'")
			}
			shapeSeen = true
			if shape, err = p.tuple(); err != nil {
				return nil, formatErr("header shape: %v", err)
			}
		default:
			return nil, formatErr("header: unexpected key %q", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat('}') {
			break
		}
		return nil, formatErr("header: expected ',' or '}' at %q", trunc(p.s[p.i:]))
	}
	if p.i != len(p.s) {
		return nil, formatErr("header: content after the dict: %q", trunc(p.s[p.i:]))
	}
	if !descr || !fortran || !shapeSeen {
		return nil, formatErr("header lacks one of 'descr', 'fortran_order', 'shape'")
	}
	return shape, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// lit is a cursor over a Python literal.
type lit struct {
	s string
	i int
}

func (p *lit) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *lit) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *lit) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str parses a quoted string without escapes (all numpy writes).
func (p *lit) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("expected a quoted string")
	}
	q := p.s[p.i]
	j := strings.IndexByte(p.s[p.i+1:], q)
	if j < 0 {
		return "", errors.New("unterminated string")
	}
	s := p.s[p.i+1 : p.i+1+j]
	if strings.ContainsRune(s, '\\') {
		return "", errors.New("escapes in strings are not supported")
	}
	p.i += j + 2
	return s, nil
}

// tuple parses "()", "(3,)" or "(3, 4)" (a trailing comma allowed).
func (p *lit) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("expected '('")
	}
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			if len(shape) == 1 && !strings.HasSuffix(strings.TrimRight(p.s[:p.i-1], " "), ",") {
				return nil, errors.New("(n) is not a tuple; numpy writes (n,)")
			}
			return shape, nil
		}
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i || j-p.i > 18 {
			return nil, fmt.Errorf("bad dimension at %q", trunc(p.s[p.i:]))
		}
		d, err := strconv.Atoi(p.s[p.i:j])
		if err != nil {
			return nil, err
		}
		if len(shape) >= 32 {
			return nil, errors.New("more than 32 dimensions")
		}
		shape = append(shape, d)
		p.i = j
		// numpy writes "3L" on Python 2: accept the suffix.
		p.eat('L')
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.s[p.i:] == "" || p.s[p.i] != ')' {
			return nil, fmt.Errorf("expected ',' or ')' at %q", trunc(p.s[p.i:]))
		}
	}
}
