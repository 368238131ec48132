package vector

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

// kind describes one index implementation for the conformance suite, in
// the style of gonum's testblas: every implementation runs every check.
type kind struct {
	name string
	// build returns an empty index ready for Add; train is a sample of the
	// data distribution (used by indexes that must be trained).
	build func(t testing.TB, dim int, m Metric, train []float32) Index
	// exact reports whether results must equal brute force as built; for
	// inexact indexes, setExact makes them exact (IVF: nprobe = nlist).
	exact    bool
	setExact func(ix Index)
	// setApprox restores the approximate setting.
	setApprox func(ix Index)
	// lossy is set for indexes that keep only codes: their scores are
	// approximate even at the exact setting, so results are checked for
	// order and for scores within lossy of the exact ones (see check), and
	// recall against brute force must reach recall (at nprobe = nlist).
	lossy, recall float64
}

// ivfQuant builds a trained IVF kind with quantisation options; PQ kinds
// use dim/4 sub-quantisers (so both kernels of internal/pqscan run).
func ivfQuant(pq, codesOnly, sq bool) func(t testing.TB, dim int, m Metric, train []float32) Index {
	return func(t testing.TB, dim int, m Metric, train []float32) Index {
		opts := []Option{WithMetric(m), WithSeed(7), WithNProbe(4)}
		if pq {
			opts = append(opts, WithPQ(dim/4))
		}
		if sq {
			opts = append(opts, WithSQ8())
		}
		if codesOnly {
			opts = append(opts, WithCodesOnly())
		}
		ix, err := NewIVF(dim, 16, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Train(train); err != nil {
			t.Fatal(err)
		}
		return ix
	}
}

func setExactRerank(ix Index) {
	ix.(*IVF).SetNProbe(1 << 30)
	ix.(*IVF).SetRerank(1 << 30)
}

func setApproxRerank(ix Index) {
	ix.(*IVF).SetNProbe(4)
	ix.(*IVF).SetRerank(0)
}

// check asserts got against the brute-force ranking ref: checkExact for
// exact kinds; for lossy ones sorted results, as many as expected, each
// approximate score within kd.lossy of the exact one, and each result's
// exact score no worse than the reference k-th score by more than
// 2·kd.lossy (a near miss, never a far one).
func (kd kind) check(t *testing.T, got, ref []Result, k int) {
	t.Helper()
	if kd.lossy == 0 {
		checkExact(t, got, ref, k)
		return
	}
	want := ref[:min(k, len(ref))]
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d", len(got), len(want))
	}
	exact := map[string]float32{}
	for _, r := range ref {
		exact[r.ID] = r.Score
	}
	kth := float64(want[len(want)-1].Score)
	for i, g := range got {
		if i > 0 && (g.Score > got[i-1].Score || (g.Score == got[i-1].Score && g.ID > got[i-1].ID)) {
			t.Fatalf("results not sorted at %d: %v then %v", i, got[i-1], g)
		}
		e, ok := exact[g.ID]
		if !ok {
			t.Fatalf("result %d: unknown id %q", i, g.ID)
		}
		if d := math.Abs(float64(g.Score - e)); d > kd.lossy {
			t.Fatalf("result %d: id %s approximate score %v, exact %v", i, g.ID, g.Score, e)
		}
		if float64(e) < kth-2*kd.lossy {
			t.Fatalf("result %d: id %s exact score %v far below the reference k-th %v", i, g.ID, e, kth)
		}
	}
}

var kinds = []kind{
	{
		name: "flat",
		build: func(t testing.TB, dim int, m Metric, _ []float32) Index {
			ix, err := NewFlat(dim, WithMetric(m))
			if err != nil {
				t.Fatal(err)
			}
			return ix
		},
		exact:     true,
		setExact:  func(Index) {},
		setApprox: func(Index) {},
	},
	{
		name: "ivf",
		build: func(t testing.TB, dim int, m Metric, train []float32) Index {
			ix, err := NewIVF(dim, 16, WithMetric(m), WithSeed(7), WithNProbe(4))
			if err != nil {
				t.Fatal(err)
			}
			if err := ix.Train(train); err != nil {
				t.Fatal(err)
			}
			return ix
		},
		setExact:  func(ix Index) { ix.(Prober).SetNProbe(1 << 30) },
		setApprox: func(ix Index) { ix.(Prober).SetNProbe(4) },
	},
	{
		// IVF scanning 8-bit codes, re-ranking the best candidates exactly
		// (the default depth, 4·k, at the approximate setting; every probed
		// vector at the exact one).
		name: "ivf-sq8",
		build: func(t testing.TB, dim int, m Metric, train []float32) Index {
			ix, err := NewIVF(dim, 16, WithMetric(m), WithSeed(7), WithNProbe(4), WithSQ8())
			if err != nil {
				t.Fatal(err)
			}
			if err := ix.Train(train); err != nil {
				t.Fatal(err)
			}
			return ix
		},
		setExact: func(ix Index) {
			ix.(*IVF).SetNProbe(1 << 30)
			ix.(*IVF).SetRerank(1 << 30)
		},
		setApprox: func(ix Index) {
			ix.(*IVF).SetNProbe(4)
			ix.(*IVF).SetRerank(0)
		},
	},
	{
		// IVF-PQ keeping its floats: ADC scan, exact re-rank.
		name: "ivf-pq", build: ivfQuant(true, false, false),
		setExact: setExactRerank, setApprox: setApproxRerank,
	},
	{
		// IVF-PQ, codes only: approximate scores.
		name: "ivf-pq-codes", build: ivfQuant(true, true, false),
		setExact: setExactRerank, setApprox: setApproxRerank, lossy: 0.2, recall: 0.5,
	},
	{
		// IVF-SQ8, codes only: approximate scores.
		name: "ivf-sq8-codes", build: ivfQuant(false, true, true),
		setExact: setExactRerank, setApprox: setApproxRerank, lossy: 0.05, recall: 0.8,
	},
}

// clustered draws n unit vectors around nc random unit centres (the
// distribution of the FAISS anchor, at test size).
func clustered(rng *rand.Rand, n, dim, nc int, sigma float64) []float32 {
	cent := make([]float32, nc*dim)
	for i := range cent {
		cent[i] = float32(rng.NormFloat64())
	}
	normalizeRows(cent, dim)
	v := make([]float32, n*dim)
	s := sigma / math.Sqrt(float64(dim))
	for i := 0; i < n; i++ {
		c := rng.IntN(nc)
		for j := 0; j < dim; j++ {
			v[i*dim+j] = cent[c*dim+j] + float32(s*rng.NormFloat64())
		}
	}
	normalizeRows(v, dim)
	return v
}

func makeIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return ids
}

// bruteForce is the float64 reference: all (id, score) sorted by score
// descending then id descending.
func bruteForce(q []float32, vecs []float32, ids []string, dim int, m Metric) []Result {
	qq := append([]float32(nil), q...)
	if m == Cosine {
		normalizeRows(qq, dim)
	}
	out := make([]Result, len(ids))
	for i, id := range ids {
		row := append([]float32(nil), vecs[i*dim:(i+1)*dim]...)
		if m == Cosine {
			normalizeRows(row, dim)
		}
		var s float64
		for j := range row {
			s += float64(qq[j]) * float64(row[j])
		}
		out[i] = Result{id, float32(s)}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Score != out[b].Score {
			return out[a].Score > out[b].Score
		}
		return out[a].ID > out[b].ID
	})
	return out
}

const scoreTol = 1e-4

// checkExact asserts that got is the top k of the brute-force ranking:
// sorted, same scores position by position, and the same ids wherever the
// reference ranking has no near-tie across the position.
func checkExact(t *testing.T, got []Result, ref []Result, k int) {
	t.Helper()
	want := ref[:min(k, len(ref))]
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d", len(got), len(want))
	}
	refScore := map[string]float32{}
	for _, r := range ref {
		refScore[r.ID] = r.Score
	}
	for i, g := range got {
		if i > 0 && (g.Score > got[i-1].Score || (g.Score == got[i-1].Score && g.ID > got[i-1].ID)) {
			t.Fatalf("results not sorted at %d: %v then %v", i, got[i-1], g)
		}
		rs, ok := refScore[g.ID]
		if !ok {
			t.Fatalf("result %d: unknown id %q", i, g.ID)
		}
		if math.Abs(float64(rs-g.Score)) > scoreTol {
			t.Fatalf("result %d: id %s score %v, reference %v", i, g.ID, g.Score, rs)
		}
		if math.Abs(float64(want[i].Score-g.Score)) > scoreTol {
			t.Fatalf("rank %d: score %v, reference %v", i, g.Score, want[i].Score)
		}
	}
	// Same set of ids when the k-th and (k+1)-th reference scores are apart.
	if len(ref) > k && ref[k-1].Score-ref[k].Score < 2*scoreTol {
		return
	}
	gs := map[string]bool{}
	for _, g := range got {
		gs[g.ID] = true
	}
	for _, w := range want {
		if !gs[w.ID] {
			t.Fatalf("reference top-%d id %s (score %v) missing from %v", k, w.ID, w.Score, got)
		}
	}
}

func recallAt(got, truth [][]Result, k int) float64 {
	hit, tot := 0, 0
	for i := range truth {
		ts := map[string]bool{}
		for _, r := range truth[i][:min(k, len(truth[i]))] {
			ts[r.ID] = true
		}
		for _, r := range got[i][:min(k, len(got[i]))] {
			if ts[r.ID] {
				hit++
			}
		}
		tot += len(ts)
	}
	return float64(hit) / float64(tot)
}

type dataset struct {
	dim        int
	ids        []string
	vecs, qs   []float32
	nq         int
	train      []float32
	metric     Metric
	unitScaled bool
}

func newDataset(seed uint64, n, nq, dim int, m Metric) dataset {
	rng := rand.New(rand.NewPCG(seed, 99))
	v := clustered(rng, n+nq, dim, 12, 1.0)
	if m == Cosine {
		// Give the vectors different norms: cosine must ignore them.
		for i := 0; i < n+nq; i++ {
			s := float32(0.5 + 2*rng.Float64())
			for j := 0; j < dim; j++ {
				v[i*dim+j] *= s
			}
		}
	}
	return dataset{dim: dim, ids: makeIDs("doc", n), vecs: v[:n*dim], qs: v[n*dim:], nq: nq, train: v[:n*dim], metric: m}
}

func TestConformance(t *testing.T) {
	for _, kd := range kinds {
		t.Run(kd.name, func(t *testing.T) {
			for _, m := range []Metric{InnerProduct, Cosine} {
				t.Run(m.String(), func(t *testing.T) {
					t.Run("exact", func(t *testing.T) { testExact(t, kd, m) })
					t.Run("recall", func(t *testing.T) { testRecall(t, kd, m) })
				})
			}
			t.Run("ties", func(t *testing.T) { testTies(t, kd) })
			t.Run("manyQueries", func(t *testing.T) { testManyQueries(t, kd) })
			t.Run("addRemove", func(t *testing.T) { testAddRemove(t, kd) })
			t.Run("errors", func(t *testing.T) { testErrors(t, kd) })
			t.Run("saveLoad", func(t *testing.T) { testSaveLoad(t, kd) })
			t.Run("corruption", func(t *testing.T) { testCorruption(t, kd) })
			t.Run("concurrent", func(t *testing.T) { testConcurrent(t, kd) })
		})
	}
}

// testExact: results agree with brute force, for batches of several sizes
// (the GEMV path for one or two queries, the sgemm path for more) and k
// from 1 to more than the index holds.
func testExact(t *testing.T, kd kind, m Metric) {
	ds := newDataset(1, 3000, 40, 24, m)
	ix := kd.build(t, ds.dim, m, ds.train)
	kd.setExact(ix)
	if err := ix.Add(ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	if ix.Len() != len(ds.ids) || ix.Dim() != ds.dim || ix.Metric() != m {
		t.Fatalf("Len/Dim/Metric = %d/%d/%v", ix.Len(), ix.Dim(), ix.Metric())
	}
	for _, nq := range []int{1, 2, 3, 40} {
		for _, k := range []int{1, 10, 129} {
			res, err := ix.Search(ds.qs[:nq*ds.dim], k)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != nq {
				t.Fatalf("%d result lists for %d queries", len(res), nq)
			}
			for i := 0; i < nq; i++ {
				kd.check(t, res[i], bruteForce(ds.qs[i*ds.dim:(i+1)*ds.dim], ds.vecs, ds.ids, ds.dim, m), k)
			}
		}
	}
	// k larger than the index.
	small := kd.build(t, ds.dim, m, ds.train)
	kd.setExact(small)
	if err := small.Add(ds.ids[:5], ds.vecs[:5*ds.dim]); err != nil {
		t.Fatal(err)
	}
	res, err := small.Search(ds.qs[:3*ds.dim], 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := range res {
		kd.check(t, res[i], bruteForce(ds.qs[i*ds.dim:(i+1)*ds.dim], ds.vecs[:5*ds.dim], ds.ids[:5], ds.dim, m), 10)
	}
	// Empty index.
	empty := kd.build(t, ds.dim, m, ds.train)
	res, err = empty.Search(ds.qs[:2*ds.dim], 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || len(res[0]) != 0 || len(res[1]) != 0 {
		t.Fatalf("empty index returned %v", res)
	}
}

// testRecall: recall@10 against brute force; exact indexes must reach 1,
// approximate ones a high value at their approximate setting on clustered
// data and 1 at the exact setting.
func testRecall(t *testing.T, kd kind, m Metric) {
	ds := newDataset(2, 4000, 100, 32, m)
	ix := kd.build(t, ds.dim, m, ds.train)
	if err := ix.Add(ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	truth := make([][]Result, ds.nq)
	for i := range truth {
		truth[i] = bruteForce(ds.qs[i*ds.dim:(i+1)*ds.dim], ds.vecs, ds.ids, ds.dim, m)[:10]
	}
	kd.setApprox(ix)
	res, err := ix.Search(ds.qs, 10)
	if err != nil {
		t.Fatal(err)
	}
	r := recallAt(res, truth, 10)
	t.Logf("recall@10 = %.3f", r)
	floor := 0.9
	if kd.exact {
		floor = 0.999
	}
	exactFloor := 0.999
	if kd.lossy > 0 {
		floor, exactFloor = min(floor, kd.recall), kd.recall
	}
	if r < floor {
		t.Fatalf("recall@10 = %.3f < %.3f", r, floor)
	}
	kd.setExact(ix)
	res, err = ix.Search(ds.qs, 10)
	if err != nil {
		t.Fatal(err)
	}
	if r := recallAt(res, truth, 10); r < exactFloor {
		t.Fatalf("exact setting: recall@10 = %.3f", r)
	}
	// Batched and one-at-a-time searches agree exactly.
	kd.setApprox(ix)
	batch, _ := ix.Search(ds.qs[:20*ds.dim], 10)
	for i := 0; i < 20; i++ {
		one, _ := ix.Search(ds.qs[i*ds.dim:(i+1)*ds.dim], 10)
		if !sameIDs(one[0], batch[i]) {
			t.Fatalf("query %d: alone %v, in batch %v", i, one[0], batch[i])
		}
	}
}

func sameIDs(a, b []Result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || math.Abs(float64(a[i].Score-b[i].Score)) > scoreTol {
			return false
		}
	}
	return true
}

// testTies: vectors with small integer entries have exactly equal scores;
// ties must come out by id descending (trec_eval order) whatever the
// insertion order, also when the k-th position cuts through them.
func testTies(t *testing.T, kd kind) {
	const dim = 16
	rng := rand.New(rand.NewPCG(3, 3))
	base := make([]float32, 200*dim)
	for i := range base {
		base[i] = float32(rng.IntN(5) - 2)
	}
	ix := kd.build(t, dim, InnerProduct, base)
	kd.setExact(ix)
	// 30 copies of one vector under shuffled ids, plus the random rest.
	dup := base[:dim]
	var ids []string
	var vecs []float32
	for _, p := range rng.Perm(30) {
		ids = append(ids, fmt.Sprintf("tie%02d", p))
		vecs = append(vecs, dup...)
	}
	for i := 1; i < 200; i++ {
		ids = append(ids, fmt.Sprintf("r%03d", i))
		vecs = append(vecs, base[i*dim:(i+1)*dim]...)
	}
	if err := ix.Add(ids, vecs); err != nil {
		t.Fatal(err)
	}
	res, err := ix.Search(dup, 12)
	if err != nil {
		t.Fatal(err)
	}
	checkTies(t, kd, res[0])
	// The same with three queries (the sgemm path).
	q3 := append(append(append([]float32(nil), dup...), dup...), dup...)
	res, err = ix.Search(q3, 12)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range res {
		checkTies(t, kd, rr)
	}
}

// checkTies asserts that the results of testTies are the tied copies in id
// order, descending (tie29, tie28, ...: document.Compare's rule); a lossy
// kind may let a few other vectors in among them, but the tied ones must
// still come by id descending and make at least 10 of the 12.
func checkTies(t *testing.T, kd kind, rr []Result) {
	t.Helper()
	n := 0
	for i, r := range rr {
		want := fmt.Sprintf("tie%02d", 29-n)
		if kd.lossy > 0 && !strings.HasPrefix(r.ID, "tie") {
			continue
		}
		if r.ID != want {
			t.Fatalf("rank %d: %s (score %v), want %s; all: %v", i, r.ID, r.Score, want, rr)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d tied copies in %v", n, rr)
	}
}

func testAddRemove(t *testing.T, kd kind) {
	ds := newDataset(4, 2000, 10, 16, InnerProduct)
	ix := kd.build(t, ds.dim, InnerProduct, ds.train)
	kd.setExact(ix)
	d := ds.dim
	if err := ix.Add(ds.ids[:1500], ds.vecs[:1500*d]); err != nil {
		t.Fatal(err)
	}
	// Duplicates: with the index, and within the batch; nothing is added.
	err := ix.Add([]string{"new1", "doc3"}, ds.vecs[1500*d:1502*d])
	if !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("re-adding doc3: err = %v", err)
	}
	err = ix.Add([]string{"new1", "new1"}, ds.vecs[1500*d:1502*d])
	if !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("id twice in a batch: err = %v", err)
	}
	if ix.Len() != 1500 {
		t.Fatalf("Len = %d after failed adds", ix.Len())
	}
	if err := ix.Add(ds.ids[1500:], ds.vecs[1500*d:]); err != nil {
		t.Fatal(err)
	}
	// Remove every third id, some twice, some unknown.
	var rm []string
	keep := map[string]bool{}
	for i, id := range ds.ids {
		if i%3 == 0 {
			rm = append(rm, id)
		} else {
			keep[id] = true
		}
	}
	n, err := ix.Remove(append(rm, "nope", rm[0]))
	if err != nil || n != len(rm) {
		t.Fatalf("Remove = %d, %v; want %d", n, err, len(rm))
	}
	if ix.Len() != len(keep) {
		t.Fatalf("Len = %d, want %d", ix.Len(), len(keep))
	}
	var kids []string
	var kvecs []float32
	for i, id := range ds.ids {
		if keep[id] {
			kids = append(kids, id)
			kvecs = append(kvecs, ds.vecs[i*d:(i+1)*d]...)
		}
	}
	check := func(ids []string, vecs []float32) {
		t.Helper()
		res, err := ix.Search(ds.qs, 20)
		if err != nil {
			t.Fatal(err)
		}
		for i := range res {
			kd.check(t, res[i], bruteForce(ds.qs[i*d:(i+1)*d], vecs, ids, d, InnerProduct), 20)
		}
	}
	check(kids, kvecs)
	// Replace: Remove then Add the removed ids with new vectors (the
	// queries themselves, so they must be found first).
	rng := rand.New(rand.NewPCG(5, 5))
	newv := clustered(rng, len(rm), d, 5, 0.5)
	copy(newv, ds.qs)
	if err := ix.Add(rm, newv); err != nil {
		t.Fatal(err)
	}
	check(append(kids, rm...), append(kvecs, newv...))
	res, _ := ix.Search(ds.qs[:d], 1)
	if res[0][0].ID != rm[0] {
		t.Fatalf("re-added %s not found first: %v", rm[0], res[0])
	}
	// Remove everything.
	n, _ = ix.Remove(append(kids, rm...))
	if n != len(ds.ids) || ix.Len() != 0 {
		t.Fatalf("removed %d, Len %d", n, ix.Len())
	}
	res, _ = ix.Search(ds.qs, 5)
	for _, r := range res {
		if len(r) != 0 {
			t.Fatalf("empty index returned %v", r)
		}
	}
}

func testErrors(t *testing.T, kd kind) {
	ds := newDataset(6, 300, 2, 8, InnerProduct)
	ix := kd.build(t, ds.dim, InnerProduct, ds.train)
	if err := ix.Add(ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"add ragged", ix.Add([]string{"x"}, make([]float32, 7)), ErrDimension},
		{"add count", ix.Add([]string{"x", "y"}, make([]float32, 8)), ErrDimension},
		{"add empty id", ix.Add([]string{""}, make([]float32, 8)), ErrInvalid},
		{"add NaN", ix.Add([]string{"x"}, []float32{0, 0, float32(math.NaN()), 0, 0, 0, 0, 0}), ErrInvalid},
		{"add Inf", ix.Add([]string{"x"}, []float32{0, 0, float32(math.Inf(1)), 0, 0, 0, 0, 0}), ErrInvalid},
	}
	_, err := ix.Search(ds.qs, 0)
	cases = append(cases, struct {
		name string
		err  error
		want error
	}{"k=0", err, ErrInvalid})
	_, err = ix.Search(ds.qs[:5], 3)
	cases = append(cases, struct {
		name string
		err  error
		want error
	}{"query ragged", err, ErrDimension})
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, c.err, c.want)
		}
	}
	if ix.Len() != 300 {
		t.Fatalf("Len = %d after failed adds", ix.Len())
	}
}

func testSaveLoad(t *testing.T, kd kind) {
	dir := t.TempDir()
	for _, m := range []Metric{InnerProduct, Cosine} {
		ds := newDataset(7, 1500, 30, 20, m)
		ix := kd.build(t, ds.dim, m, ds.train)
		if err := ix.Add(ds.ids, ds.vecs); err != nil {
			t.Fatal(err)
		}
		ix.Remove(ds.ids[:100:100])
		path := filepath.Join(dir, kd.name+m.String()+".idx")
		if err := ix.Save(path); err != nil {
			t.Fatal(err)
		}
		// No temporary file left behind.
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if filepath.Ext(e.Name()) != ".idx" {
				t.Fatalf("leftover file %s", e.Name())
			}
		}
		back, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if reflect.TypeOf(back) != reflect.TypeOf(ix) || back.Len() != ix.Len() || back.Dim() != ix.Dim() || back.Metric() != m {
			t.Fatalf("loaded %T len %d dim %d metric %v", back, back.Len(), back.Dim(), back.Metric())
		}
		if p, ok := ix.(Prober); ok && p.NProbe() != back.(Prober).NProbe() {
			t.Fatalf("nprobe %d, loaded %d", p.NProbe(), back.(Prober).NProbe())
		}
		a, _ := ix.Search(ds.qs, 10)
		b, _ := back.Search(ds.qs, 10)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("results differ after load")
		}
		// The loaded index stays fully usable: add, remove, save again.
		if err := back.Add(ds.ids[:100], ds.vecs[:100*ds.dim]); err != nil {
			t.Fatal(err)
		}
		if err := back.Add(ds.ids[:1], ds.vecs[:ds.dim]); !errors.Is(err, ErrDuplicateID) {
			t.Fatalf("duplicate after load: %v", err)
		}
		if n, _ := back.Remove(ds.ids[100:200]); n != 100 {
			t.Fatalf("removed %d after load", n)
		}
		if err := back.Save(path); err != nil {
			t.Fatal(err)
		}
		again, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if again.Len() != 1400 {
			t.Fatalf("Len %d after second round trip", again.Len())
		}
		kd.setExact(again)
		var rids []string
		var rv []float32
		for i, id := range ds.ids {
			if i < 100 || i >= 200 {
				rids = append(rids, id)
				rv = append(rv, ds.vecs[i*ds.dim:(i+1)*ds.dim]...)
			}
		}
		res, _ := again.Search(ds.qs[:5*ds.dim], 10)
		for i := range res {
			kd.check(t, res[i], bruteForce(ds.qs[i*ds.dim:(i+1)*ds.dim], rv, rids, ds.dim, m), 10)
		}
	}
	// Load of the wrong kind, and of a missing file.
	path := filepath.Join(dir, kd.name+"ip.idx")
	if kd.name == "flat" {
		if _, err := LoadIVF(path); err == nil {
			t.Fatal("LoadIVF of a flat index succeeded")
		}
	} else if _, err := LoadFlat(path); err == nil {
		t.Fatal("LoadFlat of an IVF index succeeded")
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("missing file: %v", err)
	}
}

// smallSaved returns the bytes of a small saved index of the kind.
func smallSaved(t testing.TB, kd kind) []byte {
	ds := newDataset(8, 40, 1, 8, Cosine)
	ds.train = ds.vecs
	ix := kd.build(t, ds.dim, Cosine, ds.train)
	if err := ix.Add(ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "small.idx")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testCorruption flips every byte of a small saved index (three different
// ways) and truncates it at every length: each must be rejected with
// ErrCorrupt, never loaded and never a panic.
func testCorruption(t *testing.T, kd kind) {
	good := smallSaved(t, kd)
	if _, err := Decode(good); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d-byte file", len(good))
	b := make([]byte, len(good))
	for off := range good {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			copy(b, good)
			b[off] ^= x
			if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d ^ %#x: err = %v", off, x, err)
			}
		}
	}
	for n := 0; n < len(good); n++ {
		if _, err := Decode(good[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
	if _, err := Decode(append(append([]byte(nil), good...), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: err = %v", err)
	}
}

// testConcurrent runs searches from several goroutines while another adds
// and removes (run under -race).
func testConcurrent(t *testing.T, kd kind) {
	ds := newDataset(9, 1200, 16, 16, InnerProduct)
	ix := kd.build(t, ds.dim, InnerProduct, ds.train)
	if err := ix.Add(ds.ids[:1000], ds.vecs[:1000*ds.dim]); err != nil {
		t.Fatal(err)
	}
	want, _ := ix.Search(ds.qs, 5)
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < 20; it++ {
				nq := 1 + (it+g)%ds.nq
				res, err := ix.Search(ds.qs[:nq*ds.dim], 5)
				if err != nil {
					errc <- err
					return
				}
				for _, r := range res {
					if len(r) != 5 {
						errc <- fmt.Errorf("%d results", len(r))
						return
					}
				}
				if p, ok := ix.(Prober); ok && it%5 == 0 {
					p.SetNProbe(p.NProbe())
				}
				_ = ix.Len()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for it := 0; it < 10; it++ {
			ids := ds.ids[1000+20*it : 1000+20*(it+1)]
			vs := ds.vecs[(1000+20*it)*ds.dim : (1000+20*(it+1))*ds.dim]
			if err := ix.Add(ids, vs); err != nil {
				errc <- err
				return
			}
			if _, err := ix.Remove(ids); err != nil {
				errc <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	got, _ := ix.Search(ds.qs, 5)
	if !reflect.DeepEqual(got, want) {
		t.Fatal("results changed after concurrent add/remove of other ids")
	}
}

// testManyQueries: more queries than one internal chunk; every result list
// matches brute force (exact setting) and is in query order.
func testManyQueries(t *testing.T, kd kind) {
	ds := newDataset(10, 400, maxQueryGroup+77, 8, InnerProduct)
	ix := kd.build(t, ds.dim, InnerProduct, ds.train)
	kd.setExact(ix)
	if err := ix.Add(ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	res, err := ix.Search(ds.qs, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != ds.nq {
		t.Fatalf("%d result lists for %d queries", len(res), ds.nq)
	}
	for i := 0; i < ds.nq; i += 37 {
		kd.check(t, res[i], bruteForce(ds.qs[i*ds.dim:(i+1)*ds.dim], ds.vecs, ds.ids, ds.dim, InnerProduct), 5)
	}
	kd.check(t, res[ds.nq-1], bruteForce(ds.qs[(ds.nq-1)*ds.dim:], ds.vecs, ds.ids, ds.dim, InnerProduct), 5)
}
