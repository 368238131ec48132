//go:build !amd64 || purego

package blas32

// useAVX2 is false: this build has no assembly.
const useAVX2 = false

func init() { impl = implGo }

func dotAVX2(x, y []float32) float32         { return dotRef(x, y) }
func axpyAVX2(alpha float32, x, y []float32) { axpyRef(alpha, x, y) }
func scaleAVX2(alpha float32, x []float32)   { scaleRef(alpha, x) }
func sumAVX2(x []float32) float32            { return sumRef(x) }

// allImpls lists the GEMM implementations of this build, for the tests.
func allImpls() []*gemmImpl { return []*gemmImpl{&implGo} }

func transpose8AVX2(dst *float32, ldd int, src *float32, lds int, blocks int) {
	panic("blas32: transpose8AVX2 without assembly")
}
