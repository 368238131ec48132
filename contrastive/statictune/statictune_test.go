package statictune

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// toy returns a random vocab×dim matrix and documents over it.
func toy(V, dim, nDocs int, seed uint64) ([]float32, [][]int32) {
	r := rand.New(rand.NewPCG(seed, 1))
	w := make([]float32, V*dim)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	docs := make([][]int32, nDocs)
	for i := range docs {
		n := 5 + r.IntN(30)
		for j := 0; j < n; j++ {
			docs[i] = append(docs[i], int32(r.IntN(V)))
		}
	}
	return w, docs
}

// TestGradient checks the analytic gradient of the loss with respect to
// the rows against central finite differences, for both directions of
// InfoNCE.
func TestGradient(t *testing.T) {
	for _, c := range []struct {
		sym     bool
		lexical float64
	}{{false, 0}, {true, 0}, {false, 2}, {true, 2}} {
		sym := c.sym
		w, docs := toy(40, 6, 12, 3)
		tr, err := New(w, 6, docs, Options{Batch: 5, Temperature: 0.5, QueryMin: 2, QueryMax: 5, KeyMin: 4, KeyMax: 10, Symmetric: sym, Lexical: c.lexical, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		b := tr.Sample()
		tr.Loss(b, true)
		if len(tr.touched) == 0 {
			t.Fatal("no rows touched")
		}
		grad := slices.Clone(tr.grad)
		checked := 0
		for _, id := range tr.touched[:min(6, len(tr.touched))] {
			for j := 0; j < 6; j++ {
				i := int(id)*6 + j
				orig := w[i]
				const h = 1e-2
				w[i] = orig + h
				lp := tr.Loss(b, false)
				w[i] = orig - h
				lm := tr.Loss(b, false)
				w[i] = orig
				num := (lp - lm) / (2 * h)
				if d := math.Abs(num - float64(grad[i])); d > 2e-3+2e-2*math.Abs(num) {
					t.Errorf("symmetric %v, lexical %g: row %d col %d: analytic %g, numeric %g", sym, c.lexical, id, j, grad[i], num)
				}
				checked++
			}
		}
		// Rows outside the batch have no gradient.
		for r := 0; r < 40; r++ {
			if !tr.mark[r] && slices.ContainsFunc(grad[r*6:(r+1)*6], func(x float32) bool { return x != 0 }) {
				t.Errorf("row %d is not in the batch but has a gradient", r)
			}
		}
		if checked < 12 {
			t.Fatalf("checked %d entries", checked)
		}
	}
}

// TestTrainLowersLoss checks that steps lower the loss of a fixed batch,
// and that training is deterministic for a seed.
func TestTrainLowersLoss(t *testing.T) {
	run := func() ([]float32, float64, float64) {
		w, docs := toy(50, 8, 40, 5)
		tr, err := New(w, 8, docs, Options{Batch: 16, Temperature: 0.1, QueryMin: 2, QueryMax: 4, KeyMin: 5, KeyMax: 20, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		probe := tr.Sample()
		before := tr.Loss(probe, false)
		for s := 0; s < 60; s++ {
			tr.Step(0.05)
		}
		return tr.Weight(), before, tr.Loss(probe, false)
	}
	w1, b1, a1 := run()
	w2, _, _ := run()
	if !(a1 < b1) {
		t.Errorf("loss %g after 60 steps, %g before", a1, b1)
	}
	if !slices.Equal(w1, w2) {
		t.Error("two runs with one seed differ")
	}
}

func TestOptionsErrors(t *testing.T) {
	w, docs := toy(20, 4, 10, 1)
	for _, o := range []Options{{Batch: 11}, {Batch: 1}, {Temperature: -1}, {QueryMin: 5, QueryMax: 2}, {Deletion: 1}, {Anchor: -1}, {Lexical: -1}, {Lexical: math.Inf(1)}} {
		if _, err := New(slices.Clone(w), 4, docs, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := New(w, 4, [][]int32{{1, 99}, {1, 2}}, Options{Batch: 2}); err == nil {
		t.Error("token outside the vocabulary: no error")
	}
	if _, err := New(make([]float32, 80), 4, docs, Options{Batch: 2}); err == nil {
		t.Error("all-zero rows: no error")
	}
}

// TestResume checks that a run saved after some steps and restored into a
// fresh trainer continues bit for bit, and that damaged or foreign states
// are refused.
func TestResume(t *testing.T) {
	o := Options{Batch: 8, Temperature: 0.1, QueryMin: 2, QueryMax: 4, KeyMin: 5, KeyMax: 20, Anchor: 0.5, Seed: 4}
	w, docs := toy(60, 8, 30, 6)
	init := slices.Clone(w)
	full, err := New(slices.Clone(init), 8, docs, o)
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < 20; s++ {
		full.Step(0.05)
	}
	half, _ := New(slices.Clone(init), 8, docs, o)
	for s := 0; s < 9; s++ {
		half.Step(0.05)
	}
	state, err := half.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := StateSteps(state); err != nil || n != 9 {
		t.Errorf("StateSteps: %d, %v", n, err)
	}
	resumed, _ := New(slices.Clone(init), 8, docs, o)
	if err := resumed.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	if resumed.Steps() != 9 {
		t.Fatalf("resumed at step %d", resumed.Steps())
	}
	for s := 9; s < 20; s++ {
		resumed.Step(0.05)
	}
	if !slices.Equal(resumed.Weight(), full.Weight()) {
		t.Error("resumed run differs from the uninterrupted one")
	}
	bad := slices.Clone(state)
	bad[len(bad)/2] ^= 1
	fresh, _ := New(slices.Clone(init), 8, docs, o)
	if err := fresh.UnmarshalBinary(bad); !errors.Is(err, ErrState) {
		t.Errorf("damaged state: %v", err)
	}
	if _, err := StateSteps(bad); !errors.Is(err, ErrState) {
		t.Errorf("StateSteps of a damaged state: %v", err)
	}
	o2 := o
	o2.Seed = 5
	other, _ := New(slices.Clone(init), 8, docs, o2)
	if err := other.UnmarshalBinary(state); !errors.Is(err, ErrState) {
		t.Errorf("state of another run: %v", err)
	}
	if err := fresh.UnmarshalBinary(state[:10]); !errors.Is(err, ErrState) {
		t.Errorf("short state: %v", err)
	}
}
