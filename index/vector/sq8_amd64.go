//go:build amd64 && !purego

package vector

import "golang.org/x/sys/cpu"

// useAVX2 reports whether the CPU has AVX2 and FMA, which dotU8AVX2 needs.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func init() {
	if useAVX2 {
		dotU8 = dotU8Fast
		decodeCodes = decodeCodesFast
	}
}

// decodeCodesFast is decodeCodes with the AVX2 conversion on the largest
// multiple of 8 bytes.
func decodeCodesFast(dst []float32, c []uint8) {
	dst = dst[:len(c)]
	n := len(c) &^ 7
	if n > 0 {
		decodeU8AVX2(dst[:n], c[:n])
	}
	for i := n; i < len(c); i++ {
		dst[i] = float32(c[i])
	}
}

// decodeU8AVX2 sets dst[i] = float32(c[i]) for i < len(c); len(c) is a
// multiple of 8 and len(dst) >= len(c).
//
//go:noescape
func decodeU8AVX2(dst []float32, c []uint8)

// dotU8Fast is dotU8 with the AVX2 kernel on the largest multiple of 8
// elements and a scalar loop on the rest.
func dotU8Fast(q []float32, c []uint8) float32 {
	c = c[:len(q)]
	n := len(q) &^ 7
	var s float32
	if n > 0 {
		s = dotU8AVX2(q[:n], c[:n])
	}
	for i := n; i < len(q); i++ {
		s += q[i] * float32(c[i])
	}
	return s
}

// dotU8AVX2 returns Σ q[i]·float32(c[i]) over len(q) elements; len(q) is a
// multiple of 8 and len(c) >= len(q).
//
//go:noescape
func dotU8AVX2(q []float32, c []uint8) float32
