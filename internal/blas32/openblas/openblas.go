//go:build openblas

// Package openblas wraps OpenBLAS's cblas_sgemm through cgo, only to
// measure blas32 against it side by side (BenchmarkCompare). It is built
// only with the openblas tag and never used by the project itself:
//
//	apt-get install -y libopenblas-dev libopenblas0-openmp
//	LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
//	  go test -tags openblas -run XXX -bench Compare ./internal/blas32/openblas/
package openblas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import "unsafe"

// SetThreads sets the number of threads OpenBLAS uses.
func SetThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

// Config returns OpenBLAS's build description (version, core, threading).
func Config() string { return C.GoString(C.openblas_get_config()) }

// CoreName returns the kernel family OpenBLAS chose for this CPU.
func CoreName() string { return C.GoString(C.openblas_get_corename()) }

// Sgemm is cblas_sgemm in row-major layout, with blas32.Sgemm's arguments.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	C.cblas_sgemm(C.CblasRowMajor, C.enum_CBLAS_TRANSPOSE(ta), C.enum_CBLAS_TRANSPOSE(tb), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}
