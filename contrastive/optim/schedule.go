package optim

import (
	"fmt"
	"math"
)

// Schedule kinds.
const (
	// Linear warms up linearly from 0 and then decays linearly to
	// MinRatio·base at Total steps (Contriever's "linear").
	Linear = "linear"
	// Cosine warms up linearly and then follows a quarter cosine down to
	// MinRatio·base at Total steps (Contriever's "cosine").
	Cosine = "cosine"
	// Constant warms up linearly and then stays at the base rate
	// (Contriever's "fixed").
	Constant = "constant"
)

// Schedule maps an optimiser step to a learning rate, following
// Contriever's schedulers: the rate for the step numbered s (0 for the
// first update, as torch's LambdaLR stepped after each optimiser step
// gives) is Base·Factor(s). The first update therefore runs at rate 0
// when Warmup > 0, as in Contriever.
type Schedule struct {
	Kind     string  // Linear, Cosine or Constant
	Base     float64 // peak learning rate
	Warmup   int     // warmup steps
	Total    int     // total steps (the end of the decay)
	MinRatio float64 // final rate as a fraction of Base (Linear, Cosine)
}

// Validate reports a schedule that cannot be used.
func (s Schedule) Validate() error {
	switch s.Kind {
	case Linear, Cosine, Constant:
	default:
		return fmt.Errorf("optim: unknown schedule %q (want %s, %s or %s)", s.Kind, Linear, Cosine, Constant)
	}
	if s.Base < 0 || s.Warmup < 0 || s.Total < 0 || s.MinRatio < 0 || s.MinRatio > 1 {
		return fmt.Errorf("optim: schedule %+v has a negative rate, step count or a ratio outside [0,1]", s)
	}
	if s.Kind != Constant && s.Warmup > s.Total {
		return fmt.Errorf("optim: warmup %d is longer than the %d total steps", s.Warmup, s.Total)
	}
	return nil
}

// Factor is the multiplier of Base at step s.
func (s Schedule) Factor(step int) float64 {
	st := float64(step)
	switch s.Kind {
	case Linear:
		if step < s.Warmup {
			return (1 - s.MinRatio) * st / float64(max(1, s.Warmup))
		}
		return math.Max(0, 1+(s.MinRatio-1)*(st-float64(s.Warmup))/math.Max(1, float64(s.Total-s.Warmup)))
	case Cosine:
		if step < s.Warmup {
			return st / float64(s.Warmup)
		}
		x := math.Min(1, (st-float64(s.Warmup))/math.Max(1, float64(s.Total-s.Warmup)))
		return s.MinRatio + (1-s.MinRatio)*math.Cos(0.5*math.Pi*x)
	case Constant:
		if step < s.Warmup {
			return st / float64(s.Warmup)
		}
		return 1
	}
	panic("optim: unknown schedule kind " + s.Kind)
}

// LR is the learning rate at step s: Base·Factor(s).
func (s Schedule) LR(step int) float64 { return s.Base * s.Factor(step) }
