package qgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// guard is the sentinel written around every output; a kernel that writes
// out of bounds changes it.
const guard = float32(-7.75e30)

const guardPad = 37

// forHelpers runs f once for each set of helpers (conversion,
// quantisation, stores) this CPU can run.
func forHelpers(t *testing.T, f func(t *testing.T)) {
	for _, mode := range []string{"avx512", "avx2", "go"} {
		restore, ok := setHelpers(mode)
		if ok {
			t.Run(mode, f)
		}
		restore()
	}
}

func randSlice(rng *rand.Rand, n int, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = (rng.Float32()*2 - 1) * scale
	}
	return s
}

// specials are float32 values whose bf16 rounding or quantisation is a
// corner case: ties, subnormals, signed zeros, the largest finite value.
var specials = []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1.00390625, 1.01171875, 1.0078125,
	math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000), math.Float32frombits(0x00000001),
	math.Float32frombits(0x807fffff), math.Float32frombits(0x00800000), math.MaxFloat32, -math.MaxFloat32,
	float32(math.Inf(1)), float32(math.Inf(-1)), 3.4e38, 1e-30, -2.5e-39}

func TestToBF16(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even below
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd below: up
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{math.Float32frombits(0x00000001), 0x0000}, // subnormal: zero
		{math.Float32frombits(0x807fffff), 0x8000}, // negative subnormal
		{math.MaxFloat32, 0x7f80},                  // rounds to +Inf
		{float32(math.Inf(-1)), 0xff80},
	}
	for _, c := range cases {
		if got := ToBF16(c.in); got != c.want {
			t.Errorf("ToBF16(%#x) = %#x, want %#x", math.Float32bits(c.in), got, c.want)
		}
	}
	if h := ToBF16(float32(math.NaN())); !math.IsNaN(float64(FromBF16(h))) {
		t.Errorf("ToBF16(NaN) = %#x, not a NaN", h)
	}
}

func TestConvertBF16MatchesGo(t *testing.T) { forHelpers(t, testConvertBF16MatchesGo) }

func testConvertBF16MatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 15, 16, 17, 32, 100, 257} {
		x := randSlice(rng, 2*n, 3)
		for i := range x {
			if rng.IntN(4) == 0 {
				x[i] = specials[rng.IntN(len(specials))]
			}
			if rng.IntN(8) == 0 {
				x[i] = math.Float32frombits(rng.Uint32())
			}
		}
		got, want := make([]uint32, n+1), make([]uint32, n+1)
		got[n], want[n] = 0xdeadbeef, 0xdeadbeef
		convertBF16(got[:n], x)
		convertBF16Go(want[:n], x)
		for i := range got {
			g, w := got[i], want[i]
			if g != w && !(isNaNPair(g) && isNaNPair(w)) {
				t.Fatalf("n=%d: pair %d = %#x, want %#x (x = %#x %#x)", n, i, g, w, math.Float32bits(x[2*i]), math.Float32bits(x[2*i+1]))
			}
		}
	}
}

func isNaNPair(p uint32) bool {
	return math.IsNaN(float64(FromBF16(uint16(p)))) || math.IsNaN(float64(FromBF16(uint16(p>>16))))
}

func TestQuantizeRow(t *testing.T) { forHelpers(t, testQuantizeRow) }

// testQuantizeRow checks the row quantiser of each width (u8, and the 7
// bits of the w6a7 kernel) against the naive one, the clamping included:
// a range of ±qa/2 makes round(hi/scale) + zp = qa + 1.
func testQuantizeRow(t *testing.T) {
	for _, qa := range []int32{255, 127} {
		testQuantizeRowAt(t, qa)
	}
}

func testQuantizeRowAt(t *testing.T, qa int32) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 5, 16, 31, 32, 64, 768, 1001} {
		for trial := 0; trial < 5; trial++ {
			x := randSlice(rng, n, 4)
			switch trial {
			case 4: // the ties that round past the top of the range
				for i := range x {
					x[i] = float32(qa) / 2 * float32(1-2*(i%2))
				}
			case 1: // all positive: the zero point is 0
				for i := range x {
					x[i] = float32(math.Abs(float64(x[i])))
				}
			case 2: // GELU-like: a small negative tail
				for i := range x {
					x[i] = max(x[i], -0.17)
				}
			case 3:
				clear(x)
			}
			got, want := make([]uint8, n+1), make([]uint8, n+1)
			got[n], want[n] = 0xa5, 0xa5
			var s1 float32
			var z1 int32
			if qa == 255 {
				s1, z1 = QuantizeRow(got[:n], x)
			} else {
				sc, zp := []float32{0}, []int32{0}
				quantizeRows(got, n, sc, zp, x, 1, n, qa)
				s1, z1 = sc[0], zp[0]
			}
			s2, z2 := quantizeRowRef(want[:n], x, qa)
			if s1 != s2 || z1 != z2 {
				t.Fatalf("qa=%d n=%d trial %d: scale/zp %v/%d, want %v/%d", qa, n, trial, s1, z1, s2, z2)
			}
			for i := range got {
				if got[i] != want[i] || (i < n && int32(got[i]) > qa) {
					t.Fatalf("qa=%d n=%d trial %d: q[%d] = %d, want %d", qa, n, trial, i, got[i], want[i])
				}
			}
			if trial == 4 && n > 1 && int32(got[0]) != qa {
				t.Fatalf("qa=%d n=%d: the top of the range quantises to %d", qa, n, got[0])
			}
			// Dequantised values are within half a step, and 0 is exact.
			for i, v := range x {
				d := s1 * float32(int32(got[i])-z1)
				if math.Abs(float64(d-v)) > 0.5001*float64(s1) {
					t.Fatalf("qa=%d n=%d trial %d: x[%d] = %v dequantises to %v (scale %v)", qa, n, trial, i, v, d, s1)
				}
				if v == 0 && d != 0 {
					t.Fatalf("zero dequantises to %v", d)
				}
			}
		}
	}
}

func TestMinMax(t *testing.T) { forHelpers(t, testMinMax) }

func testMinMax(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 16, 17, 48, 100} {
		x := randSlice(rng, n, 10)
		lo, hi := minMax(x)
		l2, h2 := minMaxGo(x)
		if lo != l2 || hi != h2 {
			t.Fatalf("n=%d: minMax = %v, %v, want %v, %v", n, lo, hi, l2, h2)
		}
	}
}

// TestKernels checks every int8 micro-kernel against the exact int32
// sums, with the extreme values its weights may hold, dequantised with the
// same float32 arithmetic (bit for bit), and every bf16 kernel against
// float64 sums of the bf16 values, both with a row stride wider than the
// tile.
func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, g := range allImpls() {
		mr, nr := g.mr, g.nr
		for _, steps := range []int{1, 2, 3, 4, 5, 7, 8, 9, 33, 192, 768} {
			lda := steps*4 + 4*rng.IntN(3)
			a := make([]uint8, (mr-1)*lda+4*steps)
			b := make([]int8, nr*4*steps)
			qmax, amax := int(g.int8Max), int(g.actMax())
			for i := range a {
				a[i] = uint8(rng.IntN(amax + 1))
				if rng.IntN(3) == 0 {
					a[i] = uint8(amax)
				}
			}
			for i := range b {
				b[i] = int8(rng.IntN(2*qmax+1) - qmax)
				switch rng.IntN(6) {
				case 0, 1:
					b[i] = int8(qmax) // adjacent extremes: the saturation case
				case 2:
					b[i] = int8(-qmax)
				}
			}
			// The worst case of every int16 lane: row 0 all amax against
			// column 0 all +qmax and column 1 all −qmax.
			for p := 0; p < 4*steps; p++ {
				a[p] = uint8(amax)
				b[(p/4)*nr*4+p%4] = int8(qmax)
				b[(p/4)*nr*4+4+p%4] = int8(-qmax)
			}
			// The epilogue's inputs: any zero points, scales, column
			// sums and biases.
			if g.int8 == nil || g.bf16 == nil {
				t.Logf("%s: a kernel this CPU lacks is not tested", g.name)
			}
			var to tileOut
			to.bias, to.sc, to.sa = randSlice(rng, nr, 1), randSlice(rng, nr, 0.01), randSlice(rng, mr, 0.1)
			to.cs, to.zp = make([]int32, nr), make([]int32, mr)
			for j := range to.cs {
				to.cs[j] = int32(rng.IntN(20001) - 10000)
			}
			for r := range to.zp {
				to.zp[r] = int32(rng.IntN(amax + 1))
			}
			ldo := nr + rng.IntN(5)
			c := make([]float32, (mr-1)*ldo+nr)
			if g.int8 != nil {
				g.int8(steps, a, lda, b, c, ldo, &to)
			}
			for r := 0; r < mr && g.int8 != nil; r++ {
				for j := 0; j < nr; j++ {
					var s int32
					for p := 0; p < 4*steps; p++ {
						s += int32(a[r*lda+p]) * int32(b[(p/4)*nr*4+j*4+p%4])
					}
					want := float32(s-to.zp[r]*to.cs[j])*(to.sa[r]*to.sc[j]) + to.bias[j]
					if got := c[r*ldo+j]; got != want {
						t.Fatalf("%s int8 steps=%d: c[%d,%d] = %v, want %v (sum %d)", g.name, steps, r, j, got, want, s)
					}
				}
			}

			lda16 := steps + rng.IntN(3)
			a16 := make([]uint32, (mr-1)*lda16+steps)
			b16 := make([]uint32, nr*steps)
			for i := range a16 {
				a16[i] = uint32(ToBF16(rng.Float32()*2-1)) | uint32(ToBF16(rng.Float32()*2-1))<<16
			}
			for i := range b16 {
				b16[i] = uint32(ToBF16(rng.Float32()*2-1)) | uint32(ToBF16(rng.Float32()*2-1))<<16
			}
			cf := make([]float32, (mr-1)*ldo+nr)
			if g.bf16 != nil {
				g.bf16(steps, a16, lda16, b16, cf, ldo, &to)
			}
			for r := 0; r < mr && g.bf16 != nil; r++ {
				for j := 0; j < nr; j++ {
					s, mag := float64(to.bias[j]), math.Abs(float64(to.bias[j]))
					for p := 0; p < steps; p++ {
						x, y := a16[r*lda16+p], b16[p*nr+j]
						for h := 0; h < 2; h++ {
							v := float64(FromBF16(uint16(x>>(16*h)))) * float64(FromBF16(uint16(y>>(16*h))))
							s += v
							mag += math.Abs(v)
						}
					}
					if tol := 2 * float64(2*steps+4) * 0x1p-24 * mag; math.Abs(float64(cf[r*ldo+j])-s) > tol+1e-30 {
						t.Fatalf("%s bf16 steps=%d: c[%d,%d] = %v, want %v (tol %.3g)", g.name, steps, r, j, cf[r*ldo+j], s, tol)
					}
				}
			}
		}
	}
}

// shapes of the products the linear tests run, as m, n, k: every edge of
// the 12×32, 6×16 and 4×16 tiles, odd k and k not a multiple of 4.
var shapes = [][3]int{
	{1, 1, 1}, {1, 32, 2}, {2, 3, 5}, {3, 17, 7}, {5, 31, 9}, {6, 16, 4}, {7, 33, 13}, {11, 47, 30},
	{12, 32, 64}, {13, 65, 66}, {25, 96, 127}, {37, 100, 129}, {97, 129, 200}, {100, 48, 771},
	{193, 64, 16}, {200, 130, 96},
}

func guardedOut(m, n int) ([]float32, []float32) {
	buf := make([]float32, m*n+2*guardPad)
	for i := range buf {
		buf[i] = guard
	}
	return buf, buf[guardPad : guardPad+m*n]
}

func checkGuards(t *testing.T, buf []float32, inner int, what string) {
	t.Helper()
	for i, v := range buf {
		if (i < guardPad || i >= guardPad+inner) && v != guard {
			t.Fatalf("%s: guard at %d overwritten with %v", what, i-guardPad, v)
		}
	}
}

func TestLinearBF16(t *testing.T) { forHelpers(t, testLinearBF16) }

func testLinearBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, g := range allImpls() {
		if g.bf16 == nil {
			continue
		}
		for si, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			in, w := randSlice(rng, m*k, 2), randSlice(rng, n*k, 0.5)
			var bias []float32
			if si%3 != 0 {
				bias = randSlice(rng, n, 1)
			}
			bw := newBF16Weights(g, w, n, k)
			want := make([]float32, m*n)
			linearBF16Ref(want, in, m, n, k, w, bias)
			in0 := slices.Clone(in)
			for _, threads := range []int{1, 3} {
				buf, out := guardedOut(m, n)
				linearBF16(g, threads, out, in, m, bw, bias)
				name := fmt.Sprintf("%s threads=%d m=%d n=%d k=%d", g.name, threads, m, n, k)
				checkGuards(t, buf, m*n, name)
				if !slices.Equal(in, in0) {
					t.Fatalf("%s: input modified", name)
				}
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						var mag float64
						for p := 0; p < k; p++ {
							mag += math.Abs(float64(in[i*k+p]) * float64(w[j*k+p]))
						}
						if bias != nil {
							mag += math.Abs(float64(bias[j]))
						}
						tol := 2*float64(k+4)*0x1p-24*mag*1.02 + 1e-30
						if d := math.Abs(float64(out[i*n+j] - want[i*n+j])); !(d <= tol) {
							t.Fatalf("%s: out[%d,%d] = %v, want %v (tol %.3g)", name, i, j, out[i*n+j], want[i*n+j], tol)
						}
					}
				}
			}
		}
	}
}

func TestLinearInt8(t *testing.T) { forHelpers(t, testLinearInt8) }

func testLinearInt8(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, g := range allImpls() {
		if g.int8 == nil {
			continue
		}
		for si, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			in, w := randSlice(rng, m*k, 2), randSlice(rng, n*k, 0.5)
			if si%2 == 1 { // GELU-like inputs: asymmetric range
				for i := range in {
					in[i] = max(in[i], -0.17)
				}
			}
			var bias []float32
			if si%3 != 0 {
				bias = randSlice(rng, n, 1)
			}
			qw := newInt8Weights(g, w, n, k)
			q, scale := quantizeWeightsRef(w, n, k, int(g.int8Max))
			for j := range scale {
				if scale[j] != qw.Scale[j] {
					t.Fatalf("%s: weight scale %d = %v, want %v", g.name, j, qw.Scale[j], scale[j])
				}
			}
			want := make([]float32, m*n)
			linearInt8Ref(want, in, m, n, k, q, scale, bias, g.actMax())
			in0 := slices.Clone(in)
			for _, threads := range []int{1, 3} {
				buf, out := guardedOut(m, n)
				linearInt8(g, threads, out, in, m, qw, bias)
				name := fmt.Sprintf("%s threads=%d m=%d n=%d k=%d", g.name, threads, m, n, k)
				checkGuards(t, buf, m*n, name)
				if !slices.Equal(in, in0) {
					t.Fatalf("%s: input modified", name)
				}
				for i := range want {
					// The integer sums are exact; the dequantisation is the
					// same float32 arithmetic (a fused multiply-add may
					// round once less).
					if d := math.Abs(float64(out[i] - want[i])); d > 2*0x1p-24*(math.Abs(float64(want[i]))+2) {
						t.Fatalf("%s: out[%d] = %v, want %v", name, i, out[i], want[i])
					}
				}
			}
		}
	}
}

// TestQuantisedAccuracy bounds the error of the reduced precisions against
// the float64 product on data shaped like BERT's (unit-variance inputs,
// small weights): the cosine of each output row with the exact one.
func TestQuantisedAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	m, n, k := 24, 64, 768
	in, w := make([]float32, m*k), make([]float32, n*k)
	for i := range in {
		in[i] = float32(rng.NormFloat64())
	}
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.02)
	}
	exact := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for p := 0; p < k; p++ {
				exact[i*n+j] += float64(in[i*k+p]) * float64(w[j*k+p])
			}
		}
	}
	for _, g := range allImpls() {
		out := make([]float32, m*n)
		for _, c := range []struct {
			name string
			min  float64
			run  func()
		}{
			{"bf16", 0.9999, func() { linearBF16(g, 1, out, in, m, newBF16Weights(g, w, n, k), nil) }},
			{"int8", 0.999, func() { linearInt8(g, 1, out, in, m, newInt8Weights(g, w, n, k), nil) }},
		} {
			if (c.name == "bf16" && g.bf16 == nil) || (c.name == "int8" && g.int8 == nil) {
				continue
			}
			c.run()
			for i := 0; i < m; i++ {
				var dot, na, nb float64
				for j := 0; j < n; j++ {
					x, y := float64(out[i*n+j]), exact[i*n+j]
					dot += x * y
					na += x * x
					nb += y * y
				}
				if cos := dot / math.Sqrt(na*nb); cos < c.min {
					t.Errorf("%s %s: row %d cosine %.6f < %v", g.name, c.name, i, cos, c.min)
				}
			}
		}
	}
}

func TestImplementations(t *testing.T) {
	for _, g := range allImpls() {
		t.Logf("tested: %s", g.name)
	}
	t.Logf("in use: %s", Implementation())
}

func TestInt8WeightBits(t *testing.T) {
	w := NewInt8Weights([]float32{1, -2, 3, 0.5}, 1, 4)
	want := map[int]int{127: 8, 63: 7, 31: 6}[w.QMax]
	if got := Int8WeightBits(); got != want {
		t.Errorf("Int8WeightBits() = %d, weights made with qmax %d", got, w.QMax)
	}
	if amax := w.QMax; amax != 127 && amax != 63 && amax != 31 {
		t.Errorf("QMax %d", amax)
	}
	// Every int16 lane of the AVX2 kernels is exact: a quad's pair sum
	// within VPMADDUBSW's int16, and the quads summed before widening.
	for _, g := range allImpls() {
		if g.int8 == nil {
			continue
		}
		t.Logf("%s: weights ±%d, activations 0..%d", g.name, g.int8Max, g.actMax())
		if g.actMax() < 255 && int(g.actMax())*int(g.int8Max)*8 > 32767 {
			t.Errorf("%s: eight products of %d·%d overflow int16", g.name, g.actMax(), g.int8Max)
		}
	}
	if bits := Int8ActivationBits(); bits != map[int32]int{255: 8, 127: 7}[curInt8.actMax()] {
		t.Errorf("Int8ActivationBits() = %d with activations up to %d", bits, curInt8.actMax())
	}
}

// TestKernelTiles checks each multi-tile int8 kernel against its one-tile
// kernel, tile by tile, bit for bit, with the worst-case weights.
func TestKernelTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, g := range allImpls() {
		if g.int8Tiles == nil {
			continue
		}
		mr, nr, qmax, amax := g.mr, g.nr, int(g.int8Max), int(g.actMax())
		for _, c := range []struct{ tiles, steps int }{{1, 1}, {2, 3}, {5, 192}, {3, 768}} {
			lda := 4*c.steps + 4*rng.IntN(3)
			rows := c.tiles * mr
			a := make([]uint8, (rows-1)*lda+4*c.steps)
			for i := range a {
				a[i] = uint8(max(rng.IntN(amax+1), amax*rng.IntN(2)))
			}
			b := make([]int8, nr*4*c.steps)
			for i := range b {
				b[i] = int8(qmax * (2*rng.IntN(2) - 1))
			}
			var to tileOut
			to.bias, to.sc, to.sa = randSlice(rng, nr, 1), randSlice(rng, nr, 0.01), randSlice(rng, rows, 0.1)
			to.cs, to.zp = make([]int32, nr), make([]int32, rows)
			for j := range to.cs {
				to.cs[j] = int32(rng.IntN(20001) - 10000)
			}
			for r := range to.zp {
				to.zp[r] = int32(rng.IntN(amax + 1))
			}
			ldo := nr + rng.IntN(5)
			buf, got := guardedOut(rows, ldo)
			g.int8Tiles(c.tiles, c.steps, a, lda, b, got[:(rows-1)*ldo+nr], ldo, &to)
			checkGuards(t, buf, rows*ldo, g.name+" tiles")
			want := make([]float32, rows*ldo)
			for i := 0; i < c.tiles; i++ {
				one := to
				one.zp, one.sa = to.zp[i*mr:], to.sa[i*mr:]
				g.int8(c.steps, a[i*mr*lda:], lda, b, want[i*mr*ldo:], ldo, &one)
			}
			for r := 0; r < rows; r++ {
				for j := 0; j < nr; j++ {
					if got[r*ldo+j] != want[r*ldo+j] {
						t.Fatalf("%s tiles=%d steps=%d: out[%d,%d] = %v, want %v", g.name, c.tiles, c.steps, r, j, got[r*ldo+j], want[r*ldo+j])
					}
				}
			}
		}
	}
}
