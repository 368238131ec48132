package statictune

import (
	"maps"
	"math"
	"slices"
)

// Passes over the corpus: how much of the corpus's text a step's crops
// cover, in expectation. The recipe's gain on a corpus peaks or plateaus
// after about the same number of passes over its tokens whatever the
// documents' length, and on very short documents it slides back after
// that (see the project README, "How long to train"), so a time-budgeted
// run ends at a number of passes when that comes before its budget.

// DefaultPasses is the recipe's length on a corpus small enough to be
// passed over that many times within its time budget. It was chosen with
// the recipe's learning rate on SciFact train queries over three corpus
// shapes (abstracts, title + two sentences, titles alone; see the project
// README, "How long to train"): 50 and 100 passes tie on the fused
// figure, 100 gives more to dense on the longer documents, and at the old
// rate of 0.1 100 passes took the titles below their static start.
const DefaultPasses = 100

// meanMin returns the mean of min(m, r) over m uniform on [lo, hi].
func meanMin(lo, hi, r int) float64 {
	switch {
	case r >= hi:
		return float64(lo+hi) / 2
	case r <= lo:
		return float64(r)
	}
	// m in [lo, r] gives m; m in (r, hi] gives r.
	s := float64(lo+r)*float64(r-lo+1)/2 + float64(hi-r)*float64(r)
	return s / float64(hi-lo+1)
}

// pairTokens returns the expected number of document tokens a pair of
// crops (query + key, before token deletion) spans in a document of n
// tokens, for the crops of pair: overlapping crops, or the key cut from the
// longer side of the query in the disjoint case. Titles as queries are
// not modelled (they span about what a query crop does).
func (o Options) pairTokens(n int) float64 {
	if n < 2 {
		return 0
	}
	if !o.Disjoint && n >= o.DisjointBelow {
		return meanMin(o.QueryMin, o.QueryMax, n) + meanMin(o.KeyMin, o.KeyMax, n)
	}
	var sum float64
	for q := o.QueryMin; q <= o.QueryMax; q++ {
		m := min(q, n-1)
		var ks float64
		for start := 0; start <= n-m; start++ {
			rest := max(start, n-start-m)
			ks += meanMin(min(o.KeyMin, rest), o.KeyMax, rest)
		}
		sum += float64(m) + ks/float64(n-m+1)
	}
	return sum / float64(o.QueryMax-o.QueryMin+1)
}

// PassesPerStep returns the expected fraction of the corpus's tokens
// (those of the documents it draws from) that one step's crops span: Batch
// documents drawn uniformly, each giving a pair of crops. Its inverse is
// the number of steps per pass over the corpus's text. It depends only on
// the documents and the options, so it is computed once.
func (t *Trainer) PassesPerStep() float64 {
	if t.passesPerStep == 0 {
		t.passesPerStep = t.computePassesPerStep()
	}
	return t.passesPerStep
}

func (t *Trainer) computePassesPerStep() float64 {
	byLen := map[int]int{}
	var total float64
	for _, d := range t.docs {
		byLen[len(d)]++
		total += float64(len(d))
	}
	// In order of length, so that the sum, and the steps a number of
	// passes takes, are the same on every run.
	var span float64
	for _, n := range slices.Sorted(maps.Keys(byLen)) {
		span += float64(byLen[n]) * t.o.pairTokens(n)
	}
	// Batch draws of the mean document's span, over the corpus.
	return float64(t.o.Batch) * span / float64(len(t.docs)) / total
}

// StepsForPasses returns the number of steps whose crops span passes times
// the corpus's tokens in expectation (at least 1).
func (t *Trainer) StepsForPasses(passes float64) int64 {
	return max(1, int64(math.Ceil(passes/t.PassesPerStep())))
}

// The recipe's peak learning rate, in units of the start's rms entry,
// follows the passes a run makes: MaxRate up to RateTimesPasses/MaxRate
// passes, then RateTimesPasses/passes down to MinRate (at DefaultPasses).
// Chosen on SciFact train queries (see the project README, "How long to
// train"): at 100 passes 0.03 beat 0.1 and 0.01 on every corpus shape,
// while at 10 and 25 passes, where a time budget ends a run on a large
// corpus, 0.1 beat 0.03.
const (
	MaxRate         = 0.1
	MinRate         = 0.03
	RateTimesPasses = 3
)

// RateForPasses returns the recipe's peak learning rate for a run of p
// passes over the corpus's tokens: RateTimesPasses/p within [MinRate,
// MaxRate], to 4 decimals.
func RateForPasses(p float64) float64 {
	if !(p > 0) {
		return MaxRate
	}
	return min(MaxRate, max(MinRate, math.Round(RateTimesPasses/p*1e4)/1e4))
}
