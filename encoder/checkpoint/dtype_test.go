package checkpoint

import (
	"math"
	"math/rand"
	"testing"
)

func TestF16KnownValues(t *testing.T) {
	inf := float32(math.Inf(1))
	cases := []struct {
		f    float32
		bits uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},                            // largest finite half
		{65519.996, 0x7bff},                        // just below the tie
		{65520, 0x7c00},                            // tie between 65504 and 65536 → even → Inf
		{1e10, 0x7c00},                             // overflow
		{inf, 0x7c00},                              //
		{-inf, 0xfc00},                             //
		{0x1p-14, 0x0400},                          // smallest normal
		{0x1p-24, 0x0001},                          // smallest subnormal
		{0x1p-25, 0x0000},                          // tie between 0 and 2^-24 → even → 0
		{0x1.8p-25, 0x0001},                        // above the tie
		{0x1.8p-24, 0x0002},                        // 1.5 ulp tie → even (2)
		{0x1.4p-23, 0x0002},                        // 2.5 ulp tie → even (2)
		{0x1.cp-23, 0x0004},                        // 3.5 ulp tie → even (4)
		{0x1.ffcp-15, 0x0400},                      // 1023.5 ulp tie → even: the smallest normal
		{0x1.ff8p-15, 0x03ff},                      // largest subnormal
		{1 + 0x1p-11, 0x3c00},                      // tie → even (down)
		{1 + 3*0x1p-11, 0x3c02},                    // tie → even (up)
		{1 + 0x1p-11 + 0x1p-20, 0x3c01},            // just above the tie
		{0x1p-30, 0x0000},                          // underflow
		{-0x1p-24, 0x8001},                         // negative subnormal
		{math.Float32frombits(1), 0x0000},          // float32 subnormal
		{math.Float32frombits(0x7fc00000), 0x7e00}, // quiet NaN
	}
	for _, c := range cases {
		if got := Float32ToF16(c.f); got != c.bits {
			t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", c.f, got, c.bits)
		}
	}
	// Signalling NaN stays NaN.
	if h := Float32ToF16(math.Float32frombits(0x7f800001)); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("signalling NaN → %#04x, not a NaN", h)
	}
	back := []struct {
		bits uint16
		f    float32
	}{
		{0x3c00, 1}, {0x7bff, 65504}, {0x0001, 0x1p-24}, {0x03ff, 1023 * 0x1p-24},
		{0x0400, 0x1p-14}, {0x8001, -0x1p-24}, {0x7c00, inf}, {0xfc00, -inf}, {0x3555, 0x1.554p-2},
	}
	for _, c := range back {
		if got := F16ToFloat32(c.bits); got != c.f {
			t.Errorf("F16ToFloat32(%#04x) = %g, want %g", c.bits, got, c.f)
		}
	}
	if f := F16ToFloat32(0x7e00); !math.IsNaN(float64(f)) {
		t.Errorf("F16ToFloat32(0x7e00) = %g, want NaN", f)
	}
}

// TestF16Exhaustive checks that every half value survives half→float32→half
// and that rounding picks the nearest half (ties to even) for random float32s.
func TestF16Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToFloat32(uint16(h))
		got := Float32ToF16(f)
		if math.IsNaN(float64(f)) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("NaN %#04x → %#04x", h, got)
			}
			continue
		}
		if got != uint16(h) {
			t.Fatalf("%#04x → %g → %#04x", h, f, got)
		}
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		// Exponents across the whole half range and beyond.
		f := float32(rng.NormFloat64() * math.Exp2(float64(rng.Intn(50)-30)))
		h := Float32ToF16(f)
		g := float64(F16ToFloat32(h))
		// Neighbouring halves (same sign).
		lo, hi := float64(F16ToFloat32(h-1)), float64(F16ToFloat32(h+1))
		if h&0x7fff == 0 {
			lo = -g
		}
		x := float64(f)
		d := math.Abs(g - x)
		if math.IsInf(g, 0) {
			if math.Abs(x) < 65520 {
				t.Fatalf("%g → Inf", x)
			}
			continue
		}
		if d > math.Abs(lo-x) || (h&0x7fff != 0x7bff && d > math.Abs(hi-x)) {
			t.Fatalf("%g → %g, a neighbour (%g or %g) is nearer", x, g, lo, hi)
		}
		if (d == math.Abs(lo-x) || d == math.Abs(hi-x)) && h&1 != 0 && d != 0 {
			t.Fatalf("%g → %g: tie not rounded to even", x, g)
		}
	}
}

func TestBF16(t *testing.T) {
	cases := []struct {
		f    float32
		bits uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie → even (down)
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie → even (up)
		{math.Float32frombits(0x3f808001), 0x3f81}, // above tie
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // max float32 → Inf
		{float32(math.Inf(-1)), 0xff80},
		{math.Float32frombits(0x00000001), 0x0000}, // tiny subnormal → 0
		{math.Float32frombits(0x00018000), 0x0002}, // subnormal tie → even
	}
	for _, c := range cases {
		if got := Float32ToBF16(c.f); got != c.bits {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(c.f), got, c.bits)
		}
	}
	if h := Float32ToBF16(math.Float32frombits(0x7f800001)); BF16ToFloat32(h) == BF16ToFloat32(h) {
		t.Errorf("signalling NaN → %#04x, not a NaN", h)
	}
	for h := 0; h < 1<<16; h++ {
		f := BF16ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := Float32ToBF16(f); got != uint16(h) {
			t.Fatalf("%#04x → %g → %#04x", h, f, got)
		}
	}
}
