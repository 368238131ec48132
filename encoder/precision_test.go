package encoder

import (
	"context"
	"math"
	"testing"

	"github.com/contriever-go/contriever/internal/fixture"
	"github.com/contriever-go/contriever/internal/qgemm"
)

func TestParsePrecision(t *testing.T) {
	for _, p := range Precisions {
		got, err := ParsePrecision(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePrecision(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParsePrecision("fp8"); err == nil {
		t.Error("ParsePrecision(fp8): no error")
	}
}

// TestPrecisionTinyBert runs the tiny-bert fixture's reference batch (with
// padding) at bf16 and int8 and bounds the error of every layer's output
// and of the mean-pooled vectors against float32. The tolerances are two
// to five times the largest errors measured when they were set: bf16
// 1−cos ≤ 2.1e-5 and relative error ≤ 0.0042; int8 with 8-bit weights
// (AVX-512, pure Go) 1−cos ≤ 2.2e-4 and relative error ≤ 0.0124, with the
// 7-bit weights (BLAS32_KERNEL=avx2w7) 1−cos ≤ 4.4e-4 and relative error
// ≤ 0.0235, with 6-bit weights and u8 activations (BLAS32_KERNEL=avx2w6)
// 1−cos ≤ 2.4e-3 and relative error ≤ 0.0541, and with the AVX2 kernel's
// 6-bit weights and 7-bit activations (BLAS32_KERNEL=avx2) 1−cos ≤ 2.6e-3
// and relative error ≤ 0.0544: on this fixture the weights' rounding
// dominates, so both 6-bit kernels take the same bounds. Hidden size 32 makes this
// fixture the worst case: on the bundled 256-wide model the pooled
// vectors' mean 1−cos is 6e-6 with 6-bit weights (bench encoder --check).
func TestPrecisionTinyBert(t *testing.T) {
	dir, _, b := loadTinyRef(t)
	int8Cos, int8Rel := 0.999, 0.05
	if qgemm.Int8WeightBits() == 6 {
		int8Cos, int8Rel = 0.995, 0.11
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p         Precision
		layerCos  float64 // smallest per-token cosine of any layer
		pooledCos float64 // smallest cosine of a pooled vector
		layerRel  float64 // largest ‖Δ‖/‖ref‖ of any layer
	}{
		{BF16, 0.9999, 0.9999, 0.015},
		{Int8, int8Cos, int8Cos, int8Rel},
	} {
		diffs, err := ComparePrecision(m, c.p, b, PoolMean)
		if err != nil {
			t.Fatal(err)
		}
		if len(diffs) != len(m.Layers)+1 {
			t.Fatalf("%v: %d diffs, want %d", c.p, len(diffs), len(m.Layers)+1)
		}
		for _, d := range diffs {
			t.Logf("%v %-8s max_abs %.3g rel %.3g mean_cos %.6f min_cos %.6f", c.p, d.Name, d.MaxAbs, d.RelL2, d.MeanCos, d.MinCos)
			if d.MaxAbs == 0 {
				t.Errorf("%v %s: identical to f32: the reduced precision did not run", c.p, d.Name)
			}
			minCos := c.layerCos
			if d.Name == "pooled" {
				minCos = c.pooledCos
			}
			if d.MinCos < minCos || d.RelL2 > c.layerRel {
				t.Errorf("%v %s: min cosine %.6f (want >= %v), relative error %.3g (want <= %v)", c.p, d.Name, d.MinCos, minCos, d.RelL2, c.layerRel)
			}
		}
	}
}

func TestPrecisionNoTraining(t *testing.T) {
	cfg, _ := NamedConfig("tiny")
	m, err := NewRandom(cfg, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	a := m.NewActivations(2, 8, true, true)
	b := RandomBatch(cfg, 2, 8, 1)
	if _, err := m.Forward(a, b, ForwardOptions{Train: true, Precision: BF16}); err == nil {
		t.Error("training forward at bf16: no error")
	}
}

// TestEncoderPrecision checks the plumbing of Options.Precision: an
// Encoder at bf16 or int8 returns vectors close to, but not equal to,
// the float32 ones, in input order.
func TestEncoderPrecision(t *testing.T) {
	dir := fixture.Shared(t, "fixtures", "tiny-bert")
	texts := []string{"dense retrieval with contrastive learning", "the cat sat on the mat", "a", "unsupervised training of a bert encoder on its own corpus beats bm25"}
	var ref []float32
	for _, p := range Precisions {
		e, err := Open(dir, Options{Precision: p, BatchSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Encode(context.Background(), texts)
		if err != nil {
			t.Fatal(err)
		}
		if p == F32 {
			ref = got
			continue
		}
		H := e.Dim()
		d := diffRows(got, ref, len(texts), H)
		t.Logf("%v: max_abs %.3g min_cos %.6f", p, d.MaxAbs, d.MinCos)
		want := 0.999
		if p == Int8 && qgemm.Int8WeightBits() == 6 {
			want = 0.995 // 1−cos 2.7e-3 measured with 6-bit weights (2.6e-3 with 7-bit activations too)
		}
		if d.MaxAbs == 0 || d.MinCos < want {
			t.Errorf("%v: max_abs %.3g, min cosine %.6f against f32 (want > 0 and >= %v)", p, d.MaxAbs, d.MinCos, want)
		}
	}
}

func TestCompareVectors(t *testing.T) {
	ref := []float32{1, 0, 0, 2, 0, 0, 0, 0}
	x := []float32{1, 0, 0, -2, 0, 0, 3, 0}
	d := CompareVectors(x, ref, 4, 2)
	// Rows: equal (cos 1), opposite (−1), both zero (1), one zero (0).
	if d.MeanCos != 0.25 || d.MinCos != -1 || d.MaxAbs != 4 {
		t.Errorf("%+v", d)
	}
	if want := math.Sqrt((16.0 + 9) / 5); math.Abs(d.RelL2-want) > 1e-12 {
		t.Errorf("rel L2 %v, want %v", d.RelL2, want)
	}
}
