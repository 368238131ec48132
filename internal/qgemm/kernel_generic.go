package qgemm

// kernelBF16Go is the pure-Go bf16 micro-kernel: a 4×16 tile (see
// kernelBF16). It serves CPUs without AVX2 and the purego build.
func kernelBF16Go(steps int, a []uint32, lda int, b []uint32, c []float32) {
	var acc [4][16]float32
	b = b[:16*steps]
	for r := range 4 {
		ar := a[r*lda : r*lda+steps]
		row := &acc[r]
		for p, x := range ar {
			a0, a1 := FromBF16(uint16(x)), FromBF16(uint16(x>>16))
			bp := (*[16]uint32)(b[p*16 : p*16+16])
			for j, y := range bp {
				row[j] += a0*FromBF16(uint16(y)) + a1*FromBF16(uint16(y>>16))
			}
		}
	}
	for r := range 4 {
		copy(c[r*16:r*16+16], acc[r][:])
	}
}

// kernelInt8Go is the pure-Go int8 micro-kernel: a 4×16 tile (see
// kernelInt8).
func kernelInt8Go(steps int, a []uint8, lda int, b []int8, c []int32) {
	var acc [4][16]int32
	b = b[:64*steps]
	for r := range 4 {
		ar := a[r*lda : r*lda+4*steps]
		row := &acc[r]
		for p := 0; p < steps; p++ {
			a0, a1, a2, a3 := int32(ar[4*p]), int32(ar[4*p+1]), int32(ar[4*p+2]), int32(ar[4*p+3])
			bp := (*[64]int8)(b[p*64 : p*64+64])
			for j := range 16 {
				row[j] += a0*int32(bp[4*j]) + a1*int32(bp[4*j+1]) + a2*int32(bp[4*j+2]) + a3*int32(bp[4*j+3])
			}
		}
	}
	for r := range 4 {
		copy(c[r*16:r*16+16], acc[r][:])
	}
}

// implGo is the pure-Go implementation.
var implGo = impl{name: "purego 4x16", mr: 4, nr: 16, mc: 64, bf16: finishBF16(4, 16, kernelBF16Go), int8: finishInt8(4, 16, kernelInt8Go), int8Max: 127}

// finishBF16 turns a kernel that stores raw mr×nr float32 sums (row
// stride nr) into a kernelBF16.
func finishBF16(mr, nr int, raw func(steps int, a []uint32, lda int, b []uint32, c []float32)) kernelBF16 {
	return func(steps int, a []uint32, lda int, b []uint32, out []float32, ldo int, t *tileOut) {
		c := t.tmpF[:mr*nr]
		raw(steps, a, lda, b, c)
		for r := 0; r < mr; r++ {
			storeF32(out[r*ldo:r*ldo+nr], c[r*nr:r*nr+nr], t.bias[:nr])
		}
	}
}

// finishInt8 turns a kernel that stores raw mr×nr int32 sums (row stride
// nr) into a kernelInt8.
func finishInt8(mr, nr int, raw func(steps int, a []uint8, lda int, b []int8, c []int32)) kernelInt8 {
	return func(steps int, a []uint8, lda int, b []int8, out []float32, ldo int, t *tileOut) {
		c := t.tmpI[:mr*nr]
		raw(steps, a, lda, b, c)
		for r := 0; r < mr; r++ {
			storeDequant(out[r*ldo:r*ldo+nr], c[r*nr:r*nr+nr], t.cs[:nr], t.sc[:nr], t.bias[:nr], t.zp[r], t.sa[r])
		}
	}
}
