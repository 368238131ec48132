package blas32

// kernelGo6x16 is the pure-Go micro-kernel: a 6×16 tile of C from a 6-tall
// A panel and a 16-wide B panel (see microKernel). It serves CPUs without
// AVX2 + FMA and the purego build.
func kernelGo6x16(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	var acc [6][16]float32
	a = a[:6*k]
	b = b[:16*k]
	for p := 0; p < k; p++ {
		bp := (*[16]float32)(b[p*16 : p*16+16])
		ap := (*[6]float32)(a[p*6 : p*6+6])
		for r := range 6 {
			ar := ap[r]
			row := &acc[r]
			for j := range 16 {
				row[j] += ar * bp[j]
			}
		}
	}
	for r := range 6 {
		dst := (*[16]float32)(c[r*ldc : r*ldc+16])
		if beta == 0 {
			for j := range 16 {
				dst[j] = alpha * acc[r][j]
			}
		} else {
			for j := range 16 {
				dst[j] = alpha*acc[r][j] + beta*dst[j]
			}
		}
	}
}

// implGo is the pure-Go blocked GEMM.
var implGo = gemmImpl{name: "purego 6x16", mr: 6, nr: 16, mc: 96, kc: 256, nc: 2048, kernel: kernelGo6x16}
