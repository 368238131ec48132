package nn

import (
	"math"
	"testing"
)

func TestErf32MatchesMathErf(t *testing.T) {
	var worst float64
	var at float32
	for i := -800000; i <= 800000; i++ {
		x := float32(i) * 1e-5
		got := float64(erf32(x))
		want := math.Erf(float64(x))
		if d := math.Abs(got - want); d > worst {
			worst, at = d, x
		}
	}
	for _, x := range []float32{-1e30, -50, 4.5, 9, 1e30} {
		if got, want := float64(erf32(x)), math.Erf(float64(x)); math.Abs(got-want) > 1e-6 {
			t.Errorf("erf32(%g) = %g, want %g", x, got, want)
		}
	}
	t.Logf("max |erf32 - math.Erf| = %.3g at %g", worst, at)
	if worst > 5e-7 {
		t.Fatalf("erf32 max abs error %.3g at %g, want <= 5e-7", worst, at)
	}
}
