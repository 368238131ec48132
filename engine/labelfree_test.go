package engine

import (
	"testing"

	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestLabelFreeAlpha checks that the label-free fusion weight follows the
// model's provenance: the tuned weight only for a static-tuned model of at
// least fusion.TunedMinSteps steps; the conservative default for a young,
// training-free, unknown or transformer model.
func TestLabelFreeAlpha(t *testing.T) {
	tok, err := wordpiece.Load(fixture.Repo(t, "data", "vocab", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := static.New(tok, make([]float32, tok.VocabSize()*4), 4)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		p    *static.Provenance
		want float64
	}{
		{nil, fusion.DefaultAlpha},
		{&static.Provenance{Recipe: static.RecipeStatic}, fusion.DefaultAlpha},
		{&static.Provenance{Recipe: static.RecipeTuned, Steps: fusion.TunedMinSteps - 1}, fusion.DefaultAlpha},
		{&static.Provenance{Recipe: static.RecipeTuned, Steps: fusion.TunedMinSteps}, fusion.TunedAlpha},
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
