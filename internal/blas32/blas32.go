// Package blas32 holds the float32 numeric kernels every hot path of the
// project runs on: a row-major Sgemm and the vector kernels (dot, axpy,
// scale, sum) used by the encoder, the trainer, the vector indexes and
// k-means.
//
// This first version is the pure-Go reference; the blocked, packed and
// assembly-accelerated implementation replaces the bodies behind the same
// signatures.
package blas32

// Sgemm computes C = alpha*op(A)*op(B) + beta*C in row-major layout, where
// op(X) is X or Xᵀ according to transA/transB. op(A) is m×k, op(B) is k×n
// and C is m×n. lda, ldb and ldc are the row strides of A, B and C as
// stored. When beta is 0, C is not read (NaN in C does not propagate).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// Dot returns the inner product of x and y[:len(x)].
func Dot(x, y []float32) float32 {
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// Axpy computes y += alpha*x over len(x) elements.
func Axpy(alpha float32, x, y []float32) {
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale computes x *= alpha.
func Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// Sum returns the sum of the elements of x.
func Sum(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}
