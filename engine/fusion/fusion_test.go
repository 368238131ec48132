package fusion

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// want is one expected fused result: id, fused score, ranks in each list.
type want struct {
	id       string
	score    float64
	dRank    int
	bRank    int
	dFused   float64
	bm25Used float64
}

func check(t *testing.T, got []Result, ws []want) {
	t.Helper()
	if len(got) != len(ws) {
		t.Fatalf("got %d results %+v, want %d", len(got), got, len(ws))
	}
	for i, w := range ws {
		g := got[i]
		if g.ID != w.id || math.Abs(g.Score-w.score) > 1e-12 || g.Dense.Rank != w.dRank || g.BM25.Rank != w.bRank ||
			math.Abs(g.Dense.Fused-w.dFused) > 1e-12 || math.Abs(g.BM25.Fused-w.bm25Used) > 1e-12 {
			t.Errorf("result %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestLinearMinMax(t *testing.T) {
	// Given out of order on purpose: ranks come from the scores.
	dense := []Hit{{"c", 0.1}, {"a", 0.9}, {"b", 0.5}}
	bm25 := []Hit{{"b", 10}, {"a", 2}, {"d", 6}}
	// nD: a=(0.9-0.1)/0.8=1, b=0.5, c=0; min 0.
	// nB: b=1, d=(6-2)/8=0.5, a=0; min 0.
	for _, tc := range []struct {
		alpha float64
		ws    []want
	}{
		{0.5, []want{
			{"b", 0.5*0.5 + 0.5*1, 2, 1, 0.5, 1},
			{"a", 0.5 * 1, 1, 3, 1, 0},
			{"d", 0.5 * 0.5, 0, 2, 0, 0.5},
			{"c", 0, 3, 0, 0, 0},
		}},
		{0.3, []want{
			{"b", 0.3*0.5 + 0.7*1, 2, 1, 0.5, 1},
			{"d", 0.7 * 0.5, 0, 2, 0, 0.5},
			{"a", 0.3 * 1, 1, 3, 1, 0},
			{"c", 0, 3, 0, 0, 0},
		}},
		{1, []want{ // dense only; BM25-only d takes dense's minimum 0 and ties c, d by id (descending)
			{"a", 1, 1, 3, 1, 0},
			{"b", 0.5, 2, 1, 0.5, 1},
			{"d", 0, 0, 2, 0, 0.5},
			{"c", 0, 3, 0, 0, 0},
		}},
		{0, []want{ // BM25 only
			{"b", 1, 2, 1, 0.5, 1},
			{"d", 0.5, 0, 2, 0, 0.5},
			{"c", 0, 3, 0, 0, 0},
			{"a", 0, 1, 3, 1, 0},
		}},
	} {
		t.Run(fmt.Sprint(tc.alpha), func(t *testing.T) {
			got, err := Linear(dense, bm25, tc.alpha, MinMax)
			if err != nil {
				t.Fatal(err)
			}
			check(t, got, tc.ws)
			for _, r := range got {
				if r.ID == "b" && (r.Dense.Score != 0.5 || r.BM25.Score != 10) {
					t.Errorf("raw scores not kept: %+v", r)
				}
			}
		})
	}
}

func TestLinearMinMaxMissingTakesMinimum(t *testing.T) {
	// The dense minimum is not 0 after normalisation only when all scores are
	// equal; here dense scores are equal (norm 1, min 1), so c, missing from
	// dense, also takes 1, and BM25 alone decides the order.
	dense := []Hit{{"a", 2}, {"b", 2}}
	bm25 := []Hit{{"c", 5}, {"a", 1}}
	got, err := Linear(dense, bm25, 0.5, MinMax)
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{
		{"c", 0.5*1 + 0.5*1, 0, 1, 1, 1},
		{"b", 0.5*1 + 0.5*0, 1, 0, 1, 0}, // ties a at 0.5; id order (descending)
		{"a", 0.5*1 + 0.5*0, 2, 2, 1, 0},
	})
}

func TestLinearZScore(t *testing.T) {
	dense := []Hit{{"a", 3}, {"b", 1}} // mean 2, sd 1: a=1, b=-1
	bm25 := []Hit{{"d", 0}, {"a", 4}, {"c", 2}}
	// mean 2, sd sqrt(8/3): a=2/sd, c=0, d=-2/sd; min -2/sd.
	z := 2 / math.Sqrt(8.0/3)
	got, err := Linear(dense, bm25, 0.5, ZScore)
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{
		{"a", 0.5*1 + 0.5*z, 1, 1, 1, z},
		{"c", 0.5*-1 + 0, 0, 2, -1, 0},
		{"d", 0.5*-1 + 0.5*-z, 0, 3, -1, -z}, // exactly ties b: id order (descending)
		{"b", 0.5*-1 + 0.5*-z, 2, 0, -1, -z},
	})
	if got[2].Score != got[3].Score {
		t.Errorf("b and d should tie exactly: %v vs %v", got[2].Score, got[3].Score)
	}
}

func TestLinearZScoreConstant(t *testing.T) {
	got, err := Linear([]Hit{{"x", 7}, {"y", 7}}, []Hit{{"y", 1}, {"z", 3}}, 0.25, ZScore)
	if err != nil {
		t.Fatal(err)
	}
	// dense sd 0: x=y=0, min 0. bm25: mean 2, sd 1: z=1, y=-1, min -1.
	check(t, got, []want{
		{"z", 0.75 * 1, 0, 1, 0, 1},
		{"y", 0.75 * -1, 1, 2, 0, -1},
		{"x", 0.75 * -1, 2, 0, 0, -1},
	})
}

func TestLinearOneListEmpty(t *testing.T) {
	got, err := Linear(nil, []Hit{{"q", 1}, {"p", 3}}, 0.6, MinMax)
	if err != nil {
		t.Fatal(err)
	}
	// Empty dense list contributes 0.
	check(t, got, []want{
		{"p", 0.4 * 1, 0, 1, 0, 1},
		{"q", 0, 0, 2, 0, 0},
	})
	got, err = Linear([]Hit{{"x", 3}, {"y", 3}}, []Hit{}, 0.5, MinMax)
	if err != nil {
		t.Fatal(err)
	}
	// All-equal dense list: every hit normalises to 1; ties by id (descending).
	check(t, got, []want{
		{"y", 0.5, 1, 0, 1, 0},
		{"x", 0.5, 2, 0, 1, 0},
	})
}

func TestBothEmpty(t *testing.T) {
	for _, f := range []func() ([]Result, error){
		func() ([]Result, error) { return Linear(nil, nil, 0.5, MinMax) },
		func() ([]Result, error) { return Linear([]Hit{}, nil, 0.5, ZScore) },
		func() ([]Result, error) { return RRF(nil, []Hit{}, DefaultRRFK) },
	} {
		got, err := f()
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("got %v, %v; want empty non-nil", got, err)
		}
	}
}

func TestRRF(t *testing.T) {
	dense := []Hit{{"b", 0.5}, {"a", 0.9}, {"c", 0.1}} // a, b, c
	bm25 := []Hit{{"a", 2}, {"b", 10}, {"d", 6}}       // b, d, a
	got, err := RRF(dense, bm25, DefaultRRFK)
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{
		{"b", 1.0/62 + 1.0/61, 2, 1, 1.0 / 62, 1.0 / 61},
		{"a", 1.0/61 + 1.0/63, 1, 3, 1.0 / 61, 1.0 / 63},
		{"d", 1.0 / 62, 0, 2, 0, 1.0 / 62},
		{"c", 1.0 / 63, 3, 0, 1.0 / 63, 0},
	})
	got, err = RRF([]Hit{{"a", 1}, {"b", 2}}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{{"b", 1, 1, 0, 1, 0}, {"a", 0.5, 2, 0, 0.5, 0}})
	// Equal scores get distinct ranks in id order (descending), and equal
	// fused scores are ordered by id (descending).
	got, err = RRF([]Hit{{"y", 1}, {"x", 1}}, []Hit{{"x", 5}, {"y", 6}}, 60)
	if err != nil {
		t.Fatal(err)
	}
	check(t, got, []want{
		{"y", 1.0/61 + 1.0/61, 1, 1, 1.0 / 61, 1.0 / 61},
		{"x", 1.0/62 + 1.0/62, 2, 2, 1.0 / 62, 1.0 / 62},
	})
}

func TestRank(t *testing.T) {
	got, err := Rank([]Hit{{"b", 1}, {"c", 2}, {"a", 1}})
	if err != nil {
		t.Fatal(err)
	}
	if w := []Hit{{"c", 2}, {"b", 1}, {"a", 1}}; !reflect.DeepEqual(got, w) {
		t.Errorf("Rank = %v, want %v", got, w)
	}
}

func TestInvalid(t *testing.T) {
	ok := []Hit{{"a", 1}}
	for _, tc := range []struct {
		name string
		err  error
		f    func() ([]Result, error)
	}{
		{"nan dense", ErrNonFinite, func() ([]Result, error) { return Linear([]Hit{{"a", math.NaN()}}, ok, 0.5, MinMax) }},
		{"inf bm25", ErrNonFinite, func() ([]Result, error) { return Linear(ok, []Hit{{"a", math.Inf(1)}}, 0.5, MinMax) }},
		{"nan rrf", ErrNonFinite, func() ([]Result, error) { return RRF(ok, []Hit{{"b", math.NaN()}}, 60) }},
		{"-inf rrf", ErrNonFinite, func() ([]Result, error) { return RRF([]Hit{{"b", math.Inf(-1)}}, nil, 60) }},
		{"dup", ErrDuplicateID, func() ([]Result, error) { return Linear([]Hit{{"a", 1}, {"a", 2}}, nil, 0.5, MinMax) }},
		{"dup rrf", ErrDuplicateID, func() ([]Result, error) { return RRF(nil, []Hit{{"a", 1}, {"a", 1}}, 60) }},
		{"empty id", ErrEmptyID, func() ([]Result, error) { return Linear([]Hit{{"", 1}}, nil, 0.5, MinMax) }},
		{"alpha>1", ErrAlpha, func() ([]Result, error) { return Linear(ok, ok, 1.01, MinMax) }},
		{"alpha<0", ErrAlpha, func() ([]Result, error) { return Linear(ok, ok, -0.1, MinMax) }},
		{"alpha nan", ErrAlpha, func() ([]Result, error) { return Linear(ok, ok, math.NaN(), MinMax) }},
		{"norm", ErrNormalization, func() ([]Result, error) { return Linear(ok, ok, 0.5, Normalization(7)) }},
		{"rrf k", ErrRRFK, func() ([]Result, error) { return RRF(ok, ok, -1) }},
	} {
		got, err := tc.f()
		if !errors.Is(err, tc.err) || got != nil {
			t.Errorf("%s: got %v, %v; want error %v", tc.name, got, err, tc.err)
		}
	}
}

func TestParseNormalization(t *testing.T) {
	for s, w := range map[string]Normalization{"minmax": MinMax, "min-max": MinMax, "zscore": ZScore, "z-score": ZScore} {
		if n, err := ParseNormalization(s); err != nil || n != w {
			t.Errorf("ParseNormalization(%q) = %v, %v", s, n, err)
		}
	}
	if MinMax.String() != "minmax" || ZScore.String() != "zscore" {
		t.Errorf("String: %v %v", MinMax, ZScore)
	}
	if _, err := ParseNormalization("l2"); !errors.Is(err, ErrNormalization) {
		t.Errorf("ParseNormalization(l2) error = %v", err)
	}
}

// randomList draws up to n hits over ids d0..d(pool-1) with scores from a
// small set (so ties are common) or a continuous range.
func randomList(r *rand.Rand, n, pool int, ties bool) []Hit {
	perm := r.Perm(pool)
	m := r.IntN(n + 1)
	out := make([]Hit, 0, m)
	for _, p := range perm[:min(m, pool)] {
		s := r.NormFloat64() * 10
		if ties {
			s = float64(r.IntN(4))
		}
		out = append(out, Hit{ID: fmt.Sprintf("d%d", p), Score: s})
	}
	return out
}

func shuffled(r *rand.Rand, h []Hit) []Hit {
	c := append([]Hit(nil), h...)
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return c
}

// TestPermutationInvariant checks that the fused ranking (ids, scores, ranks,
// components) is bit-identical whatever order the inputs come in, and that it
// is sorted by score desc then id asc with every doc of the union exactly once.
func TestPermutationInvariant(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for iter := range 2000 {
		ties := iter%2 == 0
		d := randomList(r, 30, 40, ties)
		b := randomList(r, 30, 40, ties)
		alpha := r.Float64()
		fusers := map[string]func(d, b []Hit) ([]Result, error){
			"minmax": func(d, b []Hit) ([]Result, error) { return Linear(d, b, alpha, MinMax) },
			"zscore": func(d, b []Hit) ([]Result, error) { return Linear(d, b, alpha, ZScore) },
			"rrf":    func(d, b []Hit) ([]Result, error) { return RRF(d, b, DefaultRRFK) },
		}
		for name, f := range fusers {
			ref, err := f(d, b)
			if err != nil {
				t.Fatal(err)
			}
			union := map[string]bool{}
			for _, h := range append(append([]Hit(nil), d...), b...) {
				union[h.ID] = true
			}
			if len(ref) != len(union) {
				t.Fatalf("%s: %d results for a union of %d", name, len(ref), len(union))
			}
			for i := 1; i < len(ref); i++ {
				p, q := ref[i-1], ref[i]
				if p.Score < q.Score || (p.Score == q.Score && p.ID <= q.ID) {
					t.Fatalf("%s: results %d, %d out of order: %+v %+v", name, i-1, i, p, q)
				}
			}
			for range 3 {
				got, err := f(shuffled(r, d), shuffled(r, b))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, ref) {
					t.Fatalf("%s iter %d: result depends on input order:\n%+v\nvs\n%+v", name, iter, got, ref)
				}
			}
		}
	}
}
