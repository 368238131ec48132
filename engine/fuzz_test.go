package engine

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadManifest: any bytes as manifest.json give a manifest that passes
// its checks or an error, never a panic; a changed valid manifest is
// refused.
func FuzzReadManifest(f *testing.F) {
	dir := f.TempDir()
	m := &Manifest{Docs: 3, Seq: 2, BM25: &BM25Info{K1: 0.9, B: 0.4, Docs: 3}}
	if err := writeManifest(dir, m); err != nil {
		f.Fatal(err)
	}
	valid, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	f.Add(valid)
	f.Add([]byte(`{"format": 1}`))
	f.Add([]byte(`{"format": 2, "checksum": ""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, ManifestFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadManifest(d)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if got.Format != FormatVersion {
			t.Fatalf("accepted format %d", got.Format)
		}
		if (got.Model == nil) != (got.Vectors == nil) {
			t.Fatal("accepted model without vectors")
		}
	})
}

// FuzzReadNpy: any bytes as a cache file are read as the expected shape or
// refused, never a panic.
func FuzzReadNpy(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "x.npy")
	if err := WriteNpy(p, []float32{1, 2, 3, 4, 5, 6}, 2, 3); err != nil {
		f.Fatal(err)
	}
	valid, _ := os.ReadFile(p)
	f.Add(valid)
	f.Add(valid[:20])
	f.Add([]byte("\x93NUMPY\x01\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "x.npy")
		os.WriteFile(p, data, 0o644)
		v, err := ReadNpy(p, 2, 3)
		if err == nil && len(v) != 6 {
			t.Fatalf("%d values for a 2×3 array", len(v))
		}
	})
}
