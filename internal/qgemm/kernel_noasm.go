//go:build !amd64 || purego

package qgemm

func init() {
	curBF16, curInt8 = &implGo, &implGo
	fallbackBF16 = "no assembly kernels in this build: bf16 products run in pure Go (slow)"
	fallbackInt8 = "no assembly kernels in this build: int8 products run in pure Go (slow)"
}

func convertBF16(dst []uint32, x []float32) { convertBF16Go(dst, x) }
func storeF32(o, t, bias []float32)         { storeF32Go(o, t, bias) }
func minMax(x []float32) (float32, float32) { return minMaxGo(x) }
func quantizeRowWith(dst []uint8, x []float32, inv float32, zp, qa int32) {
	quantizeRowGo(dst, x, inv, zp, qa)
}
func storeDequant(o []float32, t, cs []int32, sc, bias []float32, zp int32, sa float32) {
	storeDequantGo(o, t, cs, sc, bias, zp, sa)
}

// allImpls lists the implementations of this build, for the tests.
func allImpls() []*impl { return []*impl{&implGo} }

// setHelpers selects the helpers the tests exercise: only "go" here.
func setHelpers(mode string) (restore func(), ok bool) { return func() {}, mode == "go" }
