package vector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	sq8k "github.com/contriever-go/contriever/internal/sq8"
)

// TestSQ8Quantizer: codes reconstruct each value within half a step inside
// the trained range, clamp outside it, and the query-side identity
// q·decode(code) = Σ q∘min + sq8k.DotU8(q∘scale, code) holds.
func TestSQ8Quantizer(t *testing.T) {
	const dim, n = 24, 500
	rng := rand.New(rand.NewPCG(2, 8))
	v := clustered(rng, n, dim, 5, 1)
	for i := 0; i < n; i++ {
		v[i*dim+3] = 0.25 // a constant dimension: scale 0
	}
	s := trainSQ8(v, dim)
	if s.scale[3] != 0 || s.min[3] != 0.25 {
		t.Fatalf("constant dimension: min %v scale %v", s.min[3], s.scale[3])
	}
	codes := make([]uint8, len(v))
	s.encode(codes, v)
	dec := make([]float32, len(v))
	s.decode(dec, codes)
	var sawLo, sawHi bool
	for i, x := range v {
		j := i % dim
		if err := math.Abs(float64(dec[i] - x)); err > float64(s.scale[j])/2*1.0001+1e-7 {
			t.Fatalf("value %d (dim %d): %v decodes to %v, step %v", i, j, x, dec[i], s.scale[j])
		}
		sawLo = sawLo || (codes[i] == 0 && j != 3)
		sawHi = sawHi || codes[i] == 255
	}
	if !sawLo || !sawHi {
		t.Fatal("the training extremes should give codes 0 and 255")
	}
	// Outside the range: clamped.
	out := make([]float32, dim)
	for j := range out {
		out[j] = s.min[j] - 1
	}
	out[0] = s.min[0] + 255*s.scale[0] + 1
	oc := make([]uint8, dim)
	s.encode(oc, out)
	if oc[0] != 255 || oc[1] != 0 {
		t.Fatalf("clamping: codes %v", oc[:2])
	}
	// The scoring identity.
	q := clustered(rng, 1, dim, 1, 1)
	qs := make([]float32, dim)
	s.scaleQueries(qs, q)
	var c0 float64
	for j := range q {
		c0 += float64(q[j]) * float64(s.min[j])
	}
	for r := 0; r < n; r += 17 {
		var exact float64
		for j := 0; j < dim; j++ {
			exact += float64(q[j]) * float64(dec[r*dim+j])
		}
		if got := c0 + float64(sq8k.DotU8(qs, codes[r*dim:(r+1)*dim])); math.Abs(got-exact) > 1e-5 {
			t.Fatalf("row %d: approximate score %v, q·decode %v", r, got, exact)
		}
	}
}

// sq8RecallSet is clustered data (1000 clusters of about 20 points) on
// which an IVF of 64 lists at nprobe 8 finds about 3/4 of the true top 10.
func sq8RecallSet() (ids []string, xb, xq []float32, dim int) {
	const n, nq = 20000, 200
	dim = 96
	rng := rand.New(rand.NewPCG(3, 8))
	v := clustered(rng, n+nq, dim, 1000, 1)
	return makeIDs("d", n), v[:n*dim], v[n*dim:], dim
}

// TestSQ8Recall compares, on clustered data, recall@10 against brute
// force of the float IVF and the SQ8 IVF at the same nprobe (same seed,
// hence the same lists): with the default re-rank depth (4·k) SQ8 must be
// within 0.01 of the float IVF; re-ranking only k candidates (the
// approximate top k, re-ordered) may lose some recall but no more than
// 0.05; re-ranking every probed vector gives the
// float IVF's results exactly. Re-ranked scores are exact.
func TestSQ8Recall(t *testing.T) {
	ids, xb, xq, dim := sq8RecallSet()
	nq := len(xq) / dim
	flat, _ := NewFlat(dim)
	if err := flat.Add(ids, xb); err != nil {
		t.Fatal(err)
	}
	truth, _ := flat.Search(xq, 10)
	build := func(opts ...Option) *IVF {
		ix, err := NewIVF(dim, 64, append([]Option{WithSeed(3)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Train(xb); err != nil {
			t.Fatal(err)
		}
		if err := ix.Add(ids, xb); err != nil {
			t.Fatal(err)
		}
		return ix
	}
	fl, sq := build(), build(WithSQ8())
	if !reflect.DeepEqual(fl.ListSizes(), sq.ListSizes()) {
		t.Fatal("float and SQ8 indexes have different lists")
	}
	for _, np := range []int{8, 16} {
		fl.SetNProbe(np)
		sq.SetNProbe(np)
		fres, _ := fl.Search(xq, 10)
		rf := recallAt(fres, truth, 10)
		sq.SetRerank(0)
		sres, _ := sq.Search(xq, 10)
		rs := recallAt(sres, truth, 10)
		sq.SetRerank(10)
		kres, _ := sq.Search(xq, 10)
		rk := recallAt(kres, truth, 10)
		sq.SetRerank(1 << 30)
		ares, _ := sq.Search(xq, 10)
		ra := recallAt(ares, truth, 10)
		t.Logf("nprobe %d: recall@10 float %.4f, sq8 rerank 4k %.4f, rerank k %.4f, rerank all %.4f", np, rf, rs, rk, ra)
		if rs < rf-0.01 {
			t.Errorf("nprobe %d: SQ8 recall %.4f, float IVF %.4f", np, rs, rf)
		}
		if rk > rs+1e-9 || rk < rf-0.05 {
			t.Errorf("nprobe %d: SQ8 with rerank k: recall %.4f (4k: %.4f)", np, rk, rs)
		}
		for i := 0; i < nq; i++ {
			if !sameIDs(ares[i], fres[i]) {
				t.Fatalf("nprobe %d query %d: SQ8 re-ranking all %v, float IVF %v", np, i, ares[i], fres[i])
			}
			for _, r := range sres[i] {
				var want float64
				p := sq.pos[r.ID]
				row := sq.lists[p.list].vecs[int(p.off)*dim : int(p.off+1)*dim]
				for j, x := range row {
					want += float64(x) * float64(xq[i*dim+j])
				}
				if math.Abs(want-float64(r.Score)) > scoreTol {
					t.Fatalf("query %d id %s: score %v, exact %v", i, r.ID, r.Score, want)
				}
			}
		}
	}
}

// TestSQ8Persist: an SQ8 index is saved as version 2 with its re-rank
// depth and loads with identical results; an index without SQ8 is still
// written as version 1; an untrained SQ8 index round-trips and can then be
// trained; a header whose version and SQ8 flag disagree is rejected even
// with a valid checksum.
func TestSQ8Persist(t *testing.T) {
	dir := t.TempDir()
	ds := newDataset(11, 1000, 20, 16, Cosine)
	ix, err := NewIVF(ds.dim, 8, WithMetric(Cosine), WithSQ8(), WithRerank(25), WithNProbe(3))
	if err != nil {
		t.Fatal(err)
	}
	if !ix.SQ8() || ix.Rerank() != 25 {
		t.Fatalf("SQ8 %v rerank %d", ix.SQ8(), ix.Rerank())
	}
	if err := ix.Train(ds.train); err != nil {
		t.Fatal(err)
	}
	if err := ix.Add(ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sq8.idx")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if v := binary.LittleEndian.Uint32(b[8:]); v != 2 {
		t.Fatalf("SQ8 file version %d", v)
	}
	back, err := LoadIVF(path)
	if err != nil {
		t.Fatal(err)
	}
	if !back.SQ8() || back.Rerank() != 25 || back.NProbe() != 3 {
		t.Fatalf("loaded: SQ8 %v rerank %d nprobe %d", back.SQ8(), back.Rerank(), back.NProbe())
	}
	for l := range ix.lists {
		if !reflect.DeepEqual(ix.lists[l].codes, back.lists[l].codes) && len(ix.lists[l].codes) > 0 {
			t.Fatalf("list %d: codes differ after load", l)
		}
	}
	a, _ := ix.Search(ds.qs, 7)
	c, _ := back.Search(ds.qs, 7)
	if !reflect.DeepEqual(a, c) {
		t.Fatal("results differ after load")
	}

	// Without SQ8: version 1.
	plain, _ := NewIVF(ds.dim, 8)
	plain.Train(ds.train)
	ppath := filepath.Join(dir, "plain.idx")
	if err := plain.Save(ppath); err != nil {
		t.Fatal(err)
	}
	pb, _ := os.ReadFile(ppath)
	if v := binary.LittleEndian.Uint32(pb[8:]); v != 1 {
		t.Fatalf("plain IVF file version %d", v)
	}

	// Version and flag must agree (re-checksummed headers).
	patch := func(src []byte, f func(h []byte)) []byte {
		h := append([]byte(nil), src...)
		f(h)
		binary.LittleEndian.PutUint32(h[60:], crc32.Checksum(h[:60], castagnoli))
		return h
	}
	for name, bad := range map[string][]byte{
		"v1 with SQ8 flag":    patch(pb, func(h []byte) { h[14] |= flagSQ8 }),
		"v2 without SQ8 flag": patch(b, func(h []byte) { h[14] &^= flagSQ8 }),
		"v1 SQ8 file":         patch(b, func(h []byte) { h[8] = 1 }),
		"v2 plain file":       patch(pb, func(h []byte) { h[8] = 2 }),
		"v1 with rerank":      patch(pb, func(h []byte) { h[56] = 1 }),
		"version 3":           patch(b, func(h []byte) { h[8] = 3 }),
	} {
		if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v", name, err)
		}
	}

	// Untrained SQ8 index.
	u, _ := NewIVF(ds.dim, 8, WithSQ8())
	upath := filepath.Join(dir, "u.idx")
	if err := u.Save(upath); err != nil {
		t.Fatal(err)
	}
	ub, err := LoadIVF(upath)
	if err != nil {
		t.Fatal(err)
	}
	if ub.Trained() || !ub.SQ8() {
		t.Fatalf("untrained SQ8: trained %v SQ8 %v", ub.Trained(), ub.SQ8())
	}
	if err := ub.Train(ds.train); err != nil {
		t.Fatal(err)
	}
	if err := ub.Add(ds.ids, ds.vecs); err != nil {
		t.Fatal(err)
	}
	ub.SetNProbe(8)
	ub.SetRerank(1 << 30)
	res, _ := ub.Search(ds.qs[:3*ds.dim], 5)
	for i := range res {
		checkExact(t, res[i], bruteForce(ds.qs[i*ds.dim:(i+1)*ds.dim], ds.vecs, ds.ids, ds.dim, InnerProduct), 5)
	}
	if _, err := NewIVF(4, 2, WithRerank(-1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative rerank: %v", err)
	}
}

// ExampleWithSQ8 shows an IVF index scanning 8-bit codes and re-ranking
// the best 50 candidates of each query exactly.
func ExampleWithSQ8() {
	rng := rand.New(rand.NewPCG(1, 1))
	const dim = 32
	vecs := clustered(rng, 2000, dim, 20, 1)
	ix, _ := NewIVF(dim, 16, WithSQ8(), WithRerank(50), WithNProbe(4))
	ix.Train(vecs)
	ix.Add(makeIDs("doc", 2000), vecs)
	res, _ := ix.Search(vecs[:dim], 3)
	fmt.Println(res[0][0].ID, len(res[0]))
	// Output: doc0 3
}

// TestSQ8CandidateTies: with more exact duplicates than candidates, the
// candidates are chosen by id among the tied, so the results are the
// smallest ids (ties by score then id, as every index), whatever the
// insertion order, the number of workers or the batch.
func TestSQ8CandidateTies(t *testing.T) {
	const dim = 16
	rng := rand.New(rand.NewPCG(12, 12))
	base := clustered(rng, 300, dim, 4, 1)
	dup := base[:dim]
	var ids []string
	var vecs []float32
	for _, p := range rng.Perm(90) {
		ids = append(ids, fmt.Sprintf("tie%02d", p))
		vecs = append(vecs, dup...)
	}
	for i := 1; i < 300; i++ {
		ids = append(ids, fmt.Sprintf("r%03d", i))
		vecs = append(vecs, base[i*dim:(i+1)*dim]...)
	}
	var first [][]Result
	for _, workers := range []int{1, 2, 3} {
		ix, _ := NewIVF(dim, 4, WithSQ8(), WithNProbe(4), WithWorkers(workers))
		if err := ix.Train(base); err != nil {
			t.Fatal(err)
		}
		if err := ix.Add(ids, vecs); err != nil {
			t.Fatal(err)
		}
		q := append(append(append([]float32(nil), dup...), dup...), dup...)
		for _, nq := range []int{1, 3} {
			res, err := ix.Search(q[:nq*dim], 12) // 48 candidates among 90 ties
			if err != nil {
				t.Fatal(err)
			}
			for _, rr := range res {
				for i, r := range rr {
					if want := fmt.Sprintf("tie%02d", 89-i); r.ID != want {
						t.Fatalf("workers %d nq %d rank %d: %s, want %s", workers, nq, i, r.ID, want)
					}
				}
			}
		}
		// Other queries give the same results whatever the workers.
		res, _ := ix.Search(base[dim:40*dim], 10)
		if first == nil {
			first = res
		} else if !reflect.DeepEqual(res, first) {
			t.Fatalf("workers %d: results differ from one worker's", workers)
		}
	}
}
