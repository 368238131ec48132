package npy

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func same(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func sameShape(a, b []int) bool {
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

// TestNumpyGolden reads files numpy.save wrote, and checks that WriteFloat32
// writes byte-identical files for the same arrays.
func TestNumpyGolden(t *testing.T) {
	m := make([]float32, 12)
	for i := range m {
		m[i] = (float32(i) - 5.5) / 3
	}
	cases := []struct {
		file  string
		shape []int
		data  []float32
	}{
		{"numpy_3x4.npy", []int{3, 4}, m},
		{"numpy_1d.npy", []int{4}, []float32{1.5, float32(math.Copysign(0, -1)), float32(math.Inf(1)), math.Float32frombits(1)}},
		{"numpy_0d.npy", []int{}, []float32{2.25}},
		{"numpy_empty.npy", []int{0, 7}, []float32{}},
		{"numpy_v2.npy", []int{3, 4}, m},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join("testdata", c.file)
		data, shape, err := ReadFloat32(p)
		if err != nil {
			t.Fatal(err)
		}
		if !sameShape(shape, c.shape) || !same(data, c.data) {
			t.Errorf("%s: got %v %v, want %v %v", c.file, shape, data, c.shape, c.data)
		}
		if c.file == "numpy_v2.npy" {
			continue
		}
		q := filepath.Join(dir, c.file)
		if err := WriteFloat32(q, c.data, c.shape...); err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(p)
		got, _ := os.ReadFile(q)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: our file differs from numpy's:\n%q\n%q", c.file, got, want)
		}
		if sh, err := ReadHeader(q); err != nil || !sameShape(sh, c.shape) {
			t.Errorf("%s: ReadHeader %v, %v", c.file, sh, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	for _, shape := range [][]int{{1}, {5}, {7, 3}, {2, 3, 4}, {1000, 17}, {3, 0}, {0}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		p := filepath.Join(dir, "x.npy")
		if err := WriteFloat32(p, data, shape...); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if (len(b)-4*n)%64 != 0 {
			t.Errorf("%v: header of %d bytes is not 64-aligned", shape, len(b)-4*n)
		}
		got, gs, err := ReadFloat32(p)
		if err != nil || !sameShape(gs, shape) || !same(got, data) {
			t.Errorf("%v: round trip gave %v, %v", shape, gs, err)
		}
	}
	if err := WriteFloat32(filepath.Join(dir, "bad.npy"), make([]float32, 5), 2, 3); err == nil {
		t.Error("shape mismatch: no error")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.npy")); !os.IsNotExist(err) {
		t.Error("failed write left a file")
	}
}

func TestWriter(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(2))
	data := make([]float32, 37*5)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	for _, rows := range []int{37, -1} {
		p := filepath.Join(dir, fmt.Sprintf("s%d.npy", rows))
		w, err := NewWriter(p, rows, 5)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 37; {
			k := min(1+rng.Intn(6), 37-i)
			if err := w.Write(data[5*i : 5*(i+k)]); err != nil {
				t.Fatal(err)
			}
			i += k
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Error("file visible before Close")
		}
		if w.Rows() != 37 {
			t.Errorf("Rows %d", w.Rows())
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, shape, err := ReadFloat32(p)
		if err != nil || !sameShape(shape, []int{37, 5}) || !same(got, data) {
			t.Errorf("rows %d: got %v, %v", rows, shape, err)
		}
		if rows == 37 {
			// Same bytes as WriteFloat32.
			q := filepath.Join(dir, "w.npy")
			WriteFloat32(q, data, 37, 5)
			a, _ := os.ReadFile(p)
			b, _ := os.ReadFile(q)
			if !bytes.Equal(a, b) {
				t.Error("streaming and one-shot files differ")
			}
		}
	}
	// Errors: partial rows, too many rows, too few rows at Close.
	p := filepath.Join(dir, "e.npy")
	w, _ := NewWriter(p, 2, 3)
	if err := w.Write(make([]float32, 4)); err == nil {
		t.Error("partial row: no error")
	}
	if err := w.Write(make([]float32, 9)); err == nil {
		t.Error("too many rows: no error")
	}
	w.Write(make([]float32, 3))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "3 values written, 6 announced") {
		t.Errorf("short Close: %v", err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("failed Close left a file")
	}
	w, _ = NewWriter(p, 1, 1)
	w.Abort()
	if err := w.Write([]float32{1}); err == nil {
		t.Error("write after Abort: no error")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("testdata", "numpy_3x4.npy"))
	if err != nil {
		t.Fatal(err)
	}
	withHeader := func(dict string, data int) []byte {
		h := header([]int{1}, 0)
		pad := len(h) - 10 - 1
		d := dict + strings.Repeat(" ", max(0, pad-len(dict)))
		b := append([]byte(magic+"\x01\x00"), byte(len(d)+1), byte((len(d)+1)>>8))
		b = append(b, d...)
		b = append(b, '\n')
		return append(b, make([]byte, data)...)
	}
	cases := []struct {
		name string
		file []byte
		want string
		is   error
	}{
		{"f64", nil, "dtype \"<f8\"", ErrUnsupported},
		{"big endian", nil, "dtype \">f4\"", ErrUnsupported},
		{"fortran", nil, "Fortran", ErrUnsupported},
		{"empty", []byte{}, "too short", ErrFormat},
		{"bad magic", append([]byte("\x93NUMPZ"), good[6:]...), "magic", ErrFormat},
		{"version", append(append([]byte{}, good[:6]...), append([]byte{4, 0}, good[8:]...)...), "version 4.0", ErrUnsupported},
		{"truncated data", good[:len(good)-1], "truncated", ErrFormat},
		{"trailing", append(append([]byte{}, good...), 0, 0, 0, 0), "4 bytes after", ErrFormat},
		{"header past end", good[:50], "does not fit", ErrFormat},
		{"no descr", withHeader("{'fortran_order': False, 'shape': (1,), }", 4), "lacks", ErrFormat},
		{"unknown key", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4), "unexpected key", ErrFormat},
		{"duplicate", withHeader("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4), "duplicate", ErrFormat},
		{"negative", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 4), "bad dimension", ErrFormat},
		{"not tuple", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1)}", 4), "not a tuple", ErrFormat},
		{"garbage after", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", 4), "after the dict", ErrFormat},
		{"huge", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999, 999999999999)}", 4), "too large", ErrFormat},
		{"fortran word", withHeader("{'descr': '<f4', 'fortran_order': Nope, 'shape': (1,)}", 4), "True or False", ErrFormat},
	}
	for _, c := range cases {
		p := filepath.Join("testdata", "numpy_"+strings.ReplaceAll(strings.ReplaceAll(c.name, "big endian", "be"), " ", "_")+".npy")
		if c.file != nil {
			p = filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".npy")
			os.WriteFile(p, c.file, 0o644)
		}
		_, _, err := ReadFloat32(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want %q naming %s", c.name, err, c.want, p)
		}
	}
	// A valid header for 1 value passes (the helper itself is sound).
	p := filepath.Join(dir, "ok.npy")
	os.WriteFile(p, withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4), 0o644)
	if _, _, err := ReadFloat32(p); err != nil {
		t.Errorf("valid hand-made header: %v", err)
	}
	// Cut at every length: always an error.
	for n := 0; n < len(good); n++ {
		if _, _, err := decode(bytes.NewReader(good[:n]), int64(n)); err == nil {
			t.Fatalf("file cut to %d bytes read without error", n)
		}
	}
}

func FuzzReadFloat32(f *testing.F) {
	ents, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".npy") {
			b, _ := os.ReadFile(filepath.Join("testdata", e.Name()))
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		data, shape, err := decode(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		if n != len(data) {
			t.Fatalf("shape %v with %d values", shape, len(data))
		}
	})
}
