package fusion

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestAlphaGrid(t *testing.T) {
	g := AlphaGrid(20)
	if len(g) != 21 || g[0] != 0 || g[20] != 1 || g[10] != 0.5 || g[1] != 0.05 {
		t.Fatalf("AlphaGrid(20) = %v", g)
	}
}

func TestSelectAlpha(t *testing.T) {
	// A concave score peaking at 0.3, plus a plateau to test ties.
	a, s, err := SelectAlpha(AlphaGrid(10), func(a float64) (float64, error) {
		return -math.Abs(a-0.3) + 1, nil
	})
	if err != nil || math.Abs(a-0.3) > 1e-15 || math.Abs(s-1) > 1e-15 {
		t.Fatalf("SelectAlpha = %v, %v, %v", a, s, err)
	}
	a, _, _ = SelectAlpha([]float64{0.2, 0.4, 0.6}, func(a float64) (float64, error) {
		return math.Min(a, 0.4), nil
	})
	if a != 0.4 {
		t.Fatalf("tie should go to the first best in grid order, got %v", a)
	}
	boom := errors.New("boom")
	if _, _, err := SelectAlpha([]float64{0.5}, func(float64) (float64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("eval error lost: %v", err)
	}
	if _, _, err := SelectAlpha([]float64{1.5}, func(float64) (float64, error) { return 0, nil }); !errors.Is(err, ErrAlpha) {
		t.Fatalf("bad grid: %v", err)
	}
	if _, _, err := SelectAlpha(nil, nil); !errors.Is(err, ErrAlpha) {
		t.Fatalf("empty grid: %v", err)
	}
	if _, _, err := SelectAlpha([]float64{0}, func(float64) (float64, error) { return math.NaN(), nil }); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("NaN score: %v", err)
	}
}

// TestLabelFree checks the label-free rule: the tuned weight only for a
// tuned model, and rule names that say which weight they hold.
func TestLabelFree(t *testing.T) {
	if a, r := LabelFree(true); a != TunedAlpha || r != TunedRule {
		t.Fatalf("tuned: %v %q", a, r)
	}
	// The rules name their weights, as the manifest and the log show them.
	if !strings.HasSuffix(TunedRule, fmt.Sprintf("α %v", TunedAlpha)) || !strings.Contains(DefaultRule, fmt.Sprintf("α %v", DefaultAlpha)) {
		t.Errorf("rules %q, %q do not name α %v, %v", TunedRule, DefaultRule, TunedAlpha, DefaultAlpha)
	}
	if a, r := LabelFree(false); a != DefaultAlpha || r != DefaultRule {
		t.Fatalf("young: %v %q", a, r)
	}
	if !(TunedAlpha > DefaultAlpha && TunedAlpha <= 1) {
		t.Fatalf("TunedAlpha %v must trust dense more than DefaultAlpha %v", TunedAlpha, DefaultAlpha)
	}
	for _, c := range []struct {
		a    float64
		rule string
	}{{TunedAlpha, TunedRule}, {DefaultAlpha, DefaultRule}} {
		if want := fmt.Sprintf("α %g", c.a); !strings.HasSuffix(c.rule, want) {
			t.Fatalf("rule %q does not end with %q", c.rule, want)
		}
	}
}
