package statictune

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/contriever-go/contriever/internal/blas32"
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
		sym                        bool
		lexical, distill, momentum float64
		queue                      int
		sep                        bool // separate query rows
	}{{false, 0, 0, 0, 0, false}, {true, 0, 0, 0, 0, false}, {false, 2, 0, 0, 0, false}, {true, 2, 0, 0, 0, false}, {false, 0, 0.5, 0, 0, false}, {false, 2, 1, 0, 0, false}, {false, 0, 0, 0, 8, false}, {false, 0, 0, 0.9, 8, false}, {false, 1, 0, 0.9, 0, false}, {false, 2, 0, 0, 8, false},
		{false, 0, 0, 0, 0, true}, {true, 0, 0, 0, 0, true}, {false, 0, 0, 0, 8, true}, {false, 2, 0.5, 0, 0, true}} {
		sym := c.sym
		w, docs := toy(40, 6, 12, 3)
		tr, err := New(w, 6, docs, Options{Batch: 5, Temperature: 0.5, QueryMin: 2, QueryMax: 5, KeyMin: 4, KeyMax: 10, Symmetric: sym, Lexical: c.lexical, Distill: c.distill, Queue: c.queue, Momentum: c.momentum, SeparateQueries: c.sep, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		if c.queue > 0 || c.momentum > 0 || c.sep { // a step fills part of the queue, moves the momentum rows off the rows and the query rows off the key rows
			tr.Step(0.5)
		}
		b := tr.Sample()
		tr.Loss(b, true)
		// Each table's gradient against finite differences of its own rows.
		tables := []struct {
			name    string
			w, grad []float32
			touched []int32
			mark    []bool
		}{{"rows", w, slices.Clone(tr.grad), slices.Clone(tr.touched), slices.Clone(tr.mark)}}
		if c.sep {
			if slices.Equal(tr.wq, w) {
				t.Fatal("a step left the query rows equal to the key rows")
			}
			tables = append(tables, struct {
				name    string
				w, grad []float32
				touched []int32
				mark    []bool
			}{"query rows", tr.wq, slices.Clone(tr.gradq), slices.Clone(tr.touchedq), slices.Clone(tr.markq)})
		}
		for _, tb := range tables {
			if len(tb.touched) == 0 {
				t.Fatalf("%+v: %s: no rows touched", c, tb.name)
			}
			checked := 0
			for _, id := range tb.touched[:min(6, len(tb.touched))] {
				for j := 0; j < 6; j++ {
					i := int(id)*6 + j
					orig := tb.w[i]
					const h = 1e-2
					tb.w[i] = orig + h
					lp := tr.Loss(b, false)
					tb.w[i] = orig - h
					lm := tr.Loss(b, false)
					tb.w[i] = orig
					num := (lp - lm) / (2 * h)
					if d := math.Abs(num - float64(tb.grad[i])); d > 2e-3+2e-2*math.Abs(num) {
						t.Errorf("%+v: %s: row %d col %d: analytic %g, numeric %g", c, tb.name, id, j, tb.grad[i], num)
					}
					checked++
				}
			}
			// Rows outside the batch have no gradient.
			for r := 0; r < 40; r++ {
				if !tb.mark[r] && slices.ContainsFunc(tb.grad[r*6:(r+1)*6], func(x float32) bool { return x != 0 }) {
					t.Errorf("%+v: %s: row %d is not in the batch but has a gradient", c, tb.name, r)
				}
			}
			if checked < 12 {
				t.Fatalf("%+v: %s: checked %d entries", c, tb.name, checked)
			}
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
	for _, o := range []Options{{Batch: 11}, {Batch: 1}, {Temperature: -1}, {QueryMin: 5, QueryMax: 2}, {Deletion: 1}, {Anchor: -1}, {Lexical: -1}, {Lexical: math.Inf(1)}, {Distill: -0.1}, {Distill: 1.5}, {Distill: math.NaN()}, {Distill: 0.5, Symmetric: true}, {Curriculum: 2}, {CurriculumSteps: 5}, {Curriculum: -1, CurriculumSteps: 5}, {Curriculum: math.Inf(1), CurriculumSteps: 5}, {Queue: -1}, {Momentum: 1}, {Momentum: -0.5}, {Queue: 4, Symmetric: true}, {Momentum: 0.9, Distill: 0.5}} {
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
// fresh trainer continues bit for bit, with and without a MoCo queue, and
// that damaged or foreign states are refused.
func TestResume(t *testing.T) {
	base := Options{Batch: 8, Temperature: 0.1, QueryMin: 2, QueryMax: 4, KeyMin: 5, KeyMax: 20, Anchor: 0.5, Seed: 4}
	queued := base
	queued.Queue = 20 // not a multiple of the batch: the ring wraps mid-batch
	sep := base
	sep.SeparateQueries = true
	sepQueued := queued
	sepQueued.SeparateQueries = true
	for _, o := range []Options{base, queued, sep, sepQueued} {
		t.Run(fmt.Sprintf("queue%d/separate=%v", o.Queue, o.SeparateQueries), func(t *testing.T) { testResume(t, o) })
	}
}

func testResume(t *testing.T, o Options) {
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
	if !slices.Equal(resumed.Weight(), full.Weight()) || !slices.Equal(resumed.QueryWeight(), full.QueryWeight()) {
		t.Error("resumed run differs from the uninterrupted one")
	}
	if o.SeparateQueries == slices.Equal(full.QueryWeight(), full.Weight()) {
		t.Errorf("separate query rows %v, but the query rows equal the key rows: %v", o.SeparateQueries, !o.SeparateQueries)
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
	o3 := o
	o3.Queue = 20 - o.Queue // the other test's queue
	third, _ := New(slices.Clone(init), 8, docs, o3)
	if err := third.UnmarshalBinary(state); !errors.Is(err, ErrState) {
		t.Errorf("state restored with queue %d into a trainer with queue %d: %v", o.Queue, o3.Queue, err)
	}
	o4 := o
	o4.SeparateQueries = !o.SeparateQueries
	fourth, _ := New(slices.Clone(init), 8, docs, o4)
	if err := fourth.UnmarshalBinary(state); !errors.Is(err, ErrState) {
		t.Errorf("state restored with separate query rows %v into a trainer with %v: %v", o.SeparateQueries, o4.SeparateQueries, err)
	}
}

// TestCurriculum checks the crop-length curriculum: the query crops'
// range is scaled by Curriculum at step 0, moves linearly to the
// options' range at CurriculumSteps and stays there, and the crops drawn
// keep to it.
func TestCurriculum(t *testing.T) {
	w, docs := toy(40, 4, 30, 5)
	for i := range docs { // long enough for every query crop
		for len(docs[i]) < 200 {
			docs[i] = append(docs[i], docs[i]...)
		}
	}
	tr, err := New(w, 4, docs, Options{Batch: 4, QueryMin: 4, QueryMax: 32, KeyMin: 8, KeyMax: 16, Curriculum: 2, CurriculumSteps: 10, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		step   int64
		lo, hi int
	}{{0, 8, 64}, {5, 6, 48}, {10, 4, 32}, {50, 4, 32}} {
		tr.step = c.step
		if lo, hi := tr.queryRange(); lo != c.lo || hi != c.hi {
			t.Errorf("step %d: query crops %d..%d, want %d..%d", c.step, lo, hi, c.lo, c.hi)
		}
		for range 20 {
			for _, q := range tr.Sample().Queries {
				if len(q) < c.lo || len(q) > c.hi {
					t.Fatalf("step %d: a query crop of %d tokens, outside %d..%d", c.step, len(q), c.lo, c.hi)
				}
			}
		}
	}
}

// TestQueue checks the MoCo queue against the loss computed directly: the
// queue holds the last pairs' keys and documents (oldest overwritten),
// and each query's softmax runs over the batch's keys (with BM25's
// residual, when Lexical is set) and the queued keys of other documents;
// a run with momentum rows does not save its state (TestResume resumes
// one with a queue).
func TestQueue(t *testing.T) {
	w, docs := toy(30, 5, 9, 4)
	for _, c := range []struct{ m, lexical float64 }{{0, 0}, {0.8, 0}, {0, 1.5}} {
		m := c.m
		tr, err := New(slices.Clone(w), 5, docs, Options{Batch: 4, Temperature: 0.3, QueryMin: 2, QueryMax: 4, KeyMin: 3, KeyMax: 6, Queue: 6, Momentum: m, Lexical: c.lexical, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		keyRows := func() []float32 { // the rows keys are embedded with
			if m > 0 {
				return tr.wm
			}
			return tr.w
		}
		var batches []Batch
		for range 2 {
			b := tr.Sample()
			batches = append(batches, b)
			k := make([]float32, 4*5)
			tr.embedWith(keyRows(), b.Keys, k)
			tr.stepOn(b, 0.1)
			e := (len(batches)*4 - 1) % 6 // the slot of the step's last key
			if !slices.Equal(tr.queue[e*5:(e+1)*5], k[3*5:]) || tr.queued[e] != b.docs[3] {
				t.Fatalf("momentum %g: the newest queued key is not the step's last", m)
			}
		}
		// 8 pairs through a queue of 6: from the oldest, the first batch's
		// last two and the second batch's four.
		want := append(slices.Clone(batches[0].docs), batches[1].docs...)[2:]
		got := append(slices.Clone(tr.queued[tr.head:]), tr.queued[:tr.head]...)
		if !slices.Equal(got, want) {
			t.Fatalf("momentum %g: queued documents %v, want %v", m, got, want)
		}
		b := tr.Sample()
		b.docs[0] = batches[1].docs[3] // a document that is queued
		gotLoss := tr.Loss(b, false)
		q := make([]float32, 4*5)
		k := make([]float32, 4*5)
		tr.embed(b.Queries, q)
		tr.embedWith(keyRows(), b.Keys, k)
		var lex []float32
		if c.lexical > 0 {
			lex = tr.lexical(b.Queries, b.Keys)
		}
		var wantLoss float64
		for i := range 4 {
			dot := func(v []float32) float64 { return float64(blas32.Dot(q[i*5:(i+1)*5], v)) / 0.3 }
			key := func(j int) float64 { // the logit of batch key j, with BM25's residual
				l := dot(k[j*5 : (j+1)*5])
				if lex != nil {
					l += c.lexical * float64(lex[i*4+j])
				}
				return l
			}
			var z float64
			for j := range 4 {
				z += math.Exp(key(j))
			}
			for e, doc := range tr.queued {
				if doc != b.docs[i] {
					z += math.Exp(dot(tr.queue[e*5 : (e+1)*5]))
				}
			}
			wantLoss += (math.Log(z) - key(i)) / 4
		}
		if math.Abs(gotLoss-wantLoss) > 1e-4 {
			t.Errorf("%+v: loss %g, want %g", c, gotLoss, wantLoss)
		}
		if _, err := tr.MarshalBinary(); (m > 0) != errors.Is(err, ErrOptions) {
			t.Errorf("momentum %g: MarshalBinary with a queue: %v", m, err)
		}
	}
}

// TestQueryStart checks SetQueryStart: the query rows start at the rows
// given, a run from them resumes bit for bit only into a trainer started
// the same way, and misuse is refused.
func TestQueryStart(t *testing.T) {
	o := Options{Batch: 8, Temperature: 0.1, QueryMin: 2, QueryMax: 4, KeyMin: 5, KeyMax: 20, SeparateQueries: true, Seed: 4}
	w, docs := toy(60, 8, 30, 6)
	q := slices.Clone(w)
	for i := range q {
		q[i] = -q[i] // other query rows
	}
	mk := func(start []float32) *Trainer {
		tr, err := New(slices.Clone(w), 8, docs, o)
		if err != nil {
			t.Fatal(err)
		}
		if start != nil {
			if err := tr.SetQueryStart(start); err != nil {
				t.Fatal(err)
			}
		}
		return tr
	}
	full := mk(q)
	if !slices.Equal(full.QueryWeight(), q) || slices.Equal(full.QueryWeight(), full.Weight()) {
		t.Fatal("the query rows did not start at the rows given")
	}
	for s := 0; s < 10; s++ {
		full.Step(0.05)
	}
	half := mk(q)
	for s := 0; s < 4; s++ {
		half.Step(0.05)
	}
	state, err := half.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	resumed := mk(q)
	if err := resumed.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	for s := 4; s < 10; s++ {
		resumed.Step(0.05)
	}
	if !slices.Equal(resumed.Weight(), full.Weight()) || !slices.Equal(resumed.QueryWeight(), full.QueryWeight()) {
		t.Error("resumed run differs from the uninterrupted one")
	}
	if err := mk(nil).UnmarshalBinary(state); !errors.Is(err, ErrState) {
		t.Errorf("state of a run from other query rows restored: %v", err)
	}
	if err := half.SetQueryStart(q); !errors.Is(err, ErrOptions) {
		t.Errorf("after steps: %v", err)
	}
	if err := mk(nil).SetQueryStart(q[:8]); !errors.Is(err, ErrOptions) {
		t.Errorf("wrong length: %v", err)
	}
	shared, _ := New(slices.Clone(w), 8, docs, Options{Batch: 8, QueryMin: 2, QueryMax: 4, KeyMin: 5, KeyMax: 20})
	if err := shared.SetQueryStart(q); !errors.Is(err, ErrOptions) {
		t.Errorf("without separate query rows: %v", err)
	}
}
