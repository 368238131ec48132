// Package sq8 holds the kernels of 8-bit scalar-quantised vectors (the SQ8
// scan of package index/vector): the dot product of a float32 query with
// uint8 codes, and the conversion of codes to float32 for the sgemm path.
// Each has a pure-Go reference (DotU8Ref, DecodeRef) and an AVX2 assembly
// version on amd64, chosen at start-up by a CPU check, with the dispatch
// style of internal/blas32: a useAVX2 flag (a constant false without the
// assembly, under the purego build tag or on other architectures, where the
// assembly entry points fall back to the references).
package sq8

// DotU8 returns Σ q[i]·float32(c[i]) over len(q) elements (c is at least as
// long): the SQ8 scan kernel, in assembly where the build has it.
func DotU8(q []float32, c []uint8) float32 {
	if useAVX2 && len(q) >= 8 {
		c = c[:len(q)]
		n := len(q) &^ 7
		s := dotU8AVX2(q[:n], c[:n])
		for i := n; i < len(q); i++ {
			s += q[i] * float32(c[i])
		}
		return s
	}
	return DotU8Ref(q, c)
}

// DotU8Ref is the pure-Go reference of DotU8, unrolled by 8 into four
// partial sums.
func DotU8Ref(q []float32, c []uint8) float32 {
	c = c[:len(q)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(q); i += 8 {
		qq, cc := q[i:i+8:i+8], c[i:i+8:i+8]
		s0 += qq[0]*float32(cc[0]) + qq[4]*float32(cc[4])
		s1 += qq[1]*float32(cc[1]) + qq[5]*float32(cc[5])
		s2 += qq[2]*float32(cc[2]) + qq[6]*float32(cc[6])
		s3 += qq[3]*float32(cc[3]) + qq[7]*float32(cc[7])
	}
	for ; i < len(q); i++ {
		s0 += q[i] * float32(c[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// Decode writes the code values of c as floats (0..255, exactly) into dst
// (at least len(c) long), in assembly where the build has it.
func Decode(dst []float32, c []uint8) {
	if useAVX2 && len(c) >= 8 {
		dst = dst[:len(c)]
		n := len(c) &^ 7
		decodeU8AVX2(dst[:n], c[:n])
		for i := n; i < len(c); i++ {
			dst[i] = float32(c[i])
		}
		return
	}
	DecodeRef(dst, c)
}

// DecodeRef is the pure-Go reference of Decode.
func DecodeRef(dst []float32, c []uint8) {
	dst = dst[:len(c)]
	for i, b := range c {
		dst[i] = float32(b)
	}
}
