package contrastive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/contriever-go/contriever/contrastive/optim"
)

// Budget is a learning-rate schedule over wall-clock training time instead
// of steps: the rate at elapsed training time t is Base·Factor(t), where
// Factor follows optim.Schedule's shapes over the progress p = t/Total, so
// that warmup ends at Warmup·Total and the decay ends exactly when the
// budget is spent. Training time excludes whatever the caller pauses the
// BudgetClock for (periodic evaluation, checkpoints).
type Budget struct {
	Total    time.Duration // the wall-clock training budget
	Warmup   float64       // warmup, as a fraction of Total, in [0, 1)
	Kind     string        // optim.Linear, optim.Cosine or optim.Constant
	Base     float64       // peak learning rate
	MinRatio float64       // final rate as a fraction of Base (Linear, Cosine)
}

// ErrBudget reports an unusable Budget, or a saved clock restored under a
// different one.
var ErrBudget = errors.New("contrastive: bad time budget")

// Validate reports a budget that cannot be used.
func (b Budget) Validate() error {
	switch b.Kind {
	case optim.Linear, optim.Cosine, optim.Constant:
	default:
		return fmt.Errorf("%w: unknown schedule %q", ErrBudget, b.Kind)
	}
	if b.Total <= 0 {
		return fmt.Errorf("%w: budget %s is not positive", ErrBudget, b.Total)
	}
	if !(b.Warmup >= 0 && b.Warmup < 1) || !(b.Base >= 0) || math.IsInf(b.Base, 0) || !(b.MinRatio >= 0 && b.MinRatio <= 1) {
		return fmt.Errorf("%w: warmup fraction %g (want [0, 1)), rate %g, final ratio %g (want [0, 1])", ErrBudget, b.Warmup, b.Base, b.MinRatio)
	}
	return nil
}

// Progress is elapsed/Total, clamped to [0, 1].
func (b Budget) Progress(elapsed time.Duration) float64 {
	return math.Min(1, math.Max(0, float64(elapsed)/float64(b.Total)))
}

// Factor is the multiplier of Base after elapsed training time: a linear
// warmup from 0 to 1 over the first Warmup of the budget, then (Linear) a
// linear decay or (Cosine) a quarter cosine to MinRatio at the end of the
// budget, or (Constant) 1. It is MinRatio (Constant: 1) once the budget is
// spent.
func (b Budget) Factor(elapsed time.Duration) float64 {
	return b.FactorAt(b.Progress(elapsed))
}

// FactorAt is Factor at progress p in [0, 1] of the schedule (1: its end).
func (b Budget) FactorAt(p float64) float64 {
	p = math.Min(1, math.Max(0, p))
	if p < b.Warmup {
		f := p / b.Warmup
		if b.Kind == optim.Linear {
			f *= 1 - b.MinRatio // as optim.Schedule's Linear
		}
		return f
	}
	x := (p - b.Warmup) / (1 - b.Warmup)
	switch b.Kind {
	case optim.Linear:
		return 1 + (b.MinRatio-1)*x
	case optim.Cosine:
		return b.MinRatio + (1-b.MinRatio)*math.Cos(0.5*math.Pi*x)
	case optim.Constant:
		return 1
	}
	panic("contrastive: unknown schedule kind " + b.Kind)
}

// LR is the learning rate after elapsed training time: Base·Factor.
func (b Budget) LR(elapsed time.Duration) float64 { return b.Base * b.Factor(elapsed) }

// BudgetClock measures training time against a Budget and hands out the
// learning rate of each step. Time counts only while the clock runs (from
// Start to Pause); a caller pauses it around evaluation and checkpoints.
// Its state (MarshalBinary) holds the training time to the nanosecond and
// the step count, so a run restored from it continues from exactly the
// point where it was saved: fed the same clock readings, a resumed run
// hands out the same rates, bit for bit, as one never interrupted.
type BudgetClock struct {
	b       Budget
	now     func() time.Time
	elapsed time.Duration // closed spans
	since   time.Time     // start of the open span
	running bool
	steps   int64
	horizon int64         // the schedule's last step, when it comes before the budget (0: none)
	origin  time.Duration // training time when the horizon was set (its schedule starts there)
}

// NewBudgetClock returns a stopped clock at zero for b. now is the time
// source (nil: time.Now).
func NewBudgetClock(b Budget, now func() time.Time) (*BudgetClock, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &BudgetClock{b: b, now: now}, nil
}

// Budget returns the clock's budget.
func (c *BudgetClock) Budget() Budget { return c.b }

// Start starts (or resumes) counting training time; it does nothing when
// the clock runs.
func (c *BudgetClock) Start() {
	if !c.running {
		c.since, c.running = c.now(), true
	}
}

// Pause stops counting (for evaluation, checkpoints); it does nothing when
// the clock is stopped.
func (c *BudgetClock) Pause() {
	if c.running {
		c.elapsed += max(0, c.now().Sub(c.since))
		c.running = false
	}
}

// Elapsed returns the training time counted so far.
func (c *BudgetClock) Elapsed() time.Duration {
	if c.running {
		return c.elapsed + max(0, c.now().Sub(c.since))
	}
	return c.elapsed
}

// Steps returns the number of steps handed out by Next.
func (c *BudgetClock) Steps() int64 { return c.steps }

// SetHorizon ends the schedule after n steps when they come before the
// budget is spent (n ≤ 0: no step limit). The schedule then starts at the
// training time of the call (after whatever setup the budget also covers)
// and the progress of each step is the larger of steps/n and the time since
// that origin over the budget left at it, so warmup and decay end with
// whichever comes first, and a run that the steps end follows the step
// schedule of n steps. A trainer whose useful length is known in steps
// (passes over a small corpus) sets it before its first step; the horizon
// and its origin are part of the state (a resumed run keeps the saved
// origin).
func (c *BudgetClock) SetHorizon(n int64) {
	c.horizon = max(0, n)
	if c.steps == 0 {
		c.origin = c.Elapsed()
	}
}

// Horizon returns the step limit set by SetHorizon or restored (0: none).
func (c *BudgetClock) Horizon() int64 { return c.horizon }

// Progress returns how far the schedule has come, in [0, 1]: elapsed
// training time over the budget, or steps over the horizon if that is
// further.
func (c *BudgetClock) Progress() float64 {
	e := c.Elapsed()
	if c.horizon == 0 {
		return c.b.Progress(e)
	}
	p := 1.0
	if e < c.b.Total {
		p = math.Max(0, float64(e-c.origin)/float64(c.b.Total-c.origin))
	}
	return math.Min(1, math.Max(p, float64(c.steps)/float64(c.horizon)))
}

// Done reports whether the budget (or the horizon) is spent.
func (c *BudgetClock) Done() bool { return c.Progress() >= 1 }

// Next returns the learning rate of the next optimiser step, read at the
// training time when the step starts, and false (with rate 0) once the
// budget is spent or the horizon's steps are taken, when training should
// stop. A stopped clock is started.
func (c *BudgetClock) Next() (lr float64, ok bool) {
	f, ok := c.NextFactor()
	return c.b.Base * f, ok
}

// NextFactor is Next's multiplier of the budget's Base, for a caller that
// sets the peak rate itself.
func (c *BudgetClock) NextFactor() (factor float64, ok bool) {
	c.Start()
	p := c.Progress()
	if p >= 1 {
		return 0, false
	}
	c.steps++
	return c.b.FactorAt(p), true
}

// The state: magic, version, then the budget (to check a resumed run uses
// the same one), the counters, the horizon and its origin, little-endian.
// Version 1 had no horizon (it reads as 0).
const (
	budgetMagic   = "CTBUDGT1"
	budgetVersion = 2
	budgetLen     = 8 + 4 + 8*8 + 1 + 16 // magic, version, 8 numbers, kind length, kind (≤ 16)
)

// MarshalBinary returns the clock's state, with the training time counted
// up to now (a running clock keeps running).
func (c *BudgetClock) MarshalBinary() ([]byte, error) {
	if len(c.b.Kind) > 16 {
		return nil, fmt.Errorf("%w: schedule name %q too long", ErrBudget, c.b.Kind)
	}
	out := make([]byte, 0, budgetLen)
	out = append(out, budgetMagic...)
	out = binary.LittleEndian.AppendUint32(out, budgetVersion)
	for _, v := range []uint64{uint64(c.b.Total), math.Float64bits(c.b.Warmup), math.Float64bits(c.b.Base),
		math.Float64bits(c.b.MinRatio), uint64(c.Elapsed()), uint64(c.steps), uint64(c.horizon), uint64(c.origin)} {
		out = binary.LittleEndian.AppendUint64(out, v)
	}
	out = append(out, byte(len(c.b.Kind)))
	return append(out, c.b.Kind...), nil
}

// UnmarshalBinary restores a state written by MarshalBinary into a clock
// made with NewBudgetClock for the same budget; the clock is left stopped
// at the saved training time. A state for another budget fails with
// ErrBudget; a damaged one with ErrCorrupt.
func (c *BudgetClock) UnmarshalBinary(data []byte) error {
	if len(data) < 12 || string(data[:8]) != budgetMagic {
		return fmt.Errorf("%w: time budget state of %d bytes", ErrCorrupt, len(data))
	}
	nums := 8
	switch v := binary.LittleEndian.Uint32(data[8:]); v {
	case 1:
		nums = 6
	case budgetVersion:
	default:
		return fmt.Errorf("%w: time budget state version %d", ErrStateVersion, v)
	}
	head := 12 + 8*nums // the kind's length byte
	if len(data) <= head {
		return fmt.Errorf("%w: time budget state of %d bytes", ErrCorrupt, len(data))
	}
	var u [8]uint64
	for i := range nums {
		u[i] = binary.LittleEndian.Uint64(data[12+8*i:])
	}
	n := int(data[head])
	if len(data) != head+1+n {
		return fmt.Errorf("%w: time budget state of %d bytes", ErrCorrupt, len(data))
	}
	saved := Budget{Total: time.Duration(u[0]), Warmup: math.Float64frombits(u[1]), Base: math.Float64frombits(u[2]),
		MinRatio: math.Float64frombits(u[3]), Kind: string(data[head+1:])}
	if saved != c.b {
		return fmt.Errorf("%w: the saved run had budget %+v, this one %+v", ErrBudget, saved, c.b)
	}
	if int64(u[4]) < 0 || int64(u[5]) < 0 || int64(u[6]) < 0 || int64(u[7]) < 0 || int64(u[7]) > int64(u[4]) {
		return fmt.Errorf("%w: negative time, step count or horizon, or a horizon's origin past the training time, in the time budget state", ErrCorrupt)
	}
	c.elapsed, c.steps, c.horizon, c.origin, c.running = time.Duration(u[4]), int64(u[5]), int64(u[6]), time.Duration(u[7]), false
	return nil
}

// budgetStateKey names the clock's state among State.RNG's blobs.
const budgetStateKey = "time_budget"

// UseBudget makes the trainer take each step's learning rate from c
// instead of its configured step schedule, and keep c's state in its
// checkpoints (a restored run resumes the clock). Run then trains until c's
// budget is spent, pausing c while it evaluates and saves. Call it before
// Restore.
func (t *Trainer) UseBudget(c *BudgetClock) { t.clock = c }

// Clock returns the trainer's time budget clock, or nil.
func (t *Trainer) Clock() *BudgetClock { return t.clock }

// pauseClock stops the budget clock if it runs and returns the function
// that restarts it (a no-op when it was not running).
func (t *Trainer) pauseClock() func() {
	if t.clock == nil || !t.clock.running {
		return func() {}
	}
	t.clock.Pause()
	return t.clock.Start
}
