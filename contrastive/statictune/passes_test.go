package statictune

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPassesPerStep checks the expected span of a step's crops against
// the crops Sample really cuts (no deletion, so a crop's length is its
// span), on documents from 2 to 400 tokens, for overlapping crops, the
// recipe's disjoint crops in short documents, and disjoint crops
// everywhere; then StepsForPasses against it.
func TestPassesPerStep(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const V, dim = 500, 4
	w := make([]float32, V*dim)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	var docs [][]int32
	for _, span := range [][2]int{{2, 20}, {20, 150}, {150, 400}} {
		for range 100 {
			n := span[0] + r.IntN(span[1]-span[0]+1)
			d := make([]int32, n)
			for j := range d {
				d[j] = int32(r.IntN(V))
			}
			docs = append(docs, d)
		}
	}
	var total float64
	for _, d := range docs {
		total += float64(len(d))
	}
	cases := []struct {
		name string
		o    Options
	}{
		{"overlapping", Options{Batch: 64, Deletion: -1}},
		{"recipe", Options{Batch: 64, Deletion: -1, DisjointBelow: 144}},
		{"disjoint", Options{Batch: 64, Deletion: -1, Disjoint: true}},
	}
	var got []float64
	for _, c := range cases {
		tr, err := New(append([]float32(nil), w...), dim, docs, c.o)
		if err != nil {
			t.Fatal(err)
		}
		const steps = 400
		var span float64
		for range steps {
			b := tr.Sample()
			for i := range b.Queries {
				span += float64(len(b.Queries[i]) + len(b.Keys[i]))
			}
		}
		measured := span / steps / total
		want := tr.PassesPerStep()
		if math.Abs(measured-want) > 0.02*want {
			t.Errorf("%s: crops span %.4f of the corpus per step, PassesPerStep says %.4f", c.name, measured, want)
		}
		if s := tr.StepsForPasses(10); s != int64(math.Ceil(10/want)) || float64(s)*want < 10 || float64(s-1)*want >= 10 {
			t.Errorf("%s: StepsForPasses(10) = %d for %.4f passes per step", c.name, s, want)
		}
		got = append(got, want)
	}
	// Disjoint crops span less of a short document than overlapping ones
	// count (the key is cut from what the query leaves).
	if !(got[0] > got[1] && got[1] > got[2]) {
		t.Errorf("passes per step: overlapping %.4f, recipe %.4f, disjoint %.4f; want decreasing", got[0], got[1], got[2])
	}
}

// TestMeanMin checks the closed form against the sum it replaces.
func TestMeanMin(t *testing.T) {
	for lo := 1; lo <= 6; lo++ {
		for hi := lo; hi <= 12; hi++ {
			for r := 0; r <= 15; r++ {
				var s float64
				for m := lo; m <= hi; m++ {
					s += float64(min(m, r))
				}
				if want := s / float64(hi-lo+1); math.Abs(meanMin(lo, hi, r)-want) > 1e-12 {
					t.Fatalf("meanMin(%d, %d, %d) = %g, want %g", lo, hi, r, meanMin(lo, hi, r), want)
				}
			}
		}
	}
}

// TestRateForPasses checks the recipe's rate rule: the most at few
// passes, RateTimesPasses/passes between, the least from DefaultPasses.
func TestRateForPasses(t *testing.T) {
	for _, c := range []struct{ p, want float64 }{
		{0, MaxRate}, {math.NaN(), MaxRate}, {10, MaxRate}, {30, MaxRate}, {50, 0.06}, {60, 0.05}, {50.02, 0.06}, {38.8, 0.0773},
		{DefaultPasses, MinRate}, {DefaultPasses + 0.04, MinRate}, {1000, MinRate},
	} {
		if got := RateForPasses(c.p); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("RateForPasses(%g) = %g, want %g", c.p, got, c.want)
		}
	}
	if RateTimesPasses/MinRate != DefaultPasses {
		t.Errorf("the least rate should begin at the recipe's %d passes", DefaultPasses)
	}
}
