package ppmi

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/fixture"
)

func TestRadixSortAndCompress(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, maxKey := range []uint64{0, 5, 2047, 2048, 1 << 30, 1<<40 + 7} {
		keys := make([]uint64, 5000)
		for i := range keys {
			keys[i] = rng.Uint64N(maxKey + 1)
		}
		want := map[uint64]uint32{}
		for _, k := range keys {
			want[k]++
		}
		sorted := slices.Clone(keys)
		slices.Sort(sorted)
		got := slices.Clone(keys)
		radixSort(got, make([]uint64, len(got)), maxKey)
		if !slices.Equal(got, sorted) {
			t.Fatalf("maxKey %d: radix sort differs from slices.Sort", maxKey)
		}
		r := compress(slices.Clone(keys), make([]uint64, len(keys)), maxKey)
		if r.len() != len(want) || !slices.IsSorted(r.keys) {
			t.Fatalf("maxKey %d: %d distinct keys, want %d (sorted %v)", maxKey, r.len(), len(want), slices.IsSorted(r.keys))
		}
		for i, k := range r.keys {
			if r.counts[i] != want[k] {
				t.Fatalf("key %d: count %d, want %d", k, r.counts[i], want[k])
			}
		}
	}
}

func TestMergeRuns(t *testing.T) {
	a := run{keys: []uint64{1, 3, 5}, counts: []uint32{1, 2, 3}}
	b := run{keys: []uint64{2, 3, 6}, counts: []uint32{4, 5, 1<<32 - 1}}
	c := run{keys: []uint64{6}, counts: []uint32{7}}
	m := mergeRuns([]run{a, b, c})
	if !slices.Equal(m.keys, []uint64{1, 2, 3, 5, 6}) || !slices.Equal(m.counts, []uint32{1, 4, 7, 3, 1<<32 - 1}) {
		t.Fatalf("merge: %v %v", m.keys, m.counts)
	}
}

func testTokenizer(t *testing.T) *wordpiece.Tokenizer {
	t.Helper()
	tok, err := wordpiece.Load(fixture.Repo(t, "data", "vocab", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func docsOf(texts []string) func(fn func(string) error) error {
	return func(fn func(string) error) error {
		for _, s := range texts {
			if err := fn(s); err != nil {
				return err
			}
		}
		return nil
	}
}

var tinyCorpus = []string{
	"the cat sat on the mat and the cat slept",
	"a dog chased the cat around the garden",
	"proteins fold into structures that determine their function",
	"the dog slept on the mat",
	"protein structure prediction from amino acid sequences",
	"",
	"cells divide and proteins fold; cells grow",
}

// TestCountPairs checks the parallel, chunked counter against a direct
// count, whatever the number of workers and the chunk size.
func TestCountPairs(t *testing.T) {
	tok := testTokenizer(t)
	V := uint64(tok.VocabSize())
	for _, window := range []int{1, 3, 10} {
		want := map[uint64]uint32{}
		wantDF := map[int32]int32{}
		for _, d := range tinyCorpus {
			ids := tok.Tokenize(d)
			seen := map[int32]bool{}
			for p, a := range ids {
				if !seen[a] {
					seen[a] = true
					wantDF[a]++
				}
				for q := p + 1; q < len(ids) && q <= p+window; q++ {
					x, y := uint64(a), uint64(ids[q])
					want[min(x, y)*V+max(x, y)]++
				}
			}
		}
		for _, w := range []struct{ workers, chunk int }{{1, 1 << 16}, {3, 2*window + 2}, {2, 7 + 2*window}} {
			o := Options{Window: window, Workers: w.workers, ChunkPairs: w.chunk}
			c, err := countPairs(context.Background(), docsOf(tinyCorpus), tok, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.docs != len(tinyCorpus) || c.pairs.len() != len(want) {
				t.Fatalf("window %d %+v: %d docs, %d pairs; want %d, %d", window, w, c.docs, c.pairs.len(), len(tinyCorpus), len(want))
			}
			for i, k := range c.pairs.keys {
				if c.pairs.counts[i] != want[k] {
					t.Fatalf("window %d %+v: pair %d count %d, want %d", window, w, k, c.pairs.counts[i], want[k])
				}
			}
			for id, df := range c.df {
				if df != wantDF[int32(id)] {
					t.Fatalf("df[%s] = %d, want %d", tok.Token(int32(id)), df, wantDF[int32(id)])
				}
			}
		}
	}
}

// TestOrthonormalize checks CholeskyQR2 on an ill-conditioned matrix: the
// result is orthonormal and spans the same columns.
func TestOrthonormalize(t *testing.T) {
	n, l := 300, 20
	rng := rand.New(rand.NewPCG(3, 4))
	y := make([]float32, n*l)
	for i := range y {
		y[i] = float32(rng.NormFloat64())
	}
	for i := 0; i < n; i++ { // column scales from 1 to 1e-3
		for j := 0; j < l; j++ {
			y[i*l+j] *= float32(math.Pow(1e-3, float64(j)/float64(l-1)))
		}
	}
	orig := slices.Clone(y)
	if err := orthonormalize(y, n, l); err != nil {
		t.Fatal(err)
	}
	for a := 0; a < l; a++ {
		for b := 0; b < l; b++ {
			var s float64
			for i := 0; i < n; i++ {
				s += float64(y[i*l+a]) * float64(y[i*l+b])
			}
			want := 0.0
			if a == b {
				want = 1
			}
			if math.Abs(s-want) > 1e-4 {
				t.Fatalf("QᵀQ[%d,%d] = %g", a, b, s)
			}
		}
	}
	// Each original column is reproduced by its projection on Q.
	for j := 0; j < l; j++ {
		var norm, resid float64
		proj := make([]float64, l)
		for a := 0; a < l; a++ {
			for i := 0; i < n; i++ {
				proj[a] += float64(y[i*l+a]) * float64(orig[i*l+j])
			}
		}
		for i := 0; i < n; i++ {
			r := float64(orig[i*l+j])
			for a := 0; a < l; a++ {
				r -= proj[a] * float64(y[i*l+a])
			}
			resid += r * r
			norm += float64(orig[i*l+j]) * float64(orig[i*l+j])
		}
		if math.Sqrt(resid/norm) > 1e-3 {
			t.Fatalf("column %d leaves the span: relative residual %g", j, math.Sqrt(resid/norm))
		}
	}
}

// TestRandomizedSVD compares the randomized SVD of a sparse matrix with a
// decaying spectrum against gonum's exact SVD of the same dense matrix.
func TestRandomizedSVD(t *testing.T) {
	n, rank, k := 200, 40, 10
	rng := rand.New(rand.NewPCG(5, 6))
	// A = Σ_r s_r u_r v_rᵀ with sparse-ish random factors, then sparsified.
	dense := make([]float64, n*n)
	for r := 0; r < rank; r++ {
		s := math.Pow(0.8, float64(r)) * 10
		u, v := make([]float64, n), make([]float64, n)
		for i := range u {
			u[i], v[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				dense[i*n+j] += s * u[i] * v[j] / float64(n)
			}
		}
	}
	a := &csr{n: n, rowPtr: make([]int64, n+1)}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if rng.Float64() < 0.5 {
				dense[i*n+j] = 0
				continue
			}
			a.col = append(a.col, int32(j))
			a.val = append(a.val, float32(dense[i*n+j]))
			dense[i*n+j] = float64(float32(dense[i*n+j]))
		}
		a.rowPtr[i+1] = int64(len(a.col))
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(n, n, dense), mat.SVDThin) {
		t.Fatal("gonum SVD failed")
	}
	exact := svd.Values(nil)
	var u mat.Dense
	svd.UTo(&u)
	got, err := randomizedSVD(a, transpose(a), k, 10, 4, 7, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c < k; c++ {
		if rel := math.Abs(got.sigma[c]-exact[c]) / exact[c]; rel > 5e-3 {
			t.Errorf("σ_%d = %g, exact %g", c, got.sigma[c], exact[c])
		}
		var dot float64
		for i := 0; i < n; i++ {
			dot += float64(got.u[i*k+c]) * u.At(i, c)
		}
		if c < k/2 && math.Abs(math.Abs(dot)-1) > 1e-2 { // the tail of the spectrum is flat: its vectors mix
			t.Errorf("singular vector %d: |cos| with the exact one %g", c, math.Abs(dot))
		}
	}
	// Deterministic for a seed, whatever the number of workers.
	again, err := randomizedSVD(a, transpose(a), k, 10, 4, 7, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.u, got.u) || !slices.Equal(again.sigma, got.sigma) {
		t.Error("randomized SVD differs between 1 and 2 workers")
	}
}

// TestBuild builds a tiny model twice and checks determinism, the IDF
// folding and the zero rows of tokens that never occur.
func TestBuild(t *testing.T) {
	tok := testTokenizer(t)
	var corpus []string
	for r := 0; r < 20; r++ {
		for _, d := range tinyCorpus {
			corpus = append(corpus, d+" "+strings.Repeat("x", r%3+1))
		}
	}
	o := Options{Dim: 8, Window: 3, Workers: 2, ChunkPairs: 64}
	m, err := Build(context.Background(), docsOf(corpus), tok, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Workers = 1
	m2, err := Build(context.Background(), docsOf(corpus), tok, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Weight, m2.Weight) {
		t.Fatal("build differs between 1 and 2 workers")
	}
	if m.Stats.Docs != len(corpus) || m.Dim != 8 || len(m.Weight) != tok.VocabSize()*8 {
		t.Fatalf("stats %+v dim %d", m.Stats, m.Dim)
	}
	catID, _ := tok.ID("cat")
	absent, _ := tok.ID("zebra")
	df := 0
	for _, d := range corpus {
		if slices.Contains(tok.Tokenize(d), catID) {
			df++
		}
	}
	D := float64(len(corpus))
	wantIDF := math.Log(1 + (D-float64(df)+0.5)/(float64(df)+0.5))
	if math.Abs(float64(m.IDF[catID])-wantIDF) > 1e-6 {
		t.Errorf("idf(cat) = %g, want %g", m.IDF[catID], wantIDF)
	}
	if m.IDF[absent] != 0 || slices.ContainsFunc(m.Weight[int(absent)*8:int(absent+1)*8], func(v float32) bool { return v != 0 }) {
		t.Error("a token absent from the corpus has a non-zero vector or IDF")
	}
	var norm float64
	for _, v := range m.Weight[int(catID)*8 : int(catID+1)*8] {
		norm += float64(v) * float64(v)
	}
	if norm == 0 {
		t.Error("cat has a zero vector")
	}
	// Too many dimensions for the corpus is an error, not a panic.
	if _, err := Build(context.Background(), docsOf(tinyCorpus[:1]), tok, Options{Dim: 512}); err == nil {
		t.Error("512 dims from one sentence: no error")
	}
	for _, bad := range []Options{{Dim: -1}, {Window: -2}, {Alpha: 2}, {Dim: 8, Window: 4, ChunkPairs: 3}} {
		if _, err := Build(context.Background(), docsOf(corpus), tok, bad); err == nil {
			t.Errorf("options %+v: no error", bad)
		}
	}
	if _, err := Build(context.Background(), docsOf(nil), tok, o); err == nil {
		t.Error("empty corpus: no error")
	}
}
