package blas32

// SgemmSmall computes C = alpha·A·op(B) in the calling goroutine, without
// reading C, for the small products of attention heads, whose operands
// already sit in cache: A is m×k (row stride lda), op(B) is k×n (B stored
// k×n with row stride ldb, or n×k when transB), C is m×n (row stride ldc).
// It is SgemmSerial with beta 0, computed without packing where the
// implementation in use has an unpacked kernel (the AVX2 one: A and B are
// read in place, op(B) = Bᵀ transposed once into a scratch buffer); other
// implementations, and products smaller than one 6×16 tile, run
// SgemmSerial. Inconsistent arguments panic, as in Sgemm.
func SgemmSmall(transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	sgemmSmall(&impl, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc)
}

// smallKernel computes one full 6×16 tile C = alpha·A·B from A and B in
// place (row strides lda, ldb; row stride ldc for C), over k >= 1 steps.
type smallKernel func(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha float32)

func sgemmSmall(g *gemmImpl, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	checkGemm(false, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, 0, c, ldc)
		return
	}
	if g.small == nil || m < 6 || n < 16 {
		gemmSerial(g, false, transB, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc)
		return
	}
	var ws *workspace
	if transB {
		// op(B) = Bᵀ, k×n, into scratch with row stride n.
		ws = wsPool.Get().(*workspace)
		_, bt := ws.alignedSplit(0, k*n)
		transpose(bt, n, b, ldb, n, k)
		b, ldb = bt, n
	}
	// Tiles cover C in steps of 6 rows and 16 columns; the last row and
	// column of tiles are moved back to end at m and n, so that they
	// overlap their neighbours instead of running past the edge: an
	// overlapped element is computed twice, in the same order, and
	// written twice with the same value.
	for i := 0; i < m; i += 6 {
		i0 := min(i, m-6)
		for j := 0; j < n; j += 16 {
			j0 := min(j, n-16)
			g.small(k, a[i0*lda:], lda, b[j0:], ldb, c[i0*ldc+j0:], ldc, alpha)
		}
	}
	if ws != nil {
		wsPool.Put(ws)
	}
}

// transpose sets dst[j*ldd+i] = src[i*lds+j] for i < rows, j < cols: 8×8
// blocks with the AVX2 kernel where the CPU has it, the edges in Go.
func transpose(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	r8, c8 := 0, 0
	if useAVX2 {
		r8, c8 = rows&^7, cols&^7
	}
	if r8 == 0 || c8 == 0 {
		transposeGo(dst, ldd, src, lds, rows, cols)
		return
	}
	_ = src[(r8-1)*lds+c8-1]
	_ = dst[(c8-1)*ldd+r8-1]
	for i := 0; i < r8; i += 8 {
		transpose8AVX2(&dst[i], ldd, &src[i*lds], lds, c8/8)
	}
	if c8 < cols {
		transposeGo(dst[c8*ldd:], ldd, src[c8:], lds, r8, cols-c8)
	}
	if r8 < rows {
		transposeGo(dst[r8:], ldd, src[r8*lds:], lds, rows-r8, cols)
	}
}

// transposeGo is transpose in Go, four rows of src at a time.
func transposeGo(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	i := 0
	for ; i+4 <= rows; i += 4 {
		s0 := src[i*lds : i*lds+cols]
		s1 := src[(i+1)*lds : (i+1)*lds+cols]
		s2 := src[(i+2)*lds : (i+2)*lds+cols]
		s3 := src[(i+3)*lds : (i+3)*lds+cols]
		for j := range s0 {
			d := dst[j*ldd+i : j*ldd+i+4 : j*ldd+i+4]
			d[0], d[1], d[2], d[3] = s0[j], s1[j], s2[j], s3[j]
		}
	}
	for ; i < rows; i++ {
		for j, v := range src[i*lds : i*lds+cols] {
			dst[j*ldd+i] = v
		}
	}
}
