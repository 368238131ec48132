//go:build amd64 && !purego

package sq8

import "golang.org/x/sys/cpu"

// useAVX2 reports whether the CPU has AVX2 and FMA, which the assembly
// kernels need. It is set once at start-up.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotU8AVX2 returns Σ q[i]·float32(c[i]) over len(q) elements; len(q) is a
// multiple of 8 and len(c) >= len(q).
//
//go:noescape
func dotU8AVX2(q []float32, c []uint8) float32

// decodeU8AVX2 sets dst[i] = float32(c[i]) for i < len(c); len(c) is a
// multiple of 8 and len(dst) >= len(c).
//
//go:noescape
func decodeU8AVX2(dst []float32, c []uint8)
