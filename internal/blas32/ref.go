package blas32

// This file holds the naive reference loops. They define the semantics every
// fast path must reproduce and are what the tests compare against.

// sgemmRef is the naive triple loop: C = alpha*op(A)*op(B) + beta*C,
// row-major; when beta is 0, C is not read.
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
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

// dotRef returns the inner product of x and y[:len(x)].
func dotRef(x, y []float32) float32 {
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// axpyRef computes y += alpha*x over len(x) elements.
func axpyRef(alpha float32, x, y []float32) {
	for i, v := range x {
		y[i] += alpha * v
	}
}

// scaleRef computes x *= alpha.
func scaleRef(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// sumRef returns the sum of the elements of x.
func sumRef(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}
