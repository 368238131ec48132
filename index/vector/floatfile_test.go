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

// TestIVFWriteFloatFile: a float file written by IVF.WriteFloatFile (rows
// in the index's order) attaches without an id map (rows numbered in
// order) and re-ranks exactly as a file in the data's order; an error of
// the vector callback fails the write and leaves no file.
func TestIVFWriteFloatFile(t *testing.T) {
	ds := newDataset(7, 2000, 15, 32, InnerProduct)
	build := func() *IVF {
		ix, err := NewIVF(ds.dim, 16, WithPQ(8), WithCodesOnly(), WithNProbe(5), WithSeed(3))
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
	row := map[string]int{}
	for i, id := range ds.ids {
		row[id] = i
	}
	vec := func(id string) ([]float32, error) {
		r := row[id]
		return ds.vecs[r*ds.dim : (r+1)*ds.dim], nil
	}
	dir := t.TempDir()
	a, b := build(), build()
	pa, pb := filepath.Join(dir, "data.f32"), filepath.Join(dir, "index.f32")
	if err := WriteFloatFile(pa, ds.dim, ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteFloatFile(pb, vec); err != nil {
		t.Fatal(err)
	}
	fa, err := OpenFloatFile(pa)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := OpenFloatFile(pb)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	if err := fb.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := a.AttachFloats(fa); err != nil {
		t.Fatal(err)
	}
	if err := b.AttachFloats(fb); err != nil {
		t.Fatal(err)
	}
	r := int32(0)
	for l := range b.lists {
		for j := range b.lists[l].ids {
			if b.lists[l].ext[j] != r {
				t.Fatalf("list %d row %d: file row %d, want %d (index order)", l, j, b.lists[l].ext[j], r)
			}
			if !reflect.DeepEqual(fb.Row(int(r)), ds.vecs[row[b.lists[l].ids[j]]*ds.dim:(row[b.lists[l].ids[j]]+1)*ds.dim]) {
				t.Fatalf("file row %d is not the vector of %s", r, b.lists[l].ids[j])
			}
			r++
		}
	}
	ra, err := a.Search(ds.qs, 10)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Search(ds.qs, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ra, rb) {
		t.Fatalf("index-order file gives %v, data-order file %v", rb[0], ra[0])
	}
	pc := filepath.Join(dir, "bad.f32")
	boom := errors.New("no such vector")
	err = b.WriteFloatFile(pc, func(id string) ([]float32, error) {
		if id == ds.ids[77] {
			return nil, boom
		}
		return vec(id)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("callback error: got %v", err)
	}
	if _, err := os.Stat(pc); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed write left %s: %v", pc, err)
	}
}

func TestDropFloatFileCache(t *testing.T) {
	ds := newDataset(8, 50, 1, 8, InnerProduct)
	path := filepath.Join(t.TempDir(), "v.f32")
	if err := WriteFloatFile(path, ds.dim, ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	if err := DropFloatFileCache(path); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFloatFile(path) // still whole after the hint
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := DropFloatFileCache(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
