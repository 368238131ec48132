package vector

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
)

func TestIVFNotTrained(t *testing.T) {
	ix, err := NewIVF(8, 4)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Trained() {
		t.Fatal("new index reports trained")
	}
	if err := ix.Add([]string{"a"}, make([]float32, 8)); !errors.Is(err, ErrNotTrained) {
		t.Fatalf("Add before Train: %v", err)
	}
	if _, err := ix.Search(make([]float32, 8), 1); !errors.Is(err, ErrNotTrained) {
		t.Fatalf("Search before Train: %v", err)
	}
	if err := ix.Train(make([]float32, 3*8)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Train with 3 vectors for 4 lists: %v", err)
	}
	// An untrained index saves and loads as untrained.
	path := filepath.Join(t.TempDir(), "u.idx")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadIVF(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Trained() || back.NList() != 4 {
		t.Fatalf("loaded: trained %v nlist %d", back.Trained(), back.NList())
	}
	rng := rand.New(rand.NewPCG(1, 1))
	v := clustered(rng, 100, 8, 4, 0.3)
	if err := back.Train(v); err != nil {
		t.Fatal(err)
	}
	if err := back.Add(makeIDs("d", 100), v); err != nil {
		t.Fatal(err)
	}
	if err := back.Train(v); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Train on a filled index: %v", err)
	}
}

func TestIVFNProbeClamp(t *testing.T) {
	ix, _ := NewIVF(4, 8, WithNProbe(100))
	if ix.NProbe() != 8 {
		t.Fatalf("nprobe %d, want clamp to 8", ix.NProbe())
	}
	ix.SetNProbe(0)
	if ix.NProbe() != 1 {
		t.Fatalf("nprobe %d, want clamp to 1", ix.NProbe())
	}
}

// TestKMeans checks the clustering itself: seeded runs are identical,
// well-separated clusters are recovered (each centre has a centroid within
// a small angle), every list is non-empty on data with more points than
// lists, and lists follow the nearest centroid.
func TestKMeans(t *testing.T) {
	const dim, nc = 16, 8
	rng := rand.New(rand.NewPCG(11, 11))
	cent := clustered(rng, nc, dim, nc, 0) // nc random unit centres
	// Points tightly around the centres.
	n := 800
	x := make([]float32, n*dim)
	for i := 0; i < n; i++ {
		c := i % nc
		for j := 0; j < dim; j++ {
			x[i*dim+j] = cent[c*dim+j] + float32(0.05*rng.NormFloat64())
		}
	}
	normalizeRows(x, dim)
	const k = 2 * nc // a random init may put two seeds in one cluster
	cfg := kmeansConfig{d: dim, k: k, iters: 20, seed: 5, spherical: true, workers: 2}
	a := trainKMeans(x, cfg)
	b := trainKMeans(x, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different centroids")
	}
	cfg.seed = 6
	if reflect.DeepEqual(a, trainKMeans(x, cfg)) {
		t.Fatal("different seeds gave identical centroids")
	}
	// Every centre has a centroid close to it; all centroids are unit norm.
	found := 0
	for c := 0; c < nc; c++ {
		best := -1.0
		for j := 0; j < k; j++ {
			var s float64
			for i := 0; i < dim; i++ {
				s += float64(cent[c*dim+i]) * float64(a[j*dim+i])
			}
			best = math.Max(best, s)
		}
		if best > 0.99 {
			found++
		}
	}
	if found < nc {
		t.Fatalf("only %d of %d centres recovered", found, nc)
	}
	for j := 0; j < k; j++ {
		var s float64
		for i := 0; i < dim; i++ {
			s += float64(a[j*dim+i]) * float64(a[j*dim+i])
		}
		if math.Abs(s-1) > 1e-4 {
			t.Fatalf("centroid %d has squared norm %v", j, s)
		}
	}
}

// TestKMeansEmptyClusters: with many identical points, plain Lloyd would
// leave clusters empty; re-seeding by splitting keeps them all in use.
func TestKMeansEmptyClusters(t *testing.T) {
	const dim, k = 8, 16
	rng := rand.New(rand.NewPCG(12, 12))
	// 90% of the points on 2 spots, the rest spread out.
	n := 1000
	x := make([]float32, n*dim)
	spots := clustered(rng, 2, dim, 2, 0)
	for i := 0; i < n; i++ {
		for j := 0; j < dim; j++ {
			if i%10 != 0 {
				x[i*dim+j] = spots[(i%2)*dim+j] + float32(0.01*rng.NormFloat64())
			} else {
				x[i*dim+j] = float32(rng.NormFloat64())
			}
		}
	}
	normalizeRows(x, dim)
	cents := trainKMeans(x, kmeansConfig{d: dim, k: k, iters: 10, seed: 1, spherical: true, workers: 2})
	labels := make([]int32, n)
	centsT := make([]float32, len(cents))
	transpose(cents, k, dim, centsT)
	assignRange(x, 0, n, dim, centsT, k, labels, nil)
	used := map[int32]bool{}
	for _, l := range labels {
		used[l] = true
	}
	if len(used) < k-2 {
		t.Fatalf("only %d of %d clusters in use", len(used), k)
	}
	for i, v := range cents {
		if math.IsNaN(float64(v)) {
			t.Fatalf("NaN centroid value at %d", i)
		}
	}
}

// TestIVFListsFollowCentroids: every stored vector is in the list of its
// best centroid, and ListSizes adds up.
func TestIVFListsFollowCentroids(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	const dim = 12
	v := clustered(rng, 600, dim, 10, 0.8)
	ix, _ := NewIVF(dim, 10, WithSeed(3))
	if err := ix.Train(v); err != nil {
		t.Fatal(err)
	}
	if err := ix.Add(makeIDs("d", 600), v); err != nil {
		t.Fatal(err)
	}
	c := ix.Centroids()
	total := 0
	for _, s := range ix.ListSizes() {
		total += s
	}
	if total != 600 {
		t.Fatalf("list sizes sum to %d", total)
	}
	for l, list := range ix.lists {
		for r := range list.ids {
			row := list.vecs[r*dim : (r+1)*dim]
			best, bs := -1, math.Inf(-1)
			for j := 0; j < 10; j++ {
				var s float64
				for i := 0; i < dim; i++ {
					s += float64(row[i]) * float64(c[j*dim+i])
				}
				if s > bs {
					best, bs = j, s
				}
			}
			if best != l {
				t.Fatalf("vector %s in list %d, best centroid %d", list.ids[r], l, best)
			}
		}
	}
}

// TestIVFTrainSample: with fewer max points per centroid than given, the
// training runs on a sample and still yields a usable index.
func TestIVFTrainSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	const dim = 8
	v := clustered(rng, 2000, dim, 8, 0.5)
	ix, _ := NewIVF(dim, 8, WithMaxPointsPerCentroid(10), WithTrainIters(5))
	if err := ix.Train(v); err != nil {
		t.Fatal(err)
	}
	if err := ix.Add(makeIDs("d", 2000), v); err != nil {
		t.Fatal(err)
	}
	nonEmpty := 0
	for _, s := range ix.ListSizes() {
		if s > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < 6 {
		t.Fatalf("%d non-empty lists of 8", nonEmpty)
	}
}

func TestTopIndices(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for it := 0; it < 200; it++ {
		n := 1 + rng.IntN(50)
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.IntN(6)) // many ties
		}
		p := 1 + rng.IntN(n)
		got := make([]int32, p)
		topIndices(s, got)
		// Reference: stable sort of indices by score descending.
		idx := make([]int32, n)
		for i := range idx {
			idx[i] = int32(i)
		}
		for i := 1; i < n; i++ {
			for j := i; j > 0 && s[idx[j]] > s[idx[j-1]]; j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
			}
		}
		if !reflect.DeepEqual(got, idx[:p]) {
			t.Fatalf("scores %v p %d: got %v want %v", s, p, got, idx[:p])
		}
	}
}
