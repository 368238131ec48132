//go:build !amd64 || purego

package sq8

// useAVX2 is false: this build has no assembly.
const useAVX2 = false

func dotU8AVX2(q []float32, c []uint8) float32 { return DotU8Ref(q, c) }
func decodeU8AVX2(dst []float32, c []uint8)    { DecodeRef(dst, c) }
