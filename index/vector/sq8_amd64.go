//go:build amd64 && !purego

package vector

import "golang.org/x/sys/cpu"

// useAVX2 reports whether the CPU has AVX2 and FMA, which dotU8AVX2 needs.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func init() {
	if useAVX2 {
		dotU8 = dotU8Fast
	}
}

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
