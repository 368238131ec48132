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

// DefaultAlpha is the α of linear min-max fusion used when no α was chosen
// on held-out qrels (index and serve without --eval, beir without --alpha):
// a conservative weight on dense. It was chosen on SciFact train queries
// (809) over linear α 0.1/0.2/0.3/0.5, RRF k 60 and two rules that scale α
// by the agreement of the two top-10 lists, for two models (the static
// model and the bundled transformer): α 0.2 was never below BM25 (+0.010
// and +0.003 nDCG@10, standard errors 0.003) and best on average; RRF
// (−0.06, −0.08) and α 0.5 (−0.004, −0.035) were below BM25. See the
// README's table (tools/fusionstudy reproduces it).
const DefaultAlpha = 0.2

// DefaultRule names DefaultAlpha's rule in manifests and logs.
const DefaultRule = "label-free default: linear min-max, α 0.2"

// TunedAlpha is the label-free α for a model that the validated recipe
// (static-tuned) trained on the corpus for at least TunedMinSteps steps or
// TunedMinPasses passes: such a model ranks about as well as BM25 on a
// corpus like SciFact, and a weight of DefaultAlpha wastes most of what it
// adds; on a large corpus where it stays far below BM25 a weight of 0.5
// adds almost nothing. It was chosen on SciFact train queries (809), by the
// mean gain over BM25 of the recipe's models on four corpora built from
// SciFact's documents: three shapes (abstracts, title + two sentences,
// titles alone; two seeds each) and 155,490 documents, the abstracts with
// 150,307 mixtures of their sentences (dense 0.09 below BM25); see the
// README's "Hybrid fusion without labels". 0.4 since the recipe gave
// queries their own rows (0.35 before): the mean peaks at 0.5, within
// 0.0005 of 0.4, and a tie goes to the lower weight.
const TunedAlpha = 0.4

// TunedMinSteps is the number of steps from which a static-tuned model
// counts as tuned (on SciFact its dense nDCG@10 plateaus within a few
// hundred steps of 1024 pairs).
const TunedMinSteps = 300

// TunedMinPasses is the number of passes over the corpus's tokens from
// which a static-tuned model counts as tuned, whatever its steps: on a
// small corpus the recipe's schedule, which ends after 100 passes, can
// end before TunedMinSteps. 300 steps of the recipe on SciFact are 28
// passes.
const TunedMinPasses = 25

// TunedRule names TunedAlpha's rule in manifests and logs.
const TunedRule = "label-free default for a model tuned on the corpus: linear min-max, α 0.4"

// LabelFree returns the label-free α and its rule's name: TunedAlpha when
// the model was tuned on the corpus (tuned), DefaultAlpha otherwise (a
// young or unknown model is trusted less).
func LabelFree(tuned bool) (alpha float64, rule string) {
	if tuned {
		return TunedAlpha, TunedRule
	}
	return DefaultAlpha, DefaultRule
}
