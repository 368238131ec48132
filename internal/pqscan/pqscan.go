// Package pqscan holds the scan kernel of product-quantised vector search
// (asymmetric distance computation, ADC): given a query's lookup table of M
// sub-quantisers × 256 centroids (the query's partial score against every
// centroid of every sub-space) and the M-byte codes of n vectors, it sums
// for each vector the M table entries its code selects.
//
// As internal/blas32, the package keeps the pure-Go reference that defines
// the semantics (ScanRef) beside the fast path, chosen at start-up from the
// CPU's features: a scalar assembly kernel (M a multiple of 4) that scans
// two codes at a time with four partial sums each, eight independent add
// chains fed by plain loads (each vector's codes read four bytes at a time
// and split by shifts, one load a table entry: 1.13× the byte-load version,
// best of 25 runs, 47 against 54 µs for 4,096 codes of M 64), in
// ScanRef's summation order (bit-identical results), 2–2.5× as fast as
// ScanRef and 1.2–1.7× as fast as an AVX2
// kernel gathering eight table entries at a time (VPGATHERDD), which
// current CPUs slow down with the Gather Data Sampling mitigation (noisy,
// shared machine; BenchmarkScanKernels). The gather kernel is kept behind
// PQSCAN_KERNEL=gather for comparisons. PQSCAN_KERNEL=purego, read once at
// start-up, pins the pure-Go kernel; the purego build tag and other CPUs
// have only that one.
package pqscan

// KSub is the number of centroids of each sub-quantiser (8-bit codes).
const KSub = 256

// Scan sets out[i] = Σ_j table[j·256 + codes[i·m + j]] for i < len(out):
// the approximate scores of len(out) vectors whose m-byte codes are stored
// one after the other in codes. table holds m·256 floats, codes at least
// len(out)·m bytes. It panics when the slices are too short (a programmer
// error).
func Scan(table []float32, codes []uint8, m int, out []float32) {
	n := len(out)
	if n == 0 {
		return
	}
	_ = table[m*KSub-1]
	_ = codes[n*m-1]
	scan(table, codes, m, out)
}

// ScanRef is the pure-Go reference of Scan, summing in sub-quantiser order
// into four partial sums (as the AVX2 kernel's lanes do not: results may
// differ in the last bits between kernels).
func ScanRef(table []float32, codes []uint8, m int, out []float32) {
	for i := range out {
		c := codes[i*m : (i+1)*m : (i+1)*m]
		var s0, s1, s2, s3 float32
		j := 0
		for ; j+4 <= m; j += 4 {
			s0 += table[j*KSub+int(c[j])]
			s1 += table[(j+1)*KSub+int(c[j+1])]
			s2 += table[(j+2)*KSub+int(c[j+2])]
			s3 += table[(j+3)*KSub+int(c[j+3])]
		}
		for ; j < m; j++ {
			s0 += table[j*KSub+int(c[j])]
		}
		out[i] = (s0 + s1) + (s2 + s3)
	}
}

// Kernel names the kernel Scan runs for m sub-quantisers: "gather"
// (AVX2, PQSCAN_KERNEL=gather), "scalar" (assembly) or "purego".
func Kernel(m int) string {
	switch {
	case useAVX2 && m%8 == 0 && m > 0:
		return "gather"
	case useScalar && m%4 == 0 && m > 0:
		return "scalar"
	}
	return "purego"
}
