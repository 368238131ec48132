//go:build !amd64 || purego

package nn

// useAVX2 is false without the amd64 assembly kernels.
const useAVX2 = false

func geluAVX2(out, in []float32) { panic("nn: geluAVX2 without AVX2") }

func expSubSumAVX2(s []float32, mx float32) float32 { panic("nn: expSubSumAVX2 without AVX2") }

func geluBackwardAVX2(dinp, inp, dout []float32) { panic("nn: geluBackwardAVX2 without AVX2") }
