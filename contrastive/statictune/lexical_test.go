package statictune

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

// TestLexical checks the crops' BM25 matrix against the formula computed
// directly, term by term: Lucene's idf over the documents, k1 0.9, b 0.4,
// lengths relative to the batch's mean key length, each row divided by its
// maximum.
func TestLexical(t *testing.T) {
	w, docs := toy(30, 4, 40, 9)
	tr, err := New(w, 4, docs, Options{Batch: 6, Lexical: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	b := tr.Sample()
	got := tr.lexical(b.Queries, b.Keys)
	N := float64(len(tr.docs))
	df := func(id int32) float64 {
		n := 0
		for _, d := range tr.docs {
			if slices.Contains(d, id) {
				n++
			}
		}
		return float64(n)
	}
	var avg float64
	for _, k := range b.Keys {
		avg += float64(len(k))
	}
	avg /= float64(len(b.Keys))
	B := len(b.Keys)
	for i, q := range b.Queries {
		want := make([]float64, B)
		for j, k := range b.Keys {
			for _, id := range q { // each occurrence of a query token counts
				var tf float64
				for _, x := range k {
					if x == id {
						tf++
					}
				}
				if tf == 0 {
					continue
				}
				n := df(id)
				idf := math.Log(1 + (N-n+0.5)/(n+0.5))
				want[j] += idf * tf * (lexK1 + 1) / (tf + lexK1*(1-lexB+lexB*float64(len(k))/avg))
			}
		}
		mx := slices.Max(want)
		for j := range want {
			if mx > 0 {
				want[j] /= mx
			}
			if d := math.Abs(float64(got[i*B+j]) - want[j]); d > 1e-5 {
				t.Errorf("query %d, key %d: %g, want %g", i, j, got[i*B+j], want[j])
			}
		}
		if mx > 0 && slices.Max(got[i*B:(i+1)*B]) != 1 {
			t.Errorf("query %d: row maximum %g, want 1", i, slices.Max(got[i*B:(i+1)*B]))
		}
	}
	// The query crop comes from its key's document, so most rows are not
	// all zero: the test would pass vacuously otherwise.
	nonzero := 0
	for i := 0; i < B; i++ {
		if slices.Max(got[i*B:(i+1)*B]) > 0 {
			nonzero++
		}
	}
	if nonzero < B/2 {
		t.Fatalf("%d of %d rows have a lexical match", nonzero, B)
	}
}

// TestDisjoint checks that Disjoint crops share no span: on documents of
// distinct tokens, a query crop and its key hold no common token, and
// both are within their length bounds.
func TestDisjoint(t *testing.T) {
	w, _ := toy(400, 4, 1, 1)
	var docs [][]int32
	for d := 0; d < 20; d++ {
		n := 2 + d*3
		doc := make([]int32, n)
		for i := range doc {
			doc[i] = int32((d*17 + i) % 400)
		}
		docs = append(docs, doc)
	}
	tr, err := New(w, 4, docs, Options{Batch: 20, QueryMin: 2, QueryMax: 6, KeyMin: 5, KeyMax: 30, Disjoint: true, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < 20; s++ {
		b := tr.Sample()
		for i, q := range b.Queries {
			k := b.Keys[i]
			if len(q) < 1 || len(q) > 6 || len(k) < 1 || len(k) > 30 {
				t.Fatalf("crop lengths %d and %d", len(q), len(k))
			}
			for _, id := range q {
				if slices.Contains(k, id) {
					t.Fatalf("query %v and key %v share token %d", q, k, id)
				}
			}
		}
	}
}

// TestDisjointBelow checks that only documents shorter than DisjointBelow
// get disjoint crops: on documents of distinct tokens, no pair from a
// short document shares a token, and pairs from long ones sometimes do.
func TestDisjointBelow(t *testing.T) {
	w, _ := toy(4000, 4, 1, 1)
	var docs [][]int32
	long := map[int32]bool{} // first token of each long document
	for d := 0; d < 40; d++ {
		n := 3 + d%10 // short: 3..12 tokens
		if d%2 == 1 {
			n = 40 + d
		}
		doc := make([]int32, n)
		for i := range doc {
			doc[i] = int32(d*100 + i)
		}
		if n >= 16 {
			long[doc[0]] = true
		}
		docs = append(docs, doc)
	}
	tr, err := New(w, 4, docs, Options{Batch: 40, QueryMin: 2, QueryMax: 8, KeyMin: 8, KeyMax: 30, DisjointBelow: 16, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	overlapLong := 0
	for s := 0; s < 10; s++ {
		b := tr.Sample()
		for i, q := range b.Queries {
			k := b.Keys[i]
			shared := false
			for _, id := range q {
				shared = shared || slices.Contains(k, id)
			}
			isLong := long[q[0]/100*100]
			switch {
			case shared && !isLong:
				t.Fatalf("short document: query %v and key %v share a token", q, k)
			case shared:
				overlapLong++
			}
		}
	}
	if overlapLong == 0 {
		t.Error("no pair from a long document overlaps: the rule applies to every document")
	}
	if _, err := New(w, 4, docs, Options{DisjointBelow: -1}); !errors.Is(err, ErrOptions) {
		t.Errorf("negative DisjointBelow: %v", err)
	}
}

// TestTitles checks titles as queries: at TitleRate 1 a document with a
// title gives its title (cut at QueryMax) as the query and a key from the
// rest, a document without one gives two crops; SetTitles refuses bad
// input, and a state saved with titles does not restore without them.
func TestTitles(t *testing.T) {
	w, _ := toy(400, 4, 1, 1)
	var docs [][]int32
	var titles []int
	for d := 0; d < 12; d++ {
		doc := make([]int32, 10+d)
		for i := range doc {
			doc[i] = int32((d*31 + i) % 400)
		}
		docs = append(docs, doc)
		titles = append(titles, d%4) // 0: no title
	}
	docs = append(docs, []int32{7}) // too short to draw: dropped by New
	titles = append(titles, 1)
	o := Options{Batch: 12, QueryMin: 1, QueryMax: 2, KeyMin: 3, KeyMax: 8, TitleRate: 1, Seed: 2}
	tr, err := New(w, 4, docs, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.SetTitles(titles[:5]); err == nil {
		t.Error("too few title lengths: no error")
	}
	bad := slices.Clone(titles)
	bad[3] = -1
	if err := tr.SetTitles(bad); err == nil {
		t.Error("negative title length: no error")
	}
	if err := tr.SetTitles(titles); err != nil {
		t.Fatal(err)
	}
	first := map[int32]int{} // a document's first token → its index
	for i, d := range docs[:12] {
		first[d[0]] = i
	}
	titled := 0
	for s := 0; s < 5; s++ {
		b := tr.Sample()
		for i, q := range b.Queries {
			k := b.Keys[i]
			d, ok := first[q[0]]
			if !ok || titles[d] == 0 {
				continue // a crop that does not start the document, or no title
			}
			titled++
			if want := docs[d][:min(titles[d], 2)]; !slices.Equal(q, want) {
				t.Fatalf("document %d: query %v, want its title %v", d, q, want)
			}
			for _, id := range k {
				if slices.Contains(docs[d][:titles[d]], id) {
					t.Fatalf("document %d: key %v holds a title token", d, k)
				}
			}
		}
	}
	if titled < 20 {
		t.Fatalf("%d titled queries in 5 batches", titled)
	}
	tr.Step(0.01)
	if err := tr.SetTitles(titles); err == nil {
		t.Error("titles set after a step: no error")
	}
	st, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	w2, _ := toy(400, 4, 1, 1)
	plain, err := New(w2, 4, docs, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.UnmarshalBinary(st); !errors.Is(err, ErrState) {
		t.Errorf("state with titles restored without them: %v", err)
	}
}

// TestFingerprintCompatible checks that options without the later fields
// (Lexical, Disjoint, TitleRate, DisjointBelow) format for the state's fingerprint as
// the Options struct of before them did under %+v, so older states still
// restore, and that each later field changes the fingerprint.
func TestFingerprintCompatible(t *testing.T) {
	type before struct { // Options before Lexical, Disjoint, TitleRate and DisjointBelow
		Batch       int
		Temperature float64
		QueryMin    int
		QueryMax    int
		KeyMin      int
		KeyMax      int
		Deletion    float64
		Symmetric   bool
		Anchor      float64
		Group       int
		Seed        uint64
	}
	prev := DefaultOptions()
	prev.DisjointBelow = 0 // the recipe before DisjointBelow
	for _, o := range []Options{prev, {Batch: 8, Temperature: 0.1, QueryMin: 2, QueryMax: 4, KeyMin: 5, KeyMax: 20, Deletion: 0.1, Symmetric: true, Anchor: 0.5, Group: 3, Seed: 4}} {
		old := fmt.Sprintf("%+v", before{o.Batch, o.Temperature, o.QueryMin, o.QueryMax, o.KeyMin, o.KeyMax, o.Deletion, o.Symmetric, o.Anchor, o.Group, o.Seed})
		if got := o.fingerprint(); got != old {
			t.Errorf("fingerprint %q, before %q", got, old)
		}
		for _, later := range []Options{{Lexical: 1}, {Disjoint: true}, {TitleRate: 0.5}, {DisjointBelow: 144}} {
			n := o
			n.Lexical, n.Disjoint, n.TitleRate, n.DisjointBelow = later.Lexical, later.Disjoint, later.TitleRate, later.DisjointBelow
			if n.fingerprint() == old {
				t.Errorf("%+v: the later field does not change the fingerprint", later)
			}
		}
	}
}

// TestTeacher checks the targets of BM25 as a teacher (Options.Distill)
// against the formula: (1 − μ) on the diagonal plus μ times the softmax
// at temperature τ of each row of BM25's normalised scores; a row with no
// match puts everything on the diagonal. Every row sums to 1, and at μ 1
// the key that BM25 ranks first gets the most mass.
func TestTeacher(t *testing.T) {
	w, docs := toy(30, 4, 40, 9)
	for _, mu := range []float64{0.3, 1} {
		tr, err := New(slices.Clone(w), 4, docs, Options{Batch: 6, Distill: mu, Temperature: 0.2, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		b := tr.Sample()
		lex := tr.lexical(b.Queries, b.Keys)
		for j := range 6 { // row 1: a row with no match
			lex[1*6+j] = 0
		}
		got := tr.teacher(lex, 6)
		for i := range 6 {
			row := lex[i*6 : (i+1)*6]
			var z, sum float64
			for _, x := range row {
				z += math.Exp(float64(x) / 0.2)
			}
			for j, x := range row {
				want := mu * math.Exp(float64(x)/0.2) / z
				if i == 1 {
					want = 0
				}
				if i == j {
					want += 1 - mu
					if i == 1 {
						want = 1
					}
				}
				if math.Abs(float64(got[i*6+j])-want) > 1e-6 {
					t.Errorf("μ %g: target[%d][%d] = %g, want %g", mu, i, j, got[i*6+j], want)
				}
				sum += float64(got[i*6+j])
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Errorf("μ %g: row %d sums to %g", mu, i, sum)
			}
			if mu == 1 && i != 1 {
				if best, top := slices.Index(row, slices.Max(row)), slices.Index(got[i*6:(i+1)*6], slices.Max(got[i*6:(i+1)*6])); best != top {
					t.Errorf("row %d: BM25's best key %d, the target's %d", i, best, top)
				}
			}
		}
	}
}

// TestUseSeparateQueries checks the recipe's rule for separate query
// rows: titles as queries on, and at least half of the drawable
// documents with a title followed by text.
func TestUseSeparateQueries(t *testing.T) {
	docs := [][]int32{{1, 2, 3}, {4, 5, 6}, {7, 8}, {9, 10, 11, 12}, {13}} // the last is not drawable
	for _, c := range []struct {
		rate   float64
		titles []int
		want   bool
	}{
		{0.2, []int{1, 2, 0, 0, 1}, true},  // 2 of 4
		{0.2, []int{1, 0, 0, 0, 1}, false}, // 1 of 4 (the undrawable one does not count)
		{0.2, []int{3, 3, 2, 4, 0}, false}, // titles with no text after them
		{0.2, []int{1, 1, 1, 1, 0}, true},  // all
		{0, []int{1, 1, 1, 1, 0}, false},   // titles are not queries
		{0.2, nil, false},                  // no titles read
		{math.NaN(), []int{1, 1, 1, 1, 0}, false},
	} {
		if got := UseSeparateQueries(c.rate, docs, c.titles); got != c.want {
			t.Errorf("rate %g, titles %v: %v, want %v", c.rate, c.titles, got, c.want)
		}
	}
}
