package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randSlice returns n values uniform in [-scale, scale).
func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32((2*r.Float64() - 1) * scale)
	}
	return s
}

// weightedSum returns Σ w_i·out_i in float64: the scalar loss whose
// gradient with respect to out is w.
func weightedSum(out, w []float32) float64 {
	var s float64
	for i, v := range out {
		s += float64(v) * float64(w[i])
	}
	return s
}

// checkGrad compares an analytic gradient with central finite differences
// of loss over the entries of x (all of them, or maxProbe chosen at random
// by r). x is perturbed in place and restored. The tolerance is
// atol + rtol·max|analytic|.
func checkGrad(t *testing.T, name string, r *rand.Rand, x, analytic []float32, loss func() float64, eps float32, rtol float64, maxProbe int) {
	t.Helper()
	var scale float64
	for _, g := range analytic {
		scale = max(scale, math.Abs(float64(g)))
	}
	tol := 1e-4 + rtol*scale
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	if maxProbe > 0 && len(idx) > maxProbe {
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		idx = idx[:maxProbe]
	}
	var worst float64
	bad := 0
	for _, i := range idx {
		orig := x[i]
		x[i] = orig + eps
		lp := loss()
		x[i] = orig - eps
		lm := loss()
		x[i] = orig
		num := (lp - lm) / (float64(x[i]+eps) - float64(x[i]-eps))
		d := math.Abs(num - float64(analytic[i]))
		worst = max(worst, d)
		if d > tol {
			bad++
			if bad <= 5 {
				t.Errorf("%s[%d]: analytic %.6g, numeric %.6g (|diff| %.3g > tol %.3g)", name, i, analytic[i], num, d, tol)
			}
		}
	}
	t.Logf("%s: %d probes, max|grad| %.3g, worst |diff| %.3g (tol %.3g)", name, len(idx), scale, worst, tol)
}

func TestEmbeddingBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range []struct{ V, N, C int }{{5, 7, 3}, {11, 20, 8}} {
		table := randSlice(r, sh.V*sh.C, 1)
		ids := make([]int32, sh.N)
		for i := range ids {
			ids[i] = int32(r.IntN(sh.V - 1)) // the last row is never used
		}
		w := randSlice(r, sh.N*sh.C, 1)
		out := make([]float32, sh.N*sh.C)
		loss := func() float64 {
			clear(out)
			EmbeddingForward(out, ids, table, sh.C, true)
			return weightedSum(out, w)
		}
		dt := make([]float32, len(table))
		EmbeddingBackward(dt, w, ids, sh.C)
		checkGrad(t, "dtable", r, table, dt, loss, 1e-2, 5e-4, 0)
		for _, v := range dt[(sh.V-1)*sh.C:] {
			if v != 0 {
				t.Fatalf("unused row got gradient %g", v)
			}
		}
		rows := UsedRows(ids)
		for i := 1; i < len(rows); i++ {
			if rows[i] <= rows[i-1] {
				t.Fatalf("UsedRows not strictly ascending: %v", rows)
			}
		}
		for _, id := range ids {
			found := false
			for _, rr := range rows {
				found = found || rr == id
			}
			if !found {
				t.Fatalf("UsedRows %v lacks %d", rows, id)
			}
		}
	}
}

func TestPositionEmbeddingBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	B, T, C, P := 3, 5, 4, 8
	table := randSlice(r, P*C, 1)
	w := randSlice(r, B*T*C, 1)
	out := make([]float32, B*T*C)
	loss := func() float64 {
		clear(out)
		PositionEmbeddingForward(out, table, B, T, C)
		return weightedSum(out, w)
	}
	dt := make([]float32, len(table))
	PositionEmbeddingBackward(dt, w, B, T, C)
	checkGrad(t, "dpos", r, table, dt, loss, 1e-2, 5e-4, 0)
}

func TestLayerNormBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sh := range []struct{ N, C int }{{3, 8}, {5, 32}, {130, 17}} {
		N, C := sh.N, sh.C
		inp := randSlice(r, N*C, 2)
		weight := randSlice(r, C, 1.5)
		bias := randSlice(r, C, 1)
		w := randSlice(r, N*C, 1)
		out := make([]float32, N*C)
		mean, rstd := make([]float32, N), make([]float32, N)
		loss := func() float64 {
			LayerNormForward(out, nil, nil, inp, weight, bias, N, C, 1e-5)
			return weightedSum(out, w)
		}
		LayerNormForward(out, mean, rstd, inp, weight, bias, N, C, 1e-5)
		// Forward against a float64 evaluation.
		for rr := 0; rr < N; rr++ {
			var m, v float64
			for i := 0; i < C; i++ {
				m += float64(inp[rr*C+i])
			}
			m /= float64(C)
			for i := 0; i < C; i++ {
				d := float64(inp[rr*C+i]) - m
				v += d * d
			}
			v /= float64(C)
			for i := 0; i < C; i++ {
				want := (float64(inp[rr*C+i])-m)/math.Sqrt(v+1e-5)*float64(weight[i]) + float64(bias[i])
				if d := math.Abs(want - float64(out[rr*C+i])); d > 1e-5 {
					t.Fatalf("LayerNorm out[%d,%d] = %g, want %g", rr, i, out[rr*C+i], want)
				}
			}
		}
		di, dw, db := make([]float32, N*C), make([]float32, C), make([]float32, C)
		LayerNormBackward(di, dw, db, w, inp, weight, mean, rstd, N, C)
		checkGrad(t, "dinp", r, inp, di, loss, 1e-2, 5e-4, 200)
		checkGrad(t, "dweight", r, weight, dw, loss, 1e-2, 5e-4, 0)
		checkGrad(t, "dbias", r, bias, db, loss, 1e-2, 5e-4, 0)
	}
}

func TestLinearBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, sh := range []struct{ N, C, OC int }{{1, 3, 2}, {4, 8, 5}, {33, 16, 24}} {
		N, C, OC := sh.N, sh.C, sh.OC
		inp := randSlice(r, N*C, 1)
		weight := randSlice(r, OC*C, 1)
		bias := randSlice(r, OC, 1)
		w := randSlice(r, N*OC, 1)
		out := make([]float32, N*OC)
		loss := func() float64 {
			LinearForward(out, inp, weight, bias, N, C, OC)
			return weightedSum(out, w)
		}
		loss()
		for i := 0; i < N; i++ {
			for o := 0; o < OC; o++ {
				want := float64(bias[o])
				for c := 0; c < C; c++ {
					want += float64(inp[i*C+c]) * float64(weight[o*C+c])
				}
				if math.Abs(want-float64(out[i*OC+o])) > 1e-5 {
					t.Fatalf("Linear out[%d,%d] = %g, want %g", i, o, out[i*OC+o], want)
				}
			}
		}
		di, dw, db := make([]float32, N*C), make([]float32, OC*C), make([]float32, OC)
		// Accumulation: start from a known value and subtract it after.
		for i := range di {
			di[i] = 0.25
		}
		LinearBackward(di, dw, db, w, inp, weight, N, C, OC)
		for i := range di {
			di[i] -= 0.25
		}
		checkGrad(t, "dinp", r, inp, di, loss, 1e-2, 5e-4, 200)
		checkGrad(t, "dweight", r, weight, dw, loss, 1e-2, 5e-4, 200)
		checkGrad(t, "dbias", r, bias, db, loss, 1e-2, 5e-4, 0)
	}
}

func TestGeluBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	n := 500
	inp := randSlice(r, n, 6)
	w := randSlice(r, n, 1)
	out := make([]float32, n)
	GeluForward(out, inp)
	for i, x := range inp {
		want := 0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2))
		if math.Abs(want-float64(out[i])) > 2e-6 {
			t.Fatalf("gelu(%g) = %g, want %g", x, out[i], want)
		}
	}
	d := make([]float32, n)
	GeluBackward(d, inp, w)
	// The loss is a sum of independent terms: probe each alone.
	for i, x := range inp {
		f := func(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }
		h := 1e-6
		num := float64(w[i]) * (f(float64(x)+h) - f(float64(x)-h)) / (2 * h)
		if math.Abs(num-float64(d[i])) > 1e-5 {
			t.Fatalf("gelu'(%g)·w = %g, numeric %g", x, d[i], num)
		}
	}
	loss := func() float64 { GeluForward(out, inp); return weightedSum(out, w) }
	checkGrad(t, "dgelu", r, inp, d, loss, 1e-2, 5e-4, 100)
}

func TestDropout(t *testing.T) {
	n := 100000
	inp := make([]float32, n)
	for i := range inp {
		inp[i] = float32(i%7) + 1
	}
	out := make([]float32, n)
	mask := make([]uint8, n)
	p := float32(0.1)
	DropoutForward(out, mask, inp, p, 42)
	kept := 0
	for i := range inp {
		if mask[i] == 1 {
			kept++
			if math.Abs(float64(out[i]-inp[i]/(1-p))) > 1e-6 {
				t.Fatalf("kept value %g, want %g", out[i], inp[i]/(1-p))
			}
		} else if out[i] != 0 {
			t.Fatalf("dropped value %g", out[i])
		}
		if DropoutMask(42, i, p) != (mask[i] == 1) {
			t.Fatalf("DropoutMask disagrees at %d", i)
		}
	}
	if frac := float64(n-kept) / float64(n); math.Abs(frac-0.1) > 0.005 {
		t.Fatalf("dropped fraction %g, want 0.1", frac)
	}
	out2 := make([]float32, n)
	mask2 := make([]uint8, n)
	DropoutForward(out2, mask2, inp, p, 43)
	same := 0
	for i := range mask {
		if mask[i] == mask2[i] {
			same++
		}
	}
	if same == n {
		t.Fatal("different seeds gave the same mask")
	}
	r := rand.New(rand.NewPCG(11, 12))
	small := randSlice(r, 300, 1)
	w := randSlice(r, 300, 1)
	o := make([]float32, 300)
	m := make([]uint8, 300)
	loss := func() float64 { DropoutForward(o, m, small, 0.3, 7); return weightedSum(o, w) }
	d := make([]float32, 300)
	loss()
	DropoutBackward(d, w, m, 0.3)
	checkGrad(t, "ddropout", r, small, d, loss, 1e-2, 5e-4, 0)
}

func TestResidualBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	a, b, w := randSlice(r, 50, 1), randSlice(r, 50, 1), randSlice(r, 50, 1)
	out := make([]float32, 50)
	loss := func() float64 { ResidualForward(out, a, b); return weightedSum(out, w) }
	da, db := make([]float32, 50), make([]float32, 50)
	ResidualBackward(da, db, w)
	checkGrad(t, "da", r, a, da, loss, 1e-2, 5e-4, 0)
	checkGrad(t, "db", r, b, db, loss, 1e-2, 5e-4, 0)
}

// attentionRef is a float64 evaluation of AttentionForward without dropout.
func attentionRef(qkv []float32, mask []int32, d AttentionDims) []float64 {
	B, T, NH, HS := d.B, d.T, d.NH, d.HS
	C := NH * HS
	out := make([]float64, B*T*C)
	for b := 0; b < B; b++ {
		for h := 0; h < NH; h++ {
			for i := 0; i < T; i++ {
				s := make([]float64, T)
				mx := math.Inf(-1)
				for j := 0; j < T; j++ {
					var dot float64
					for e := 0; e < HS; e++ {
						dot += float64(qkv[(b*T+i)*3*C+h*HS+e]) * float64(qkv[(b*T+j)*3*C+C+h*HS+e])
					}
					s[j] = dot / math.Sqrt(float64(HS))
					if mask[b*T+j] == 0 {
						s[j] += MaskMin
					}
					mx = max(mx, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for j := range s {
					for e := 0; e < HS; e++ {
						out[(b*T+i)*C+h*HS+e] += s[j] / sum * float64(qkv[(b*T+j)*3*C+2*C+h*HS+e])
					}
				}
			}
		}
	}
	return out
}

func TestAttentionBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, tc := range []struct {
		d     AttentionDims
		dropP float32
	}{
		{AttentionDims{B: 1, T: 3, NH: 1, HS: 2}, 0},
		{AttentionDims{B: 2, T: 5, NH: 2, HS: 4}, 0},
		{AttentionDims{B: 3, T: 7, NH: 3, HS: 4}, 0.2},
	} {
		d := tc.d
		C := d.C()
		qkv := randSlice(r, d.B*d.T*3*C, 1.5)
		mask := make([]int32, d.B*d.T)
		for b := 0; b < d.B; b++ {
			n := 1 + r.IntN(d.T) // at least one real token, padding at the end
			if b == 0 {
				n = d.T
			}
			for t := 0; t < n; t++ {
				mask[b*d.T+t] = 1
			}
		}
		out := make([]float32, d.B*d.T*C)
		probs := make([]float32, d.B*d.NH*d.T*d.T)
		dm := make([]uint8, len(probs))
		AttentionForward(out, probs, dm, qkv, mask, d, 0, 0)
		ref := attentionRef(qkv, mask, d)
		for i := range ref {
			if math.Abs(ref[i]-float64(out[i])) > 1e-5 {
				t.Fatalf("%+v: attention out[%d] = %g, want %g", d, i, out[i], ref[i])
			}
		}
		// Masked keys get exactly zero probability.
		for b := 0; b < d.B; b++ {
			for h := 0; h < d.NH; h++ {
				for i := 0; i < d.T; i++ {
					var s float64
					for j := 0; j < d.T; j++ {
						p := probs[((b*d.NH+h)*d.T+i)*d.T+j]
						s += float64(p)
						if mask[b*d.T+j] == 0 && p != 0 {
							t.Fatalf("masked key has probability %g", p)
						}
					}
					if math.Abs(s-1) > 1e-6 {
						t.Fatalf("probabilities sum to %g", s)
					}
				}
			}
		}
		w := randSlice(r, len(out), 1)
		seed := uint64(99)
		loss := func() float64 {
			AttentionForward(out, probs, dm, qkv, mask, d, tc.dropP, seed)
			return weightedSum(out, w)
		}
		loss()
		dqkv := make([]float32, len(qkv))
		AttentionBackward(dqkv, w, qkv, probs, dm, d, tc.dropP)
		checkGrad(t, "dqkv", r, qkv, dqkv, loss, 1e-2, 5e-4, 300)
	}
}

func TestMeanPoolBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	B, T, C := 3, 6, 5
	h := randSlice(r, B*T*C, 1)
	mask := []int32{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0}
	w := randSlice(r, B*C, 1)
	out := make([]float32, B*C)
	MeanPoolForward(out, h, mask, B, T, C)
	counts := []int{6, 3, 2}
	for b := 0; b < B; b++ {
		for i := 0; i < C; i++ {
			var s float64
			for tt := 0; tt < counts[b]; tt++ {
				s += float64(h[(b*T+tt)*C+i])
			}
			if math.Abs(s/float64(counts[b])-float64(out[b*C+i])) > 1e-6 {
				t.Fatalf("mean pool [%d,%d] = %g, want %g", b, i, out[b*C+i], s/float64(counts[b]))
			}
		}
	}
	loss := func() float64 { MeanPoolForward(out, h, mask, B, T, C); return weightedSum(out, w) }
	dh := make([]float32, len(h))
	MeanPoolBackward(dh, w, mask, B, T, C)
	checkGrad(t, "dmean", r, h, dh, loss, 1e-2, 5e-4, 0)

	lossCLS := func() float64 { CLSPoolForward(out, h, B, T, C); return weightedSum(out, w) }
	dc := make([]float32, len(h))
	CLSPoolBackward(dc, w, B, T, C)
	checkGrad(t, "dcls", r, h, dc, lossCLS, 1e-2, 5e-4, 0)
}

func TestL2NormalizeBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, sh := range []struct{ N, C int }{{1, 3}, {4, 16}} {
		x := randSlice(r, sh.N*sh.C, 1)
		w := randSlice(r, sh.N*sh.C, 1)
		out := make([]float32, len(x))
		norms := make([]float32, sh.N)
		L2NormalizeForward(out, norms, x, sh.N, sh.C)
		for rr := 0; rr < sh.N; rr++ {
			var s float64
			for _, v := range out[rr*sh.C : rr*sh.C+sh.C] {
				s += float64(v) * float64(v)
			}
			if math.Abs(s-1) > 1e-6 {
				t.Fatalf("row %d has squared norm %g", rr, s)
			}
		}
		loss := func() float64 { L2NormalizeForward(out, nil, x, sh.N, sh.C); return weightedSum(out, w) }
		loss()
		dx := make([]float32, len(x))
		L2NormalizeBackward(dx, w, out, norms, sh.N, sh.C)
		checkGrad(t, "dl2", r, x, dx, loss, 1e-3, 1e-3, 0)
	}
}
