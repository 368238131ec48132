package fusion

import (
	"fmt"
	"math"
)

// AlphaGrid returns the interpolation weights 0, 1/steps, 2/steps, ..., 1
// (steps+1 values, each computed as i/steps so that they are exact where
// possible); AlphaGrid(20) is 0, 0.05, ..., 1.
func AlphaGrid(steps int) []float64 {
	if steps < 1 {
		panic(fmt.Sprintf("fusion: AlphaGrid(%d): steps must be >= 1", steps))
	}
	g := make([]float64, steps+1)
	for i := range g {
		g[i] = float64(i) / float64(steps)
	}
	return g
}

// SelectAlpha evaluates every α of grid with eval (for instance mean
// nDCG@10 of Linear over a held-out split: the train or dev qrels, never
// test) and returns the α with the highest score; on a tie the one that comes
// first in grid wins. Every α must lie in [0, 1], and a NaN score is an
// error.
func SelectAlpha(grid []float64, eval func(alpha float64) (float64, error)) (alpha, score float64, err error) {
	if len(grid) == 0 {
		return 0, 0, fmt.Errorf("%w: empty alpha grid", ErrAlpha)
	}
	score = math.Inf(-1)
	for _, a := range grid {
		if !(a >= 0 && a <= 1) {
			return 0, 0, fmt.Errorf("%w, got %v in the grid", ErrAlpha, a)
		}
		s, err := eval(a)
		if err != nil {
			return 0, 0, fmt.Errorf("alpha %v: %w", a, err)
		}
		if math.IsNaN(s) {
			return 0, 0, fmt.Errorf("alpha %v: %w", a, ErrNonFinite)
		}
		if s > score {
			alpha, score = a, s
		}
	}
	return alpha, score, nil
}
