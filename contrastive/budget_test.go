package contrastive

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/contrastive/trainlog"
	"github.com/contriever-go/contriever/encoder"
)

// fakeClock is a time source that tests advance by hand.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time          { return f.t }
func (f *fakeClock) advance(d time.Duration) { f.t = f.t.Add(d) }

// TestBudgetFactorMatchesStepSchedule checks the time schedule against
// optim.Schedule: at the time of step s of N, with warmup W/N of the
// budget, the factors agree; warmup ends at its fraction and the decay at
// the end of the budget.
func TestBudgetFactorMatchesStepSchedule(t *testing.T) {
	const N, W = 1000, 50
	for _, kind := range []string{optim.Linear, optim.Cosine, optim.Constant} {
		for _, minRatio := range []float64{0, 0.1} {
			b := Budget{Total: 20 * time.Minute, Warmup: float64(W) / N, Kind: kind, Base: 3e-4, MinRatio: minRatio}
			if err := b.Validate(); err != nil {
				t.Fatal(err)
			}
			s := optim.Schedule{Kind: kind, Base: 3e-4, Warmup: W, Total: N, MinRatio: minRatio}
			for step := 0; step <= N; step++ {
				at := time.Duration(float64(b.Total) * float64(step) / N)
				if got, want := b.Factor(at), s.Factor(step); math.Abs(got-want) > 1e-9 {
					t.Fatalf("%s min %g: step %d: time factor %g, step factor %g", kind, minRatio, step, got, want)
				}
			}
			if b.Factor(0) != 0 {
				t.Errorf("%s: factor at 0 is %g", kind, b.Factor(0))
			}
			peak := time.Duration(b.Warmup * float64(b.Total))
			if math.Abs(b.Factor(peak)-1) > 1e-12 {
				t.Errorf("%s: factor at the end of warmup %g, want 1", kind, b.Factor(peak))
			}
			end := b.Factor(b.Total)
			want := minRatio
			if kind == optim.Constant {
				want = 1
			}
			if math.Abs(end-want) > 1e-12 || b.Factor(2*b.Total) != end {
				t.Errorf("%s: factor at and after the end %g, %g; want %g", kind, end, b.Factor(2*b.Total), want)
			}
			if math.Abs(b.LR(peak)-3e-4) > 1e-15 {
				t.Errorf("LR at the peak %g", b.LR(peak))
			}
		}
	}
}

// TestBudgetClockEndsWithBudget runs a clock with uneven step times and an
// evaluation pause: paused time does not count, the last step starts
// before the budget ends, and Next refuses once it is spent.
func TestBudgetClockEndsWithBudget(t *testing.T) {
	fc := &fakeClock{t: time.Unix(1000, 0)}
	b := Budget{Total: time.Minute, Warmup: 0.1, Kind: optim.Linear, Base: 1e-3}
	c, err := NewBudgetClock(b, fc.now)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var lrs []float64
	var wall time.Duration
	for {
		lr, ok := c.Next()
		if !ok {
			break
		}
		lrs = append(lrs, lr)
		d := time.Duration(200+rng.IntN(600)) * time.Millisecond
		fc.advance(d)
		wall += d
		if len(lrs)%25 == 0 { // evaluation: not training time
			c.Pause()
			fc.advance(7 * time.Second)
			wall += 7 * time.Second
			c.Start()
		}
	}
	if c.Elapsed() < b.Total || c.Elapsed() > b.Total+800*time.Millisecond {
		t.Errorf("stopped at %s of training time, budget %s", c.Elapsed(), b.Total)
	}
	if wall-c.Elapsed() < 7*time.Second {
		t.Errorf("evaluation pauses were counted: wall %s, training %s", wall, c.Elapsed())
	}
	if lrs[0] != 0 || c.Steps() != int64(len(lrs)) {
		t.Errorf("first rate %g, steps %d of %d", lrs[0], c.Steps(), len(lrs))
	}
	peak, peakAt := 0.0, 0
	for i, lr := range lrs {
		if lr > peak {
			peak, peakAt = lr, i
		}
	}
	if peak < 0.9e-3 || peakAt == 0 || peakAt == len(lrs)-1 {
		t.Errorf("peak %g at step %d of %d", peak, peakAt, len(lrs))
	}
	if last := lrs[len(lrs)-1]; last > 0.02e-3 {
		t.Errorf("last rate %g: the decay does not end with the budget", last)
	}
	if _, ok := c.Next(); ok || !c.Done() {
		t.Error("Next after the budget")
	}
}

// TestBudgetClockResume interrupts a run at every 17th step, saves and
// restores the clock into a new one, and checks that the rates are the
// same, bit for bit, as those of a run never interrupted, fed the same
// step times.
func TestBudgetClockResume(t *testing.T) {
	b := Budget{Total: 90 * time.Second, Warmup: 0.05, Kind: optim.Cosine, Base: 5e-4, MinRatio: 0.01}
	durations := func() func() time.Duration {
		rng := rand.New(rand.NewPCG(7, 8))
		return func() time.Duration { return time.Duration(rng.Int64N(int64(time.Second))) + time.Nanosecond }
	}
	run := func(interrupt bool) []uint64 {
		fc := &fakeClock{t: time.Unix(0, 0)}
		next := durations()
		c, err := NewBudgetClock(b, fc.now)
		if err != nil {
			t.Fatal(err)
		}
		var bits []uint64
		for {
			lr, ok := c.Next()
			if !ok {
				return bits
			}
			bits = append(bits, math.Float64bits(lr))
			fc.advance(next())
			if interrupt && len(bits)%17 == 0 {
				c.Pause()
				state, err := c.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				fc.advance(time.Hour) // the process is down; a new one starts
				if c, err = NewBudgetClock(b, fc.now); err != nil {
					t.Fatal(err)
				}
				if err := c.UnmarshalBinary(state); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	want, got := run(false), run(true)
	if len(want) < 100 || len(got) != len(want) {
		t.Fatalf("uninterrupted %d steps, resumed %d", len(want), len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("step %d: resumed rate %g, uninterrupted %g", i, math.Float64frombits(got[i]), math.Float64frombits(want[i]))
		}
	}
}

func TestBudgetErrors(t *testing.T) {
	good := Budget{Total: time.Minute, Warmup: 0.05, Kind: optim.Linear, Base: 1e-4}
	for _, bad := range []Budget{
		{Total: 0, Kind: optim.Linear}, {Total: time.Minute, Kind: "step"}, {Total: time.Minute, Kind: optim.Linear, Warmup: 1},
		{Total: time.Minute, Kind: optim.Linear, Base: -1}, {Total: time.Minute, Kind: optim.Linear, MinRatio: 2},
		{Total: time.Minute, Kind: optim.Linear, Warmup: math.NaN()},
	} {
		if _, err := NewBudgetClock(bad, nil); !errors.Is(err, ErrBudget) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	c, _ := NewBudgetClock(good, nil)
	c.Next()
	state, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	other := good
	other.Total = 2 * time.Minute
	c2, _ := NewBudgetClock(other, nil)
	if err := c2.UnmarshalBinary(state); !errors.Is(err, ErrBudget) {
		t.Errorf("another budget: %v", err)
	}
	c3, _ := NewBudgetClock(good, nil)
	for n := 0; n < len(state); n++ {
		if err := c3.UnmarshalBinary(state[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	bad := append([]byte(nil), state...)
	bad[8] = 9
	if err := c3.UnmarshalBinary(bad); !errors.Is(err, ErrStateVersion) {
		t.Errorf("version 9: %v", err)
	}
	if err := c3.UnmarshalBinary(state); err != nil || c3.Steps() != 1 {
		t.Errorf("good state: %v, steps %d", err, c3.Steps())
	}
}

// TestRunWithBudget trains a tiny model under a time budget whose clock
// advances by one second per optimiser step (nothing else counts): the run
// stops when the budget is spent, the rates rise and fall back to 0 with
// it, and a run stopped midway and resumed from its state ends with the
// same weights, bit for bit, as a straight one.
func TestRunWithBudget(t *testing.T) {
	budget := Budget{Total: 10 * time.Second, Warmup: 0.2, Kind: optim.Linear, Base: 1e-3}
	newTr := func() *Trainer {
		m, _ := encoder.NewRandom(tinyConfig(), 8, false)
		cfg := DefaultConfig(ObjectiveInBatch)
		cfg.Batch, cfg.MaxLen = 8, 34
		tr, err := NewTrainer(m, newTripleSource(1), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Training time is the step count, in seconds.
		c, err := NewBudgetClock(budget, func() time.Time { return time.Unix(tr.StepCount(), 0) })
		if err != nil {
			t.Fatal(err)
		}
		tr.UseBudget(c)
		return tr
	}
	opts := func(dir string, steps int64) RunOptions {
		return RunOptions{Steps: steps, OutDir: dir, LogEvery: 1, CheckpointEvery: 100, Progress: io.Discard}
	}
	dir := t.TempDir()
	straight := newTr()
	if err := Run(context.Background(), straight, opts(dir, math.MaxInt64)); err != nil {
		t.Fatal(err)
	}
	if straight.StepCount() != 10 || !straight.Clock().Done() {
		t.Fatalf("%d steps, %s of training time; want 10 steps, 10s", straight.StepCount(), straight.Clock().Elapsed())
	}
	_, rows, err := trainlog.Read(filepath.Join(dir, LogName))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125}
	if len(rows) != len(want) {
		t.Fatalf("%d log rows", len(rows))
	}
	for i, r := range rows {
		if math.Abs(r.LR-want[i]*1e-3) > 1e-12 {
			t.Errorf("step %d: lr %g, want %g", r.Step, r.LR, want[i]*1e-3)
		}
	}

	// Stopped at step 4 (--stop-at), then resumed from the state.
	dir2 := t.TempDir()
	first := newTr()
	if err := Run(context.Background(), first, opts(dir2, 4)); err != nil {
		t.Fatal(err)
	}
	st, err := LoadState(filepath.Join(dir2, StateName))
	if err != nil || st.Step != 4 || st.RNG[budgetStateKey] == nil {
		t.Fatalf("state: step %d, budget saved %v, %v", st.Step, st.RNG[budgetStateKey] != nil, err)
	}
	second := newTr()
	if err := second.Restore(st); err != nil {
		t.Fatal(err)
	}
	if second.Clock().Elapsed() != 4*time.Second {
		t.Fatalf("restored clock at %s, want 4s", second.Clock().Elapsed())
	}
	if err := Run(context.Background(), second, opts(dir2, math.MaxInt64)); err != nil {
		t.Fatal(err)
	}
	if second.StepCount() != 10 || !sameBits(second.Model().Flat(), straight.Model().Flat()) {
		t.Fatalf("resumed run: %d steps, same weights %v", second.StepCount(), sameBits(second.Model().Flat(), straight.Model().Flat()))
	}
	// A state without a budget does not resume a budgeted run, nor the reverse.
	plain := newTr()
	plain.UseBudget(nil)
	if err := plain.Restore(st); !errors.Is(err, ErrConfigMismatch) {
		t.Errorf("budgeted state into a step-scheduled trainer: %v", err)
	}
}

// FuzzBudgetState feeds arbitrary bytes to BudgetClock.UnmarshalBinary:
// an error, or a state that marshals back to the same bytes.
func FuzzBudgetState(f *testing.F) {
	b := Budget{Total: time.Minute, Warmup: 0.05, Kind: optim.Linear, Base: 1e-4}
	c, _ := NewBudgetClock(b, nil)
	good, _ := c.MarshalBinary()
	f.Add(good)
	f.Add(good[:20])
	f.Add([]byte("CTBUDGT1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _ := NewBudgetClock(b, nil)
		if err := c.UnmarshalBinary(data); err != nil {
			return
		}
		back, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if data[8] == 1 { // version 1 is written back as the current one
			again, _ := NewBudgetClock(b, nil)
			if err := again.UnmarshalBinary(back); err != nil || again.Steps() != c.Steps() || again.Elapsed() != c.Elapsed() || again.Horizon() != 0 {
				t.Fatalf("version 1 round trip: %v", err)
			}
			return
		}
		if string(back) != string(data) {
			t.Fatal("round trip changed the state")
		}
	})
}

// TestBudgetHorizon checks SetHorizon: a horizon that comes before the
// budget ends the schedule there, its warmup and decay those of the step
// schedule of that many steps, even when setup has used part of the
// budget first; one past the budget leaves the time schedule, over the
// budget left after setup; the horizon survives the state, and a
// version-1 state (before horizons) reads as none.
func TestBudgetHorizon(t *testing.T) {
	b := Budget{Total: 100 * time.Second, Warmup: 0.1, Kind: optim.Linear, Base: 1}
	run := func(setup time.Duration, horizon int64) (lrs []float64, c *BudgetClock) {
		fc := &fakeClock{t: time.Unix(0, 0)}
		c, err := NewBudgetClock(b, fc.now)
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		fc.advance(setup) // building the start counts in the budget
		c.SetHorizon(horizon)
		for {
			lr, ok := c.Next()
			if !ok {
				return lrs, c
			}
			lrs = append(lrs, lr)
			fc.advance(time.Second)
		}
	}
	for _, setup := range []time.Duration{0, 40 * time.Second} {
		lrs, c := run(setup, 20)
		if len(lrs) != 20 || !c.Done() || c.Horizon() != 20 {
			t.Fatalf("setup %s, horizon 20: %d steps, done %v", setup, len(lrs), c.Done())
		}
		// The step schedule of 20 steps with warmup 2.
		s := optim.Schedule{Kind: optim.Linear, Base: 1, Warmup: 2, Total: 20}
		for i, lr := range lrs {
			if math.Abs(lr-s.LR(i)) > 1e-12 {
				t.Errorf("setup %s, horizon 20, step %d: lr %g, step schedule %g", setup, i, lr, s.LR(i))
			}
		}
	}
	none, _ := run(0, 0)
	past, _ := run(0, 200)
	if len(none) != 100 || len(past) != 100 {
		t.Fatalf("no horizon: %d steps, horizon past the budget: %d; want 100", len(none), len(past))
	}
	for i := range none {
		if math.Abs(none[i]-past[i]) > 1e-12 {
			t.Fatalf("step %d: a horizon past the budget changed the rate (%g, %g)", i, past[i], none[i])
		}
	}
	// After 40 s of setup, a horizon past the budget runs the time
	// schedule over the 60 s left: warmup over 6 s, decay to the end.
	late, c := run(40*time.Second, 200)
	short := Budget{Total: 60 * time.Second, Warmup: 0.1, Kind: optim.Linear, Base: 1}
	if len(late) != 60 {
		t.Fatalf("after setup: %d steps, want 60", len(late))
	}
	for i, lr := range late {
		if want := short.LR(time.Duration(i) * time.Second); math.Abs(lr-want) > 1e-12 {
			t.Fatalf("after setup, step %d: lr %g, want %g", i, lr, want)
		}
	}

	state, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, _ := NewBudgetClock(b, nil)
	if err := back.UnmarshalBinary(state); err != nil || back.Horizon() != 200 || back.Steps() != 60 || !back.Done() {
		t.Fatalf("restored: horizon %d, steps %d, %v", back.Horizon(), back.Steps(), err)
	}
	// The origin is restored, not reset, by a resumed run's SetHorizon.
	back.SetHorizon(200)
	if again, _ := back.MarshalBinary(); string(again) != string(state) {
		t.Error("SetHorizon on a restored clock changed its state")
	}
	// Version 1: the same fields without the horizon and its origin.
	v1 := append([]byte(nil), state[:12+8*6]...)
	v1[8] = 1
	v1 = append(v1, state[12+8*8:]...)
	old, _ := NewBudgetClock(b, nil)
	if err := old.UnmarshalBinary(v1); err != nil || old.Horizon() != 0 || old.Steps() != 60 || old.Elapsed() != 100*time.Second {
		t.Fatalf("version 1: horizon %d, steps %d, %s, %v", old.Horizon(), old.Steps(), old.Elapsed(), err)
	}
}
