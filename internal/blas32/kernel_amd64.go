//go:build amd64 && !purego

package blas32

import (
	"os"

	"golang.org/x/sys/cpu"
)

// useAVX2 reports whether the CPU has AVX2 and FMA, which the assembly
// kernels need. It is set once at start-up.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useAVX512 reports whether the CPU (and OS) support AVX-512F, for the
// 12×32 GEMM kernel. It is set once at start-up.
var useAVX512 = useAVX2 && cpu.X86.HasAVX512F

// kernelEnv names the environment variable that pins the GEMM kernel
// ("avx512", "avx2" or "purego"), for benchmarks and comparisons; a kernel
// the CPU cannot run is ignored. internal/qgemm's pins "avx2w6", "avx2w7"
// and "avxvnni" (CPUs without AVX-512) take the AVX2 kernel here too. It is
// read once at start-up.
const kernelEnv = "BLAS32_KERNEL"

func init() {
	impl = implGo
	if useAVX2 {
		impl = implAVX2
	}
	if useAVX512 {
		impl = implAVX512
	}
	switch os.Getenv(kernelEnv) {
	case "purego":
		impl = implGo
	case "avx2", "avx2w6", "avx2w7", "avxvnni":
		if useAVX2 {
			impl = implAVX2
		}
	}
}

// implAVX512 is the blocked GEMM with the AVX-512 12×32 micro-kernel.
var implAVX512 = gemmImpl{name: "avx512 12x32", mr: 12, nr: 32, mc: 192, kc: 384, nc: 4096, kernel: kernelAVX512}

// kernelAVX512 checks the bounds of a 12×32 tile and runs the assembly
// kernel.
func kernelAVX512(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	_ = a[12*k-1]
	_ = b[32*k-1]
	_ = c[11*ldc+31]
	sgemmKernel12x32(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

// sgemmKernel12x32 is sgemmKernel6x16 for a 12×32 tile with AVX-512F.
//
//go:noescape
func sgemmKernel12x32(k int, a, b, c *float32, ldc int, alpha, beta float32)

// implAVX2 is the blocked GEMM with the AVX2 + FMA 6×16 micro-kernel.
var implAVX2 = gemmImpl{name: "avx2-fma 6x16", mr: 6, nr: 16, mc: 144, kc: 256, nc: 4080, kernel: kernelAVX2, small: smallAVX2}

// smallAVX2 checks the bounds of an unpacked 6×16 tile and runs the
// assembly kernel.
func smallAVX2(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha float32) {
	_ = a[5*lda+k-1]
	_ = b[(k-1)*ldb+15]
	_ = c[5*ldc+15]
	sgemmSmall6x16(k, &a[0], lda, &b[0], ldb, &c[0], ldc, alpha)
}

// transpose8AVX2 sets dst[j·ldd+i] = src[i·lds+j] for i < 8, j <
// 8·blocks (strides in floats), blocks >= 1.
//
//go:noescape
func transpose8AVX2(dst *float32, ldd int, src *float32, lds int, blocks int)

// sgemmSmall6x16 computes the 6×16 tile C = alpha·A·B from A and B in
// place: row r of A at a + r·lda, row p of B at b + p·ldb, row r of C at
// c + r·ldc (strides in floats), over k >= 1 steps. C is not read.
//
//go:noescape
func sgemmSmall6x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha float32)

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
	if useAVX512 {
		return []*gemmImpl{&implAVX512, &implAVX2, &implGo}
	}
	if useAVX2 {
		return []*gemmImpl{&implAVX2, &implGo}
	}
	return []*gemmImpl{&implGo}
}
