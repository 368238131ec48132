package vector

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestPQScoresAreADC checks a codes-only IVF-PQ index's returned scores
// against their definition, q·(c_l + decoded residual) computed in float64
// from the codebooks, and that the quantiser's reconstruction error is
// well below the residuals' own norm (k-means learned something).
func TestPQScoresAreADC(t *testing.T) {
	for _, m := range []int{4, 8, 16} { // m 8 and 16 run the AVX2 kernel
		const dim, n = 32, 3000
		rng := rand.New(rand.NewPCG(11, uint64(m)))
		v := clustered(rng, n+20, dim, 12, 0.5)
		ix, err := NewIVF(dim, 16, WithPQ(m), WithCodesOnly(), WithNProbe(16), WithSeed(3))
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Train(v[:n*dim]); err != nil {
			t.Fatal(err)
		}
		ids := makeIDs("d", n)
		if err := ix.Add(ids, v[:n*dim]); err != nil {
			t.Fatal(err)
		}
		// Reconstruction error relative to the residual norm.
		var errSum, resSum float64
		rec := make([]float32, dim)
		for l, list := range ix.lists {
			c := ix.cents[l*dim : (l+1)*dim]
			for r, id := range list.ids {
				var i int
				for i = range ids {
					if ids[i] == id {
						break
					}
				}
				ix.pq.decode(rec, list.codes[r*m:(r+1)*m])
				for j := 0; j < dim; j++ {
					res := float64(v[i*dim+j] - c[j])
					resSum += res * res
					e := res - float64(rec[j])
					errSum += e * e
				}
			}
		}
		rel := errSum / resSum
		t.Logf("m=%d: relative reconstruction error %.3f", m, rel)
		if rel > 0.5 {
			t.Fatalf("m=%d: relative reconstruction error %.3f", m, rel)
		}
		res, err := ix.Search(v[n*dim:], 10)
		if err != nil {
			t.Fatal(err)
		}
		for qi, rr := range res {
			q := v[(n+qi)*dim : (n+qi+1)*dim]
			for _, r := range rr {
				loc := ix.pos[r.ID]
				list := ix.lists[loc.list]
				ix.pq.decode(rec, list.codes[int(loc.off)*m:int(loc.off+1)*m])
				var want float64
				for j := 0; j < dim; j++ {
					want += float64(q[j]) * (float64(ix.cents[int(loc.list)*dim+j]) + float64(rec[j]))
				}
				if math.Abs(want-float64(r.Score)) > 1e-4 {
					t.Fatalf("m=%d query %d id %s: score %v, ADC definition %v", m, qi, r.ID, r.Score, want)
				}
			}
		}
	}
}

// TestPQRecall: seeded recall@10 of IVF-PQ against brute force at a small
// scale, codes only and with exact re-ranking, by nprobe.
func TestPQRecall(t *testing.T) {
	const dim, n, nq = 64, 8000, 100
	rng := rand.New(rand.NewPCG(21, 1))
	v := clustered(rng, n+nq, dim, 40, 0.6)
	ids := makeIDs("d", n)
	truth := make([][]Result, nq)
	for i := range truth {
		truth[i] = bruteForce(v[(n+i)*dim:(n+i+1)*dim], v[:n*dim], ids, dim, InnerProduct)[:10]
	}
	for _, codesOnly := range []bool{true, false} {
		opts := []Option{WithPQ(16), WithSeed(5)}
		if codesOnly {
			opts = append(opts, WithCodesOnly())
		}
		ix, err := NewIVF(dim, 64, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Train(v[:n*dim]); err != nil {
			t.Fatal(err)
		}
		if err := ix.Add(ids, v[:n*dim]); err != nil {
			t.Fatal(err)
		}
		ix.SetRerank(100)
		prev := 0.0
		for _, np := range []int{1, 4, 16, 64} {
			ix.SetNProbe(np)
			res, err := ix.Search(v[n*dim:], 10)
			if err != nil {
				t.Fatal(err)
			}
			r := recallAt(res, truth, 10)
			t.Logf("codesOnly=%v nprobe=%d recall@10=%.3f", codesOnly, np, r)
			if r+0.02 < prev {
				t.Fatalf("recall fell from %.3f to %.3f at nprobe %d", prev, r, np)
			}
			prev = r
		}
		floor := 0.97
		if codesOnly {
			floor = 0.5
		}
		if prev < floor {
			t.Fatalf("codesOnly=%v: recall@10 at nprobe = nlist %.3f < %.2f", codesOnly, prev, floor)
		}
	}
}

func TestPQOptions(t *testing.T) {
	if _, err := NewIVF(30, 4, WithPQ(8)); err == nil {
		t.Fatal("PQ m=8 with dim 30 accepted")
	}
	if _, err := NewIVF(32, 4, WithPQ(8), WithSQ8()); err == nil {
		t.Fatal("PQ and SQ8 together accepted")
	}
	if _, err := NewIVF(32, 4, WithCodesOnly()); err == nil {
		t.Fatal("codes only without a quantiser accepted")
	}
}

// TestPQPersist: PQ and codes-only indexes are written as version 3 and
// round-trip (trained or not); the codes-only file holds no floats; a
// header whose version and flags disagree is rejected.
func TestPQPersist(t *testing.T) {
	dir := t.TempDir()
	ds := newDataset(12, 2000, 10, 32, InnerProduct)
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"pq", []Option{WithPQ(8)}},
		{"pq-codes", []Option{WithPQ(8), WithCodesOnly()}},
		{"sq8-codes", []Option{WithSQ8(), WithCodesOnly()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Untrained.
			u, err := NewIVF(ds.dim, 8, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			up := filepath.Join(dir, tc.name+"-u.idx")
			if err := u.Save(up); err != nil {
				t.Fatal(err)
			}
			ub, err := LoadIVF(up)
			if err != nil {
				t.Fatal(err)
			}
			if ub.Trained() || ub.PQ() != u.PQ() || ub.CodesOnly() != u.CodesOnly() || ub.SQ8() != u.SQ8() {
				t.Fatalf("untrained round trip: trained %v pq %d codes %v", ub.Trained(), ub.PQ(), ub.CodesOnly())
			}
			if err := ub.Train(ds.train); err != nil {
				t.Fatal(err)
			}
			// Trained and filled.
			x, _ := NewIVF(ds.dim, 8, tc.opts...)
			if err := x.Train(ds.train); err != nil {
				t.Fatal(err)
			}
			if err := x.Add(ds.ids, ds.vecs); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, tc.name+".idx")
			if err := x.Save(p); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if v := binary.LittleEndian.Uint32(b[8:]); v != 3 {
				t.Fatalf("file version %d, want 3", v)
			}
			floats := len(ds.vecs) * 4
			if x.CodesOnly() && len(b) >= floats {
				t.Fatalf("codes-only file of %d bytes holds the %d bytes of floats?", len(b), floats)
			}
			back, err := LoadIVF(p)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := x.Search(ds.qs, 10)
			c, _ := back.Search(ds.qs, 10)
			if !reflect.DeepEqual(a, c) {
				t.Fatal("results differ after load")
			}
			patch := func(f func(h []byte)) []byte {
				h := append([]byte(nil), b...)
				f(h)
				binary.LittleEndian.PutUint32(h[60:], crc32.Checksum(h[:60], castagnoli))
				return h
			}
			cases := map[string][]byte{
				"version 2":         patch(func(h []byte) { h[8] = 2 }),
				"no PQ/codes flags": patch(func(h []byte) { h[14] &^= flagPQ | flagCodes }),
				"PQ m 7":            patch(func(h []byte) { h[54], h[55] = 7, 0 }),
				"huge count":        patch(func(h []byte) { h[31] = 0x40 }),
			}
			if x.PQ() > 0 {
				cases["PQ m 0"] = patch(func(h []byte) { h[54], h[55] = 0, 0 })
			}
			for name, bad := range cases {
				if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: err = %v", name, err)
				}
			}
		})
	}
}

// BenchmarkPQSearchOne: one query at a time on 20k×128 clustered vectors,
// nlist 128, M 16, codes only (the shape of the FAISS side-by-side).
func BenchmarkPQSearchOne(b *testing.B) {
	const dim, n = 128, 20000
	rng := rand.New(rand.NewPCG(5, 5))
	v := clustered(rng, n+100, dim, 200, 1.0)
	for _, np := range []int{1, 8} {
		ix, err := NewIVF(dim, 128, WithPQ(16), WithCodesOnly(), WithNProbe(np))
		if err != nil {
			b.Fatal(err)
		}
		if err := ix.Train(v[:n*dim]); err != nil {
			b.Fatal(err)
		}
		if err := ix.Add(makeIDs("d", n), v[:n*dim]); err != nil {
			b.Fatal(err)
		}
		b.Run("nprobe"+string(rune('0'+np)), func(b *testing.B) {
			i := 0
			for b.Loop() {
				ix.Search(v[(n+i%100)*dim:(n+i%100+1)*dim], 10)
				i++
			}
		})
	}
}
