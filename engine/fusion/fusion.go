// Package fusion combines the ranked lists of a dense retriever and BM25 into
// one hybrid ranking, by normalised linear interpolation (Linear) or by
// reciprocal rank fusion (RRF). Both are deterministic: each input list is
// first put in canonical order (score descending, then doc id descending:
// the trec_eval order of document.Compare), so the output depends only on
// the set of (id, score) pairs and not on the order in which they were
// passed; the fused list is ordered the same way (fused
// score descending, then doc id descending). Every result keeps each method's
// raw score, rank and fused contribution so that a caller (the REST API) can
// explain the ranking.
//
// Definitions (D = the dense list, B = the BM25 list, both after canonical
// ordering; U = the union of their doc ids):
//
//   - rank: the 1-based position of a doc in its canonically ordered list;
//     equal scores get distinct ranks, in doc id order.
//   - min-max normalisation (MinMax, the default), per query and per list L:
//     norm(s) = (s − min L) / (max L − min L). When max L = min L (every score
//     equal, e.g. a single hit) every hit of L normalises to 1.
//   - z-score normalisation (ZScore): norm(s) = (s − mean L) / sd L, with the
//     population standard deviation sd L = sqrt(Σ(s − mean)² / |L|). When
//     sd L = 0 every hit of L normalises to 0.
//   - normalised linear interpolation, for d in U:
//     score(d) = α·nD(d) + (1−α)·nB(d), where nD(d) is norm(dense score of d)
//     if d is in D and otherwise the minimum normalised score of D (a doc
//     missing from a list takes that list's minimum); likewise nB. An empty
//     list contributes 0 to every doc. α ∈ [0, 1] weighs the dense list.
//   - reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009), for d
//     in U: score(d) = Σ_{L ∈ {D, B}, d ∈ L} 1 / (k + rank_L(d)), with k = 60
//     by default (DefaultRRFK); a list that misses d adds nothing.
//
// Scores that are NaN or ±Inf are rejected (ErrNonFinite), as are duplicate
// doc ids within one list (ErrDuplicateID) and empty doc ids (ErrEmptyID).
// Fusion does not truncate: the caller keeps the first k results.
package fusion

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/contriever-go/contriever/document"
)

// DefaultRRFK is the k of reciprocal rank fusion used by Cormack et al.
const DefaultRRFK = 60

// Sentinel errors returned (wrapped) by the fusion functions.
var (
	// ErrNonFinite reports a NaN or infinite score in an input list.
	ErrNonFinite = errors.New("fusion: score is NaN or infinite")
	// ErrDuplicateID reports a doc id that occurs twice in one input list.
	ErrDuplicateID = errors.New("fusion: duplicate doc id in one list")
	// ErrEmptyID reports a hit with an empty doc id.
	ErrEmptyID = errors.New("fusion: empty doc id")
	// ErrAlpha reports an interpolation weight outside [0, 1] (or NaN).
	ErrAlpha = errors.New("fusion: alpha must be in [0, 1]")
	// ErrRRFK reports a negative (or otherwise invalid) RRF constant.
	ErrRRFK = errors.New("fusion: rrf k must be >= 0")
	// ErrNormalization reports an unknown Normalization value.
	ErrNormalization = errors.New("fusion: unknown normalization")
)

// Hit is one entry of a ranked list produced by one retrieval method.
type Hit struct {
	ID    string  // document id
	Score float64 // the method's raw score (BM25 score, inner product)
}

// Normalization selects how Linear maps each list's scores to a common scale.
type Normalization int

const (
	// MinMax maps a list's scores to [0, 1]: (s − min) / (max − min); all
	// hits map to 1 when every score is equal.
	MinMax Normalization = iota
	// ZScore maps a list's scores to (s − mean) / sd with the population
	// standard deviation; all hits map to 0 when sd is 0.
	ZScore
)

// String returns "minmax" or "zscore".
func (n Normalization) String() string {
	switch n {
	case MinMax:
		return "minmax"
	case ZScore:
		return "zscore"
	}
	return fmt.Sprintf("Normalization(%d)", int(n))
}

// ParseNormalization parses "minmax" (or "min-max") and "zscore" (or "z-score").
func ParseNormalization(s string) (Normalization, error) {
	switch s {
	case "minmax", "min-max":
		return MinMax, nil
	case "zscore", "z-score":
		return ZScore, nil
	}
	return 0, fmt.Errorf("%w %q (want minmax or zscore)", ErrNormalization, s)
}

// Component is one method's part in a fused result.
type Component struct {
	// Rank is the 1-based rank of the doc in that method's canonically
	// ordered list, or 0 when the method did not return the doc.
	Rank int
	// Score is the method's raw score; 0 when Rank is 0.
	Score float64
	// Fused is the value that entered the fused sum before weighting: for
	// Linear the normalised score (the list's normalised minimum, or 0 for an
	// empty list, when Rank is 0); for RRF the term 1/(k + Rank) (0 when Rank
	// is 0).
	Fused float64
}

// Found reports whether the method returned the doc.
func (c Component) Found() bool { return c.Rank > 0 }

// Result is one document of a fused ranking.
type Result struct {
	ID    string    // document id
	Score float64   // fused score
	Dense Component // the dense list's part
	BM25  Component // the BM25 list's part
}

// Rank returns a copy of hits in canonical order (score descending, then id
// descending, document.Compare) after checking that every score is finite and every id is
// non-empty and unique. It is the ordering fusion applies to its inputs and
// the one a single-method ranking should be shown in.
func Rank(hits []Hit) ([]Hit, error) {
	out := slices.Clone(hits)
	seen := make(map[string]struct{}, len(out))
	for i, h := range out {
		if h.ID == "" {
			return nil, fmt.Errorf("%w (hit %d)", ErrEmptyID, i)
		}
		if math.IsNaN(h.Score) || math.IsInf(h.Score, 0) {
			return nil, fmt.Errorf("%w: doc %q has score %v", ErrNonFinite, h.ID, h.Score)
		}
		if _, dup := seen[h.ID]; dup {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateID, h.ID)
		}
		seen[h.ID] = struct{}{}
	}
	slices.SortFunc(out, func(a, b Hit) int { return document.Compare(a.Score, a.ID, b.Score, b.ID) })
	return out, nil
}

// Normalize returns the normalised scores of a list already in canonical
// order (as returned by Rank), and the list's normalised minimum, which is
// what a doc missing from the list takes in Linear (0 for an empty list).
// Sums run in canonical order, so the result does not depend on input order.
func Normalize(ranked []Hit, n Normalization) (norm []float64, floor float64, err error) {
	norm = make([]float64, len(ranked))
	if len(ranked) == 0 {
		return norm, 0, nil
	}
	switch n {
	case MinMax:
		hi, lo := ranked[0].Score, ranked[0].Score
		for _, h := range ranked {
			hi = max(hi, h.Score)
			lo = min(lo, h.Score)
		}
		d := hi - lo
		for i, h := range ranked {
			if d == 0 {
				norm[i] = 1
			} else {
				norm[i] = (h.Score - lo) / d
			}
		}
	case ZScore:
		var sum float64
		for _, h := range ranked {
			sum += h.Score
		}
		mean := sum / float64(len(ranked))
		var ss float64
		for _, h := range ranked {
			ss += (h.Score - mean) * (h.Score - mean)
		}
		sd := math.Sqrt(ss / float64(len(ranked)))
		for i, h := range ranked {
			if sd == 0 {
				norm[i] = 0
			} else {
				norm[i] = (h.Score - mean) / sd
			}
		}
	default:
		return nil, 0, fmt.Errorf("%w %d", ErrNormalization, int(n))
	}
	floor = norm[0]
	for _, v := range norm {
		floor = min(floor, v)
	}
	return norm, floor, nil
}

// Linear fuses the two lists by normalised linear interpolation:
// score = α·norm(dense) + (1−α)·norm(bm25) over the union of both lists, a doc
// missing from a list taking that list's normalised minimum (see the package
// doc for the exact definitions and edge cases). Both lists empty give an
// empty, non-nil result.
func Linear(dense, bm25 []Hit, alpha float64, n Normalization) ([]Result, error) {
	if !(alpha >= 0 && alpha <= 1) {
		return nil, fmt.Errorf("%w, got %v", ErrAlpha, alpha)
	}
	rd, err := Rank(dense)
	if err != nil {
		return nil, fmt.Errorf("dense list: %w", err)
	}
	rb, err := Rank(bm25)
	if err != nil {
		return nil, fmt.Errorf("bm25 list: %w", err)
	}
	nd, minD, err := Normalize(rd, n)
	if err != nil {
		return nil, err
	}
	nb, minB, err := Normalize(rb, n)
	if err != nil {
		return nil, err
	}
	res, byID := union(rd, rb)
	for i := range res {
		res[i].Dense.Fused = minD
		res[i].BM25.Fused = minB
	}
	for i, h := range rd {
		r := &res[byID[h.ID]]
		r.Dense = Component{Rank: i + 1, Score: h.Score, Fused: nd[i]}
	}
	for i, h := range rb {
		r := &res[byID[h.ID]]
		r.BM25 = Component{Rank: i + 1, Score: h.Score, Fused: nb[i]}
	}
	for i := range res {
		res[i].Score = alpha*res[i].Dense.Fused + (1-alpha)*res[i].BM25.Fused
	}
	sortResults(res)
	return res, nil
}

// RRF fuses the two lists by reciprocal rank fusion: score = Σ 1/(k + rank)
// over the lists that hold the doc, ranks starting at 1 (pass DefaultRRFK for
// the usual k = 60). Both lists empty give an empty, non-nil result.
func RRF(dense, bm25 []Hit, k int) ([]Result, error) {
	if k < 0 {
		return nil, fmt.Errorf("%w, got %d", ErrRRFK, k)
	}
	rd, err := Rank(dense)
	if err != nil {
		return nil, fmt.Errorf("dense list: %w", err)
	}
	rb, err := Rank(bm25)
	if err != nil {
		return nil, fmt.Errorf("bm25 list: %w", err)
	}
	res, byID := union(rd, rb)
	for i, h := range rd {
		r := &res[byID[h.ID]]
		r.Dense = Component{Rank: i + 1, Score: h.Score, Fused: 1 / float64(k+i+1)}
	}
	for i, h := range rb {
		r := &res[byID[h.ID]]
		r.BM25 = Component{Rank: i + 1, Score: h.Score, Fused: 1 / float64(k+i+1)}
	}
	for i := range res {
		// Dense first, then BM25: a fixed order, so the sum is reproducible.
		res[i].Score = res[i].Dense.Fused + res[i].BM25.Fused
	}
	sortResults(res)
	return res, nil
}

// union returns one zero Result per distinct id of a and b (ids set) and the
// index of each id.
func union(a, b []Hit) ([]Result, map[string]int) {
	byID := make(map[string]int, len(a)+len(b))
	res := make([]Result, 0, len(a)+len(b))
	for _, l := range [2][]Hit{a, b} {
		for _, h := range l {
			if _, ok := byID[h.ID]; !ok {
				byID[h.ID] = len(res)
				res = append(res, Result{ID: h.ID})
			}
		}
	}
	return res, byID
}

func sortResults(res []Result) {
	slices.SortFunc(res, func(a, b Result) int { return document.Compare(a.Score, a.ID, b.Score, b.ID) })
}
