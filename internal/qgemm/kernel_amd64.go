//go:build amd64 && !purego

package qgemm

import (
	"os"

	"golang.org/x/sys/cpu"
)

// The CPU features the kernels need, read once at start-up.
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL
	hasBF16   = hasAVX512 && cpu.X86.HasAVX512BF16
	hasVNNI   = hasAVX512 && cpu.X86.HasAVX512VNNI
	// hasAVXVNNI: the VEX VPDPBUSD of CPUs without AVX-512 (Alder Lake
	// and later client cores, Zen 5).
	hasAVXVNNI = hasAVX2 && cpu.X86.HasAVXVNNI
)

// kernelEnv names the environment variable that pins a slower kernel
// ("avxvnni", "avx2", "avx2w6", "avx2w7" or "purego"), shared with
// internal/blas32. Read once at start-up.
const kernelEnv = "BLAS32_KERNEL"

// useAVX512 selects the AVX-512 helpers (quantisation, stores) and
// useCvtBF16 the AVX512-BF16 conversion of activations; init sets them
// from the CPU unless BLAS32_KERNEL pins a slower kernel.
var useAVX512, useCvtBF16 bool

// useAVX2h selects the AVX2 helpers where the AVX-512 ones are not used.
var useAVX2h bool

func init() {
	// implAVX512 holds only the kernels this CPU has.
	if !hasBF16 {
		implAVX512.bf16 = nil
	}
	if !hasVNNI {
		implAVX512.int8 = nil
	}
	curBF16, curInt8 = &implGo, &implGo
	switch {
	case hasBF16:
		curBF16 = &implAVX512
	case hasAVX2:
		curBF16 = &implAVX2
		fallbackBF16 = "this CPU lacks AVX512-BF16: bf16 products use the AVX2 kernel (bf16 widened to float32, FMA)"
	default:
		fallbackBF16 = "this CPU lacks AVX2: bf16 products run in pure Go (slow)"
	}
	switch {
	case hasVNNI:
		curInt8 = &implAVX512
	case hasAVXVNNI:
		curInt8 = &implAVXVNNI
		fallbackInt8 = "this CPU lacks AVX512-VNNI: int8 products use the AVX-VNNI kernel (6x16)"
	case hasAVX2:
		curInt8 = &implAVX2A7
		fallbackInt8 = "this CPU lacks AVX512-VNNI: int8 products use the AVX2 kernel (VPMADDUBSW, 6-bit weights, 7-bit activations)"
	default:
		fallbackInt8 = "this CPU lacks AVX2: int8 products run in pure Go (slow)"
	}
	// A pinned kernel is asked for: nothing to say.
	switch os.Getenv(kernelEnv) {
	case "purego":
		curBF16, curInt8 = &implGo, &implGo
		fallbackBF16, fallbackInt8 = "", ""
	case "avx2":
		if hasAVX2 {
			curBF16, curInt8 = &implAVX2, &implAVX2A7
			fallbackBF16, fallbackInt8 = "", ""
		}
	case "avx2w6":
		if hasAVX2 {
			curBF16, curInt8 = &implAVX2, &implAVX2I8
			fallbackBF16, fallbackInt8 = "", ""
		}
	case "avx2w7":
		if hasAVX2 {
			curBF16, curInt8 = &implAVX2, &implAVX2
			fallbackBF16, fallbackInt8 = "", ""
		}
	case "avxvnni":
		if hasAVXVNNI {
			curBF16, curInt8 = &implAVX2, &implAVXVNNI
			fallbackBF16, fallbackInt8 = "", ""
		}
	}
	env := os.Getenv(kernelEnv)
	pinned := env == "avx2" || env == "avx2w6" || env == "avx2w7" || env == "avxvnni" || env == "purego"
	useAVX512 = hasAVX512 && !pinned
	useCvtBF16 = useAVX512 && hasBF16
	useAVX2h = hasAVX2 && os.Getenv(kernelEnv) != "purego"
}

// implAVX512 runs the AVX512-BF16 and AVX512-VNNI 12×32 kernels (init
// drops the one the CPU lacks).
var implAVX512 = impl{name: "avx512 12x32", mr: 12, nr: 32, mc: 96, bf16: kernelBF16AVX512, int8: kernelInt8AVX512, int8Max: 127}

// epilogue512 passes a tileOut's slices to the AVX-512 kernels.
type epilogue512 struct {
	bias *float32
	cs   *int32
	sc   *float32
	zp   *int32
	sa   *float32
}

func kernelBF16AVX512(steps int, a []uint32, lda int, b []uint32, out []float32, ldo int, t *tileOut) {
	_ = a[11*lda+steps-1]
	_ = b[32*steps-1]
	_ = out[11*ldo+31]
	_ = t.bias[31]
	ep := epilogue512{bias: &t.bias[0]}
	dpbf16Kernel12x32(steps, &a[0], 4*lda, &b[0], &out[0], 4*ldo, &ep)
}

func kernelInt8AVX512(steps int, a []uint8, lda int, b []int8, out []float32, ldo int, t *tileOut) {
	_ = a[11*lda+4*steps-1]
	_ = b[128*steps-1]
	_ = out[11*ldo+31]
	_, _, _, _, _ = t.bias[31], t.cs[31], t.sc[31], t.zp[11], t.sa[11]
	ep := epilogue512{bias: &t.bias[0], cs: &t.cs[0], sc: &t.sc[0], zp: &t.zp[0], sa: &t.sa[0]}
	dpbusdKernel12x32(steps, &a[0], lda, &b[0], &out[0], 4*ldo, &ep)
}

// dpbf16Kernel12x32 computes the 12×32 tile out = A·B + bias (row stride
// ldo bytes) over steps >= 1 bf16 pairs: rows of A at a + r·lda bytes, the
// packed weight panel b, the bias in ep.
//
//go:noescape
func dpbf16Kernel12x32(steps int, a *uint32, lda int, b *uint32, out *float32, ldo int, ep *epilogue512)

// dpbusdKernel12x32 is dpbf16Kernel12x32 for u8 activations and s8
// weights, quads summed exactly into int32 with VPDPBUSD, then
// dequantised: out = float32(acc − zp·cs)·(sa·sc) + bias.
//
//go:noescape
func dpbusdKernel12x32(steps int, a *uint8, lda int, b *int8, out *float32, ldo int, ep *epilogue512)

//go:noescape
func convertBF16AVX512(dst *uint32, x *float32, n int)

//go:noescape
func minMaxAVX512(x *float32, n int) (lo, hi float32)

//go:noescape
func quantizeAVX512(dst *uint8, x *float32, n int, inv float32, zp, qa int32)

//go:noescape
func addBiasAVX512(o, t, bias *float32, n int)

//go:noescape
func dequantAVX512(o *float32, t, cs *int32, sc, bias *float32, n int, zp int32, sa float32)

// convertBF16 sets dst[p] = bf16(x[2p]) | bf16(x[2p+1])<<16 for p <
// len(dst); len(x) >= 2·len(dst).
func convertBF16(dst []uint32, x []float32) {
	n := 0
	switch {
	case useCvtBF16:
		n = len(dst) &^ 15
		if n > 0 {
			_ = x[2*n-1]
			convertBF16AVX512(&dst[0], &x[0], n)
		}
	case useAVX2h:
		n = len(dst) &^ 7
		if n > 0 {
			_ = x[2*n-1]
			convertBF16AVX2(&dst[0], &x[0], n)
		}
	}
	convertBF16Go(dst[n:], x[2*n:])
}

// minMax returns the smallest and largest value of x (0, 0 when empty).
func minMax(x []float32) (lo, hi float32) {
	var n int
	switch {
	case useAVX512 && len(x) >= 16:
		n = len(x) &^ 15
		lo, hi = minMaxAVX512(&x[0], n)
	case useAVX2h && len(x) >= 8:
		n = len(x) &^ 7
		lo, hi = minMaxAVX2(&x[0], n)
	default:
		return minMaxGo(x)
	}
	if n < len(x) {
		l, h := minMaxGo(x[n:])
		lo, hi = min(lo, l), max(hi, h)
	}
	return lo, hi
}

// quantizeRowWith sets dst[i] = clamp(round(x[i]·inv) + zp, 0, qa), qa
// <= 255.
func quantizeRowWith(dst []uint8, x []float32, inv float32, zp, qa int32) {
	dst = dst[:len(x)]
	n := 0
	switch {
	case useAVX512:
		n = len(x) &^ 15
		if n > 0 {
			quantizeAVX512(&dst[0], &x[0], n, inv, zp, qa)
		}
	case useAVX2h:
		n = len(x) &^ 31
		if n > 0 {
			quantizeAVX2(&dst[0], &x[0], n, inv, zp, qa)
		}
	}
	quantizeRowGo(dst[n:], x[n:], inv, zp, qa)
}

// storeF32 sets o = t + bias (bias may be nil).
func storeF32(o, t, bias []float32) {
	n := 0
	if bias != nil {
		switch {
		case useAVX512:
			n = len(o) &^ 15
		case useAVX2h:
			n = len(o) &^ 7
		}
		if n > 0 {
			_, _ = t[n-1], bias[n-1]
			if useAVX512 {
				addBiasAVX512(&o[0], &t[0], &bias[0], n)
			} else {
				addBiasAVX2(&o[0], &t[0], &bias[0], n)
			}
		}
		bias = bias[n:]
	}
	storeF32Go(o[n:], t[n:], bias)
}

// storeDequant sets o[j] = float32(t[j] − zp·cs[j])·(sa·sc[j]) + bias[j].
func storeDequant(o []float32, t, cs []int32, sc, bias []float32, zp int32, sa float32) {
	n := 0
	switch {
	case useAVX512:
		n = len(o) &^ 15
		if n > 0 {
			_, _, _ = t[n-1], cs[n-1], sc[n-1]
			var bp *float32
			if bias != nil {
				_ = bias[n-1]
				bp = &bias[0]
			}
			dequantAVX512(&o[0], &t[0], &cs[0], &sc[0], bp, n, zp, sa)
		}
	case useAVX2h && bias != nil:
		n = len(o) &^ 7
		if n > 0 {
			_, _, _, _ = t[n-1], cs[n-1], sc[n-1], bias[n-1]
			dequantAVX2(&o[0], &t[0], &cs[0], &sc[0], &bias[0], n, zp, sa)
		}
	}
	if bias != nil {
		bias = bias[n:]
	}
	storeDequantGo(o[n:], t[n:], cs[n:], sc[n:], bias, zp, sa)
}

//go:noescape
func convertBF16AVX2(dst *uint32, x *float32, n int)

//go:noescape
func minMaxAVX2(x *float32, n int) (lo, hi float32)

//go:noescape
func quantizeAVX2(dst *uint8, x *float32, n int, inv float32, zp, qa int32)

//go:noescape
func addBiasAVX2(o, t, bias *float32, n int)

//go:noescape
func dequantAVX2(o *float32, t, cs *int32, sc, bias *float32, n int, zp int32, sa float32)

// allImpls lists the implementations this CPU can run, for the tests (a
// kernel the CPU lacks is nil).
func allImpls() []*impl {
	var l []*impl
	if hasBF16 || hasVNNI {
		l = append(l, &implAVX512)
	}
	if hasAVXVNNI {
		l = append(l, &implAVXVNNI)
	}
	if hasAVX2 {
		l = append(l, &implAVX2, &implAVX2I8, &implAVX2A7)
	}
	return append(l, &implGo)
}

// implAVX2 runs the AVX2 6×16 kernels: bf16 widened to float32 with FMA,
// and VPMADDUBSW with 7-bit weights (ONNX Runtime's reduce_range), one
// quad at a time, the int32 tile dequantised after. Its int8 kernel is
// pinned by BLAS32_KERNEL=avx2w7; implAVX2I8's is faster.
var implAVX2 = impl{name: "avx2 6x16", mr: 6, nr: 16, mc: 96, bf16: finishBF16(6, 16, kernelBF16AVX2), int8: finishInt8(6, 16, kernelInt8AVX2), int8Max: 63}

// implAVX2I8 is the AVX2 int8 kernel pinned by BLAS32_KERNEL=avx2w6:
// VPMADDUBSW with u8 activations and 6-bit weights, two quads summed in
// int16 before widening, the panel held in registers across a 4×16 tile
// and the dequantisation in the epilogue.
var implAVX2I8 = impl{name: "avx2 4x16 w6", mr: 4, nr: 16, mc: 96, int8: kernelInt8AVX2W6, int8Tiles: tilesInt8AVX2W6, int8Max: 31}

// implAVX2A7 is the AVX2 int8 kernel in use: implAVX2I8's with 7-bit
// activations, so that four quads, not two, are summed in int16 before
// widening (5 multiply instructions per 128 products instead of 6).
var implAVX2A7 = impl{name: "avx2 4x16 w6a7", mr: 4, nr: 16, mc: 96, int8: kernelInt8AVX2A7, int8Tiles: tilesInt8AVX2A7, int8Max: 31, int8AMax: 127}

func kernelInt8AVX2A7(steps int, a []uint8, lda int, b []int8, out []float32, ldo int, t *tileOut) {
	tilesInt8AVX2A7(1, steps, a, lda, b, out, ldo, t)
}

func tilesInt8AVX2A7(tiles, steps int, a []uint8, lda int, b []int8, out []float32, ldo int, t *tileOut) {
	maddubsTiles(true, tiles, steps, a, lda, b, out, ldo, t)
}

// maddubsTiles checks the bounds of tiles 4×16 tiles and runs one of the
// 4×16 VPMADDUBSW kernels on them: w6a7's when a7, else w6's. (A switch,
// not a func value, so that the epilogue stays on the stack.)
func maddubsTiles(a7 bool, tiles, steps int, a []uint8, lda int, b []int8, out []float32, ldo int, t *tileOut) {
	rows := 4 * tiles
	_ = a[(rows-1)*lda+4*steps-1]
	_ = b[64*steps-1]
	_ = out[(rows-1)*ldo+15]
	_, _, _, _, _ = t.bias[15], t.cs[15], t.sc[15], t.zp[rows-1], t.sa[rows-1]
	ep := epilogue512{bias: &t.bias[0], cs: &t.cs[0], sc: &t.sc[0], zp: &t.zp[0], sa: &t.sa[0]}
	if a7 {
		maddubsW6A7Tiles4x16(tiles, steps, &a[0], lda, &b[0], &out[0], 4*ldo, &ep)
	} else {
		maddubsW6Tiles4x16(tiles, steps, &a[0], lda, &b[0], &out[0], 4*ldo, &ep)
	}
}

// maddubsW6A7Tiles4x16 is maddubsW6Tiles4x16 for activations of at most
// 127 (7 bits), four quads summed exactly in int16 before widening.
//
//go:noescape
func maddubsW6A7Tiles4x16(tiles, steps int, a *uint8, lda int, b *int8, out *float32, ldo int, ep *epilogue512)

func kernelInt8AVX2W6(steps int, a []uint8, lda int, b []int8, out []float32, ldo int, t *tileOut) {
	tilesInt8AVX2W6(1, steps, a, lda, b, out, ldo, t)
}

func tilesInt8AVX2W6(tiles, steps int, a []uint8, lda int, b []int8, out []float32, ldo int, t *tileOut) {
	maddubsTiles(false, tiles, steps, a, lda, b, out, ldo, t)
}

// maddubsW6Tiles4x16 computes tiles >= 1 full 4×16 tiles stacked down the
// rows, each out = float32(A·B − zp·cs)·(sa·sc) + bias (row stride ldo
// bytes), from u8 activations and s8 weights of magnitude at most 31
// (two quads summed exactly in int16): rows of A at a + r·lda bytes, the
// packed weight panel b, the epilogue's vectors in ep (zero points and
// activation scales one per row of all the tiles). steps >= 1.
//
//go:noescape
func maddubsW6Tiles4x16(tiles, steps int, a *uint8, lda int, b *int8, out *float32, ldo int, ep *epilogue512)

func kernelBF16AVX2(steps int, a []uint32, lda int, b []uint32, c []float32) {
	_ = a[5*lda+steps-1]
	_ = b[16*steps-1]
	_ = c[6*16-1]
	bf16Kernel6x16(steps, &a[0], 4*lda, &b[0], &c[0])
}

func kernelInt8AVX2(steps int, a []uint8, lda int, b []int8, c []int32) {
	_ = a[5*lda+4*steps-1]
	_ = b[64*steps-1]
	_ = c[6*16-1]
	maddubsKernel6x16(steps, &a[0], lda, &b[0], &c[0])
}

// implAVXVNNI runs the AVX-VNNI int8 kernel (8-bit weights); its bf16
// kernel is the AVX2 one.
var implAVXVNNI = impl{name: "avx-vnni 6x16", mr: 6, nr: 16, mc: 96, bf16: finishBF16(6, 16, kernelBF16AVX2), int8: finishInt8(6, 16, kernelInt8AVXVNNI), int8Max: 127}

func kernelInt8AVXVNNI(steps int, a []uint8, lda int, b []int8, c []int32) {
	_ = a[5*lda+4*steps-1]
	_ = b[64*steps-1]
	_ = c[6*16-1]
	vnniKernel6x16(steps, &a[0], lda, &b[0], &c[0])
}

// vnniKernel6x16 is maddubsKernel6x16 with AVX-VNNI's VPDPBUSD, for
// weights of any magnitude up to 127.
//
//go:noescape
func vnniKernel6x16(steps int, a *uint8, lda int, b *int8, c *int32)

// bf16Kernel6x16 computes the 6×16 tile c (row stride 16) of float32 sums
// over steps bf16 pairs, widening them to float32 in registers: rows of A
// at a + r·lda bytes, the packed weight panel b. steps >= 1.
//
//go:noescape
func bf16Kernel6x16(steps int, a *uint32, lda int, b *uint32, c *float32)

// maddubsKernel6x16 is bf16Kernel6x16 for u8 activations and s8 weights
// of magnitude at most 63, quads summed exactly into int32.
//
//go:noescape
func maddubsKernel6x16(steps int, a *uint8, lda int, b *int8, c *int32)

// setHelpers selects the helpers the tests exercise: "avx512", "avx2" or
// "go". It reports whether this CPU can run them and returns a function
// that restores the previous choice.
func setHelpers(mode string) (restore func(), ok bool) {
	a, c, h := useAVX512, useCvtBF16, useAVX2h
	restore = func() { useAVX512, useCvtBF16, useAVX2h = a, c, h }
	switch mode {
	case "avx512":
		if !hasAVX512 {
			return restore, false
		}
		useAVX512, useCvtBF16, useAVX2h = true, hasBF16, hasAVX2
	case "avx2":
		if !hasAVX2 {
			return restore, false
		}
		useAVX512, useCvtBF16, useAVX2h = false, false, true
	default:
		useAVX512, useCvtBF16, useAVX2h = false, false, false
	}
	return restore, true
}
