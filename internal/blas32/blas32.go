// Package blas32 holds the float32 numeric kernels every hot path of the
// project runs on: a row-major Sgemm and the vector kernels (dot, axpy,
// scale, sum) used by the encoder, the trainer, the vector indexes and
// k-means, plus Scores, the batched Q·Xᵀ of top-k search.
//
// Sgemm is a blocked, packed GEMM in the style of BLIS/GotoBLAS: A and B are
// packed into contiguous panels sized for the L1 and L2 caches and an
// assembly micro-kernel does the arithmetic: AVX2 + FMA with 6×16 floats of C
// in registers, or AVX-512 with 12×32 where the CPU has it. The kernel is
// chosen at run time from the CPU's features (golang.org/x/sys/cpu); the
// environment variable BLAS32_KERNEL=avx2|purego, read once at start-up,
// pins a slower one for comparisons. On other CPUs, and when built with the
// purego tag, a pure-Go kernel runs the same blocked algorithm. The naive
// loops that define the semantics are kept beside it (ref.go) and the tests
// compare every kernel against them.
//
// Every function is safe for concurrent use: packing buffers come from a
// sync.Pool and no package state changes after start-up.
package blas32

// Sgemm computes C = alpha*op(A)*op(B) + beta*C in row-major layout, where
// op(X) is X or Xᵀ according to transA/transB. op(A) is m×k, op(B) is k×n
// and C is m×n. lda, ldb and ldc are the row strides of A, B and C as
// stored (A is stored k×m when transA, B is stored n×k when transB). When
// beta is 0, C is not read (NaN in C does not propagate); when alpha or k
// is 0, A and B are not read.
//
// Large products are split across up to GOMAXPROCS goroutines; callers that
// already run several products in parallel should use SgemmSerial.
// Inconsistent arguments (negative sizes, strides smaller than the width,
// slices too short) are programming errors and panic.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(&impl, defaultThreads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial is Sgemm computed entirely in the calling goroutine, for
// callers that parallelise over several products themselves (attention
// heads, batches, index shards).
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(&impl, 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmThreads is Sgemm split across at most threads goroutines (threads
// <= 0 means GOMAXPROCS). Products below a size threshold run serially.
func SgemmThreads(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if threads <= 0 {
		threads = defaultThreads()
	}
	sgemm(&impl, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Implementation names the GEMM kernel chosen for this CPU and build, such
// as "avx512 12x32", "avx2-fma 6x16" or "purego 6x16", for benchmark
// reports.
func Implementation() string { return impl.name }

// Dot returns the inner product of x and y[:len(x)].
func Dot(x, y []float32) float32 {
	y = y[:len(x)]
	if useAVX2 && len(x) >= 8 {
		return dotAVX2(x, y)
	}
	return dotRef(x, y)
}

// Axpy computes y += alpha*x over len(x) elements.
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	if useAVX2 && len(x) >= 8 {
		axpyAVX2(alpha, x, y)
		return
	}
	axpyRef(alpha, x, y)
}

// Scale computes x *= alpha.
func Scale(alpha float32, x []float32) {
	if useAVX2 && len(x) >= 8 {
		scaleAVX2(alpha, x)
		return
	}
	scaleRef(alpha, x)
}

// Sum returns the sum of the elements of x.
func Sum(x []float32) float32 {
	if useAVX2 && len(x) >= 8 {
		return sumAVX2(x)
	}
	return sumRef(x)
}
