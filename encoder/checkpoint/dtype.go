package checkpoint

import (
	"fmt"
	"math"

	"strings"
)

// DType is the element type of a tensor as stored in a file. In memory every
// Tensor holds float32.
type DType int

const (
	// F32 is IEEE 754 binary32.
	F32 DType = iota
	// F16 is IEEE 754 binary16 (half precision).
	F16
	// BF16 is bfloat16: the upper 16 bits of a binary32.
	BF16
)

// String returns the safetensors name of the dtype ("F32", "F16", "BF16").
func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case BF16:
		return "BF16"
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Size returns the number of bytes of one element, or 0 for an invalid dtype.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

func (d DType) valid() bool { return d == F32 || d == F16 || d == BF16 }

// ParseDType parses a dtype name: the safetensors names ("F32", "F16",
// "BF16"), the short names of the command line ("f32", "f16", "bf16") and
// PyTorch's ("float32", "float16", "bfloat16"), in any case.
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(s) {
	case "f32", "float32":
		return F32, nil
	case "f16", "float16":
		return F16, nil
	case "bf16", "bfloat16":
		return BF16, nil
	}
	return 0, fmt.Errorf("%w: dtype %q (supported: f32, f16, bf16)", ErrUnsupportedDType, s)
}

// F16ToFloat32 converts an IEEE binary16 value (as its bits) to float32. The
// conversion is exact; NaN payloads are kept.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: mant * 2^-24, exactly representable as a normal float32.
	f := float32(mant) * (1.0 / (1 << 24))
	return math.Float32frombits(sign | math.Float32bits(f))
}

// Float32ToF16 converts a float32 to IEEE binary16 bits, rounding to nearest
// with ties to even. Values beyond the half range become ±Inf, tiny values
// become subnormals or ±0, and NaN stays NaN (quiet, payload truncated).
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Result is a half subnormal (or rounds up to the smallest normal):
		// q = round(M * 2^(exp-126)) with M the 24-bit significand.
		s := uint(126 - exp)
		if s >= 25 || exp == 0 {
			// |f| < 2^-25 (float32 subnormals included): rounds to ±0.
			return sign
		}
		m := mant | 0x800000
		q := m >> s
		r := m & (1<<s - 1)
		half := uint32(1) << (s - 1)
		if r > half || (r == half && q&1 == 1) {
			q++
		}
		return sign | uint16(q)
	}
	h := uint32(e)<<10 | mant>>13
	r := mant & 0x1fff
	if r > 0x1000 || (r == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf: both are correct
	}
	return sign | uint16(h)
}

// BF16ToFloat32 converts bfloat16 bits to float32 (exact).
func BF16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// Float32ToBF16 converts a float32 to bfloat16 bits, rounding to nearest with
// ties to even (as torch does); NaN stays a quiet NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
