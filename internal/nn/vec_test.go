package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGeluKernel compares the vector GELU with the scalar erf32 formula
// at many lengths (tails included) and checks the guard values after the
// output are untouched.
func TestGeluKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 64, 100, 1027} {
		x := randSlice(r, n, 7)
		if n > 3 {
			x[0], x[1], x[2] = 0, -40, 40
		}
		out := make([]float32, n+4)
		for i := n; i < n+4; i++ {
			out[i] = 12345
		}
		geluSlice(out[:n], x)
		for i, v := range x {
			want := 0.5 * v * (1 + erf32(v*invSqrt2))
			if d := math.Abs(float64(out[i] - want)); d > 1e-6*max(1, math.Abs(float64(want))) {
				t.Fatalf("n=%d: gelu(%g) = %g, scalar %g", n, v, out[i], want)
			}
			exact := 0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2))
			if d := math.Abs(float64(out[i]) - exact); d > 2e-6*max(1, math.Abs(exact)) {
				t.Fatalf("n=%d: gelu(%g) = %g, exact %g", n, v, out[i], exact)
			}
		}
		for i := n; i < n+4; i++ {
			if out[i] != 12345 {
				t.Fatalf("n=%d: guard %d overwritten", n, i)
			}
		}
	}
}

// TestGeluBackwardKernel compares the vector GELU derivative with the
// float64 reference loop at many lengths (tails, zeros and values beyond
// erf's clamp and exp's range included) and checks guard values on both
// sides of the accumulated slice.
func TestGeluBackwardKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 64, 100, 1027} {
		x := randSlice(r, n, 6)
		g := randSlice(r, n, 3)
		if n > 4 {
			x[0], x[1], x[2], x[3] = 0, -40, 40, -13.5
		}
		buf := make([]float32, n+8)
		for i := range buf {
			buf[i] = 12345
		}
		d := buf[4 : 4+n]
		init := randSlice(r, n, 1)
		copy(d, init)
		GeluBackward(d, x, g)
		want := append([]float32(nil), init...)
		geluBackwardRef(want, x, g)
		for i := range d {
			if diff := math.Abs(float64(d[i] - want[i])); diff > 2e-6*max(1, math.Abs(float64(g[i]))) {
				t.Fatalf("n=%d: x=%g dout=%g: got %g, reference %g", n, x[i], g[i], d[i], want[i])
			}
		}
		for i := 0; i < 4; i++ {
			if buf[i] != 12345 || buf[4+n+i] != 12345 {
				t.Fatalf("n=%d: guard overwritten", n)
			}
		}
	}
}

// TestExpSubSum compares the vector exp with math.Exp, including values
// far below float32's range (masked scores), which must give exactly 0.
func TestExpSubSum(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, n := range []int{1, 5, 8, 13, 64, 129, 512} {
		s := randSlice(r, n, 30)
		for i := 0; i < n; i += 5 {
			s[i] += MaskMin
		}
		mx := float32(-math.MaxFloat32)
		for _, v := range s {
			mx = max(mx, v)
		}
		orig := append([]float32(nil), s...)
		buf := append(append(make([]float32, 0, n+1), s...), 777)
		s = buf[:n]
		sum := expSubSum(s, mx)
		var want float64
		for i, v := range orig {
			e := math.Exp(float64(v - mx)) // the kernel subtracts in float32
			if float64(v)-float64(mx) < -87.3365 {
				if s[i] != 0 && e > 1e-37 {
					t.Fatalf("n=%d: exp(%g) = %g", n, v-mx, s[i])
				}
			} else if d := math.Abs(float64(s[i])-e) / e; d > 4e-7 {
				t.Fatalf("n=%d: exp(%g) = %g, want %g (rel %g)", n, v-mx, s[i], e, d)
			}
			if orig[i] <= MaskMin/2 && mx > MaskMin/2 && s[i] != 0 {
				t.Fatalf("masked score gave %g", s[i])
			}
			want += float64(s[i])
		}
		if math.Abs(sum-want) > 1e-6*want {
			t.Fatalf("n=%d: sum %g, want %g", n, sum, want)
		}
		if buf[n] != 777 {
			t.Fatal("guard overwritten")
		}
	}
}

// TestMaxOf checks the AVX2 maximum against the Go loop, with the largest
// value placed at every position (each lane and accumulator of the
// kernel, and the Go tail), on lengths around the kernel's 32- and 8-wide
// steps, with masked scores.
func TestMaxOf(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 40, 64, 127, 128, 129} {
		s := randSlice(r, n, 30)
		for i := 0; i < n; i += 3 {
			s[i] += MaskMin
		}
		for at := 0; at < n; at++ {
			c := append([]float32(nil), s...)
			c[at] = 1000
			if got := maxOf(c); got != 1000 {
				t.Fatalf("n=%d, max at %d: got %v", n, at, got)
			}
		}
		if got, want := maxOf(s), maxOfGo(s); got != want {
			t.Fatalf("n=%d: maxOf %v, Go %v", n, got, want)
		}
		all := make([]float32, n)
		for i := range all {
			all[i] = MaskMin
		}
		if got := maxOf(all); n > 0 && got != MaskMin {
			t.Fatalf("n=%d all masked: %v", n, got)
		}
	}
	if got := maxOf(nil); got != -math.MaxFloat32 {
		t.Fatalf("empty: %v", got)
	}
}

// TestResidualForward checks the residual sum bit for bit against the
// plain loop, in place on either operand (the vectorised Axpy path) and
// into a third slice, on lengths around the kernel's 8- and 32-wide steps,
// with a guard after the end.
func TestResidualForward(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	for _, n := range []int{1, 7, 8, 31, 33, 768, 1 << 16} {
		a, b := randSlice(r, n, 3), randSlice(r, n, 1e-3)
		want := make([]float32, n)
		for i := range a {
			want[i] = a[i] + b[i]
		}
		for mode := 0; mode < 3; mode++ {
			buf := make([]float32, n+1)
			buf[n] = 777
			x, y := buf[:n], append([]float32(nil), b...)
			copy(x, a)
			switch mode {
			case 0:
				ResidualForward(x, x, y)
			case 1:
				copy(x, b)
				y = append(y[:0], a...)
				ResidualForward(x, y, x)
			case 2:
				ResidualForward(x, append([]float32(nil), a...), b)
			}
			for i := range want {
				if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d mode %d: [%d] = %v, want %v", n, mode, i, x[i], want[i])
				}
			}
			if buf[n] != 777 {
				t.Fatalf("n=%d mode %d: guard overwritten", n, mode)
			}
		}
	}
}
