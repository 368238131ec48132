package vector

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestAttachFloats: a codes-only index (PQ or SQ8) with the float file
// attached returns exactly what the same index keeping its floats returns
// (same seed, so the same codes and candidates, re-scored from the mapped
// rows instead of the heap), also after a Remove; Add detaches the file.
func TestAttachFloats(t *testing.T) {
	for _, m := range []Metric{InnerProduct, Cosine} {
		for _, c := range []struct {
			name string
			opts []Option
		}{{"pq", []Option{WithPQ(8)}}, {"sq8", []Option{WithSQ8()}}} {
			t.Run(c.name+"/"+m.String(), func(t *testing.T) {
				ds := newDataset(5, 3000, 20, 32, m)
				build := func(extra ...Option) *IVF {
					opts := append(append([]Option{WithMetric(m), WithNProbe(6), WithSeed(9)}, c.opts...), extra...)
					ix, err := NewIVF(ds.dim, 24, opts...)
					if err != nil {
						t.Fatal(err)
					}
					if err := ix.Train(ds.train); err != nil {
						t.Fatal(err)
					}
					if err := ix.Add(ds.ids, ds.vecs); err != nil {
						t.Fatal(err)
					}
					return ix
				}
				ref, codes := build(), build(WithCodesOnly())
				path := filepath.Join(t.TempDir(), "vecs.f32")
				if err := WriteFloatFile(path, ds.dim, ds.ids, ds.vecs); err != nil {
					t.Fatal(err)
				}
				f, err := OpenFloatFile(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := f.Verify(); err != nil {
					t.Fatal(err)
				}
				approx, err := codes.Search(ds.qs, 10)
				if err != nil {
					t.Fatal(err)
				}
				if err := codes.AttachFloats(f); err != nil {
					t.Fatal(err)
				}
				same := func(when string) {
					t.Helper()
					want, err := ref.Search(ds.qs, 10)
					if err != nil {
						t.Fatal(err)
					}
					got, err := codes.Search(ds.qs, 10)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: attached floats give %v, the index with floats %v", when, got[0], want[0])
					}
				}
				same("after attach")
				if reflect.DeepEqual(approx, func() [][]Result { r, _ := codes.Search(ds.qs, 10); return r }()) {
					t.Fatal("re-ranked results equal the codes-only ones: the re-rank did nothing")
				}
				rm := ds.ids[:300]
				if _, err := ref.Remove(rm); err != nil {
					t.Fatal(err)
				}
				if _, err := codes.Remove(rm); err != nil {
					t.Fatal(err)
				}
				same("after remove")
				if err := codes.Add(rm[:1], ds.vecs[:ds.dim]); err != nil {
					t.Fatal(err)
				}
				if codes.Floats() != nil {
					t.Fatal("Add left the float file attached")
				}
			})
		}
	}
}

// TestFloatFileCorrupt: a float file that is truncated, altered in its
// header or ids, or of another dimension is rejected at open or attach; a
// flipped byte in the floats is caught by Verify.
func TestFloatFileCorrupt(t *testing.T) {
	dir := t.TempDir()
	ds := newDataset(6, 400, 1, 16, InnerProduct)
	path := filepath.Join(dir, "v.f32")
	if err := WriteFloatFile(path, ds.dim, ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	floatsEnd := floatFileHeader + len(ds.vecs)*4
	for _, c := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"header", func(b []byte) []byte { b[8]++; return b }},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"ids", func(b []byte) []byte { b[floatsEnd+2] ^= 1; return b }},
		{"end", func(b []byte) []byte { b[len(b)-1] = 0; return b }},
	} {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, c.edit(append([]byte(nil), good...)), 0o644)
		if f, err := OpenFloatFile(p); !errors.Is(err, ErrCorrupt) {
			if f != nil {
				f.Close()
			}
			t.Errorf("%s: err %v, want ErrCorrupt", c.name, err)
		}
	}
	b := append([]byte(nil), good...)
	b[floatFileHeader+5] ^= 0x40
	p := filepath.Join(dir, "floats")
	os.WriteFile(p, b, 0o644)
	f, err := OpenFloatFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Verify(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped float: Verify %v, want ErrCorrupt", err)
	}
	f.Close()

	// Attach: another dimension, a missing id, an index keeping floats.
	f, err = OpenFloatFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other, _ := NewIVF(8, 4, WithPQ(4), WithCodesOnly())
	if err := other.AttachFloats(f); !errors.Is(err, ErrDimension) {
		t.Errorf("dim 8 index: %v, want ErrDimension", err)
	}
	ix, _ := NewIVF(ds.dim, 4, WithPQ(4), WithCodesOnly(), WithSeed(1))
	if err := ix.Train(ds.vecs); err != nil {
		t.Fatal(err)
	}
	ix.Add([]string{"not-there"}, ds.vecs[:ds.dim])
	if err := ix.AttachFloats(f); !errors.Is(err, ErrInvalid) {
		t.Errorf("missing id: %v, want ErrInvalid", err)
	}
	keep, _ := NewIVF(ds.dim, 4, WithPQ(4))
	if err := keep.AttachFloats(f); !errors.Is(err, ErrInvalid) {
		t.Errorf("index with floats: %v, want ErrInvalid", err)
	}
}
