package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/encoder"

	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestLabelFreeAlpha checks that the label-free fusion weight follows the
// model's provenance: the tuned weight only for a static-tuned model of at
// least fusion.TunedMinSteps steps or fusion.TunedMinPasses passes; the conservative default for a young,
// training-free, unknown or transformer model.
func TestLabelFreeAlpha(t *testing.T) {
	m := zeroStatic(t)
	cases := []struct {
		p    *static.Provenance
		want float64
	}{
		{nil, fusion.DefaultAlpha},
		{&static.Provenance{Recipe: static.RecipeStatic}, fusion.DefaultAlpha},
		{&static.Provenance{Recipe: static.RecipeTuned, Steps: fusion.TunedMinSteps - 1}, fusion.DefaultAlpha},
		{&static.Provenance{Recipe: static.RecipeTuned, Steps: fusion.TunedMinSteps}, fusion.TunedAlpha},
		// A small corpus: the schedule ended after its passes, before TunedMinSteps.
		{&static.Provenance{Recipe: static.RecipeTuned, Steps: fusion.TunedMinSteps - 1, Passes: fusion.TunedMinPasses}, fusion.TunedAlpha},
		{&static.Provenance{Recipe: static.RecipeTuned, Steps: 10, Passes: fusion.TunedMinPasses - 1}, fusion.DefaultAlpha},
		{&static.Provenance{Recipe: static.RecipeStatic, Passes: 1000}, fusion.DefaultAlpha},
		{&static.Provenance{Recipe: "other", Steps: 1 << 20}, fusion.DefaultAlpha},
	}
	for _, c := range cases {
		m.Provenance = c.p
		if a, rule := LabelFreeAlpha(&StaticEmbedder{m: m}); a != c.want || rule == "" {
			t.Errorf("provenance %+v: α %v (%q), want %v", c.p, a, rule, c.want)
		}
	}
	if a, _ := LabelFreeAlpha(&EncoderPool{}); a != fusion.DefaultAlpha {
		t.Errorf("transformer: α %v, want %v", a, fusion.DefaultAlpha)
	}
}

// TestLabelFreeAlphaFolder checks the rule through the folder: a static
// model saved with a tuned provenance and opened as every command opens
// models (OpenModelAt, which wraps it with its conventions) gets the tuned
// weight; the same folder without its provenance file gets the default.
func TestLabelFreeAlphaFolder(t *testing.T) {
	m := zeroStatic(t)
	m.Provenance = &static.Provenance{Recipe: static.RecipeTuned, Steps: 1000}
	dir := filepath.Join(t.TempDir(), "m")
	if err := static.Save(dir, m, "card"); err != nil {
		t.Fatal(err)
	}
	open := func() float64 {
		e, err := OpenModelAt(dir, ModelSettings{}, 8, 1, encoder.F32)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		a, _ := LabelFreeAlpha(e)
		return a
	}
	if a := open(); a != fusion.TunedAlpha {
		t.Fatalf("tuned folder: α %v, want %v", a, fusion.TunedAlpha)
	}
	if err := os.Remove(filepath.Join(dir, static.ProvenanceFile)); err != nil {
		t.Fatal(err)
	}
	if a := open(); a != fusion.DefaultAlpha {
		t.Fatalf("folder without provenance: α %v, want %v", a, fusion.DefaultAlpha)
	}
}

// zeroStatic returns a 4-dimensional static model of zeros over the
// bundled bert-base-uncased vocabulary.
func zeroStatic(t *testing.T) *static.Model {
	tok, err := wordpiece.Load(fixture.Repo(t, "data", "vocab", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := static.New(tok, make([]float32, tok.VocabSize()*4), 4)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
