package static

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/contriever-go/contriever/encoder/checkpoint"
)

// TestProvenanceRoundTrip saves a model with a provenance, in F16, and
// checks that Load reads the provenance back, that Files lists its file
// (so an index copies it), and that the weights come back within F16's
// rounding.
func TestProvenanceRoundTrip(t *testing.T) {
	m := randomModel(t, 8)
	m.Provenance = &Provenance{Recipe: RecipeTuned, Steps: 6945, Budget: "20m0s", Seed: 1, Corpus: "data/scifact", Passes: 644.5, LR: 0.03}
	dir := filepath.Join(t.TempDir(), "m")
	if err := SaveDType(dir, m, "card", checkpoint.F16); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Provenance == nil || *got.Provenance != *m.Provenance {
		t.Fatalf("provenance %+v, want %+v", got.Provenance, m.Provenance)
	}
	for i, w := range m.Weight() {
		g := got.Weight()[i]
		if d := g - w; d > 1e-3*max(1, abs32(w)) || -d > 1e-3*max(1, abs32(w)) {
			t.Fatalf("weight %d: %g after F16, want %g", i, g, w)
		}
	}
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, ProvenanceFile) {
		t.Fatalf("Files = %v, missing %s", files, ProvenanceFile)
	}
	// Without a provenance: no file, nil after Load.
	m.Provenance = nil
	dir2 := filepath.Join(t.TempDir(), "m2")
	if err := Save(dir2, m, "card"); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(dir2); err != nil || got.Provenance != nil {
		t.Fatalf("no provenance: %+v, %v", got.Provenance, err)
	}
	// A damaged provenance is an error naming the file, not a silent nil.
	if err := os.WriteFile(filepath.Join(dir, ProvenanceFile), []byte(`{"recipe": 5`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrProvenance) {
		t.Fatalf("damaged provenance: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ProvenanceFile), []byte(`{"recipe": "static-tuned", "steps": 5, "passes": -1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrProvenance) {
		t.Fatalf("negative passes: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ProvenanceFile), []byte(`{"recipe": "static-tuned", "steps": 5, "lr": -0.1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrProvenance) {
		t.Fatalf("negative lr: %v", err)
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// FuzzReadProvenance feeds arbitrary provenance files to the reader: a
// provenance with non-negative steps and passes or an error, never a
// panic.
func FuzzReadProvenance(f *testing.F) {
	f.Add([]byte(`{"recipe":"static-tuned","steps":300,"budget":"20m0s","seed":1,"corpus":"c"}`))
	f.Add([]byte(`{"steps":-1}`))
	f.Add([]byte(`{"recipe":"static-tuned","steps":1078,"passes":100.02}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ProvenanceFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := ReadProvenance(dir)
		if err == nil && (p == nil || p.Steps < 0 || !(p.Passes >= 0) || !(p.LR >= 0)) {
			t.Fatalf("accepted %+v", p)
		}
	})
}
