package optim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// adamRef is a float64 transcription of torch's AdamW update.
func adamRef(p, m, v, g []float64, t int, lr float64, c AdamWConfig) {
	bc1 := 1 - math.Pow(c.Beta1, float64(t))
	bc2 := 1 - math.Pow(c.Beta2, float64(t))
	for j := range p {
		p[j] *= 1 - lr*c.WeightDecay
		m[j] = c.Beta1*m[j] + (1-c.Beta1)*g[j]
		v[j] = c.Beta2*v[j] + (1-c.Beta2)*g[j]*g[j]
		p[j] -= lr / bc1 * m[j] / (math.Sqrt(v[j])/math.Sqrt(bc2) + c.Eps)
	}
}

func TestAdamWAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const n = 200
	data := make([]float32, n)
	grad := make([]float32, n)
	p64, m64, v64 := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range data {
		data[i] = float32(r.NormFloat64())
		p64[i] = float64(data[i])
	}
	frozen := []float32{1, 2, 3}
	ps := []Param{{Name: "w", Data: data, Grad: grad}, {Name: "pooler", Data: frozen}}
	cfg := DefaultAdamW()
	o := NewAdamW(ps, cfg)
	for step := 1; step <= 5; step++ {
		g64 := make([]float64, n)
		for i := range grad {
			grad[i] = float32(r.NormFloat64() * 0.1)
			g64[i] = float64(grad[i])
		}
		lr := 1e-3 * float64(step)
		o.Step(lr)
		adamRef(p64, m64, v64, g64, step, lr, cfg)
		for i := range data {
			if d := math.Abs(float64(data[i]) - p64[i]); d > 1e-6*math.Max(1, math.Abs(p64[i])) {
				t.Fatalf("step %d, value %d: %g, float64 %g", step, i, data[i], p64[i])
			}
		}
	}
	if frozen[0] != 1 || frozen[1] != 2 || frozen[2] != 3 {
		t.Fatalf("parameter without gradient changed: %v", frozen)
	}
	// The first step moves each value by about lr in the gradient's
	// opposite direction (the Adam ratio m/sqrt(v) is ±1 at t = 1).
	p := []float32{0}
	g := []float32{0.5}
	NewAdamW([]Param{{Name: "x", Data: p, Grad: g}}, cfg).Step(0.01)
	if math.Abs(float64(p[0])+0.01) > 1e-6 {
		t.Fatalf("first step moved 0 to %g, want about -0.01", p[0])
	}
}

func TestAdamWStateRoundTrip(t *testing.T) {
	mk := func() ([]Param, *AdamW) {
		ps := []Param{{Name: "a", Data: []float32{1, -2, 3}, Grad: make([]float32, 3)}, {Name: "b", Data: []float32{0.5}, Grad: make([]float32, 1)}}
		return ps, NewAdamW(ps, DefaultAdamW())
	}
	r := rand.New(rand.NewPCG(1, 2))
	grads := make([][]float32, 6)
	for i := range grads {
		grads[i] = []float32{float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())}
	}
	run := func(ps []Param, o *AdamW, from, to int) {
		for s := from; s < to; s++ {
			copy(ps[0].Grad, grads[s][:3])
			ps[1].Grad[0] = grads[s][3]
			o.Step(0.01)
		}
	}
	ps1, o1 := mk()
	run(ps1, o1, 0, 6)

	ps2, o2 := mk()
	run(ps2, o2, 0, 3)
	blob, err := o2.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ps3, o3 := mk()
	copy(ps3[0].Data, ps2[0].Data)
	copy(ps3[1].Data, ps2[1].Data)
	if err := o3.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	run(ps3, o3, 3, 6)
	for i := range ps1 {
		for j := range ps1[i].Data {
			if math.Float32bits(ps1[i].Data[j]) != math.Float32bits(ps3[i].Data[j]) {
				t.Fatalf("resumed %s[%d] = %g, straight run %g", ps1[i].Name, j, ps3[i].Data[j], ps1[i].Data[j])
			}
		}
	}
	// A state for other parameters, or a damaged one, is refused.
	other := NewAdamW([]Param{{Name: "c", Data: []float32{1, 2, 3}}}, DefaultAdamW())
	if err := other.UnmarshalBinary(blob); err == nil {
		t.Fatal("state for other params accepted")
	}
	if err := o3.UnmarshalBinary(blob[:len(blob)-2]); err == nil {
		t.Fatal("truncated state accepted")
	}
}

func TestSchedules(t *testing.T) {
	lin := Schedule{Kind: Linear, Base: 1e-4, Warmup: 10, Total: 110}
	cases := []struct {
		s    Schedule
		step int
		want float64
	}{
		{lin, 0, 0}, {lin, 5, 0.5e-4}, {lin, 10, 1e-4}, {lin, 60, 0.5e-4}, {lin, 110, 0}, {lin, 200, 0},
		{Schedule{Kind: Linear, Base: 1, Warmup: 0, Total: 4}, 0, 1},
		{Schedule{Kind: Linear, Base: 1, Warmup: 0, Total: 4}, 3, 0.25},
		{Schedule{Kind: Linear, Base: 1, Warmup: 2, Total: 12, MinRatio: 0.5}, 7, 0.75},
		{Schedule{Kind: Constant, Base: 2, Warmup: 4}, 1, 0.5},
		{Schedule{Kind: Constant, Base: 2, Warmup: 4}, 1000, 2},
		{Schedule{Kind: Constant, Base: 2}, 0, 2},
		{Schedule{Kind: Cosine, Base: 1, Warmup: 0, Total: 10}, 5, math.Cos(math.Pi / 4)},
		{Schedule{Kind: Cosine, Base: 1, Warmup: 0, Total: 10}, 10, 0},
	}
	for _, c := range cases {
		if err := c.s.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := c.s.LR(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v at step %d: %g, want %g", c.s, c.step, got, c.want)
		}
	}
	for _, bad := range []Schedule{{Kind: "step"}, {Kind: Linear, Warmup: 5, Total: 2}, {Kind: Linear, Base: -1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestAccumulation: the gradient of a mean squared loss summed over K
// micro-batches and scaled by the Accumulator equals the gradient of the
// whole batch.
func TestAccumulation(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	const batch, k = 12, 3
	xs := make([]float64, batch)
	for i := range xs {
		xs[i] = r.NormFloat64()
	}
	w := float32(0.7)
	// loss = mean_i (w·x_i)^2, dloss/dw = mean_i 2·w·x_i^2
	gradOf := func(x []float64) float32 {
		var s float64
		for _, v := range x {
			s += 2 * float64(w) * v * v
		}
		return float32(s / float64(len(x)))
	}
	full := gradOf(xs)
	ps := []Param{{Name: "w", Data: []float32{w}, Grad: []float32{0}}}
	acc := NewAccumulator(k)
	for m := 0; m < k; m++ {
		ps[0].Grad[0] += gradOf(xs[m*batch/k : (m+1)*batch/k])
		ready := acc.Micro(ps)
		if ready != (m == k-1) {
			t.Fatalf("micro-batch %d: ready = %v", m, ready)
		}
	}
	if acc.Pending() != 0 {
		t.Fatalf("pending %d after a step", acc.Pending())
	}
	if d := math.Abs(float64(ps[0].Grad[0] - full)); d > 1e-6*math.Abs(float64(full)) {
		t.Fatalf("accumulated gradient %g, full batch %g", ps[0].Grad[0], full)
	}
	ZeroGrads(ps)
	if ps[0].Grad[0] != 0 {
		t.Fatal("ZeroGrads left a value")
	}
}

func TestGradHelpers(t *testing.T) {
	a := []Param{{Name: "x", Data: make([]float32, 2), Grad: []float32{3, 0}}, {Name: "y", Data: make([]float32, 1), Grad: []float32{4}}}
	b := []Param{{Name: "x", Data: make([]float32, 2), Grad: []float32{1, 1}}, {Name: "y", Data: make([]float32, 1), Grad: []float32{1}}}
	if n := GradNorm(a); n != 5 {
		t.Fatalf("norm %g, want 5", n)
	}
	if n := ClipGradNorm(a, 1); n != 5 || math.Abs(GradNorm(a)-1) > 1e-6 {
		t.Fatalf("clip returned %g, norm after %g", n, GradNorm(a))
	}
	AddGrads(a, b)
	if a[0].Grad[1] != 1 || math.Abs(float64(a[1].Grad[0])-1.8) > 1e-6 {
		t.Fatalf("AddGrads gave %v %v", a[0].Grad, a[1].Grad)
	}
}
