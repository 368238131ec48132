//go:build amd64 && !purego

package blas32

import "golang.org/x/sys/cpu"

// useAVX2 reports whether the CPU has AVX2 and FMA, which the assembly
// kernels need. It is set once at start-up.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func init() {
	impl = implGo
	if useAVX2 {
		impl = implAVX2
	}
}

// implAVX2 is the blocked GEMM with the AVX2 + FMA 6×16 micro-kernel.
var implAVX2 = gemmImpl{name: "avx2-fma 6x16", mr: 6, nr: 16, mc: 144, kc: 256, nc: 4080, kernel: kernelAVX2}

// kernelAVX2 checks the bounds of a 6×16 tile and runs the assembly kernel.
func kernelAVX2(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	_ = a[6*k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	sgemmKernel6x16(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

// sgemmKernel6x16 computes the 6×16 tile C = alpha*A·B + beta*C from a
// 6-tall packed A panel and a 16-wide packed B panel of depth k >= 1; C has
// row stride ldc (in floats). C is not read when beta is 0.
//
//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)

// dotAVX2 returns x·y; len(y) == len(x).
//
//go:noescape
func dotAVX2(x, y []float32) float32

// axpyAVX2 computes y += alpha*x; len(y) == len(x).
//
//go:noescape
func axpyAVX2(alpha float32, x, y []float32)

// scaleAVX2 computes x *= alpha.
//
//go:noescape
func scaleAVX2(alpha float32, x []float32)

// sumAVX2 returns the sum of x.
//
//go:noescape
func sumAVX2(x []float32) float32

// allImpls lists the GEMM implementations this CPU can run, for the tests.
func allImpls() []*gemmImpl {
	if useAVX2 {
		return []*gemmImpl{&implAVX2, &implGo}
	}
	return []*gemmImpl{&implGo}
}
