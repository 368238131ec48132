//go:build ignore

// gen_amd64.go writes kernel512_amd64.s, the AVX-512 12×32 micro-kernels,
// and kernelvnni_amd64.s, the AVX-VNNI 6×16 int8 kernel.
// Go 1.26's assembler knows VPDPBUSD (EVEX only) but not the AVX512-BF16
// instructions (VDPBF16PS, VCVTNE2PS2BF16), so this program encodes those
// and the VEX VPDPBUSD as BYTE
// sequences (register operands only), each with the instruction in Intel
// syntax as a comment. Run: go run gen_amd64.go.
package main

import (
	"fmt"
	"os"
	"strings"
)

// evex encodes an EVEX.512.0F38.W0 instruction with three zmm register
// operands: op zmm(d), zmm(v), zmm(r) in Intel order; pp is 1 (66), 2
// (F3) or 3 (F2).
func evex(pp, opcode, d, v, r int) string {
	p1 := (^d>>3&1)<<7 | (^r>>4&1)<<6 | (^r>>3&1)<<5 | (^d>>4&1)<<4 | 0b10
	p2 := (^v&15)<<3 | 1<<2 | pp
	p3 := 0b10<<5 | (^v>>4&1)<<3
	modrm := 0xC0 | (d&7)<<3 | r&7
	bs := []int{0x62, p1, p2, p3, opcode, modrm}
	var s []string
	for _, b := range bs {
		s = append(s, fmt.Sprintf("BYTE $0x%02x", b))
	}
	return strings.Join(s, "; ")
}

// vdpbf16ps returns VDPBF16PS zmm(d), zmm(v), zmm(r): d += pairwise
// bf16 products of v and r (EVEX.512.F3.0F38.W0 52 /r).
func vdpbf16ps(d, v, r int) string {
	return fmt.Sprintf("%s // VDPBF16PS zmm%d, zmm%d, zmm%d", evex(2, 0x52, d, v, r), d, v, r)
}

// vcvtne2ps2bf16 returns VCVTNE2PS2BF16 zmm(d), zmm(v), zmm(r): the 32
// bf16 of d are r's 16 floats (low half) then v's (EVEX.512.F2.0F38.W0 72 /r).
func vcvtne2ps2bf16(d, v, r int) string {
	return fmt.Sprintf("%s // VCVTNE2PS2BF16 zmm%d, zmm%d, zmm%d", evex(3, 0x72, d, v, r), d, v, r)
}

// vpdpbusdVEX returns the AVX-VNNI (VEX-encoded) VPDPBUSD ymm(d),
// ymm(v), ymm(r): d += sums of quads of u8(v)·s8(r) (VEX.256.66.0F38.W0
// 50 /r). Go's assembler knows only the EVEX (AVX512-VNNI) form, which
// CPUs with AVX-VNNI but no AVX-512 cannot run.
func vpdpbusdVEX(d, v, r int) string {
	b1 := (^d>>3&1)<<7 | 1<<6 | (^r>>3&1)<<5 | 0b00010
	b2 := (^v&15)<<3 | 1<<2 | 0b01
	modrm := 0xC0 | (d&7)<<3 | r&7
	return fmt.Sprintf("BYTE $0xc4; BYTE $0x%02x; BYTE $0x%02x; BYTE $0x50; BYTE $0x%02x // VPDPBUSD ymm%d, ymm%d, ymm%d", b1, b2, modrm, d, v, r)
}

// vnniKernel writes the AVX-VNNI 6×16 kernel: acc Y4..Y15 (row r in
// Y(4+2r), Y(5+2r)), the weights of a quad step in Y1, Y2, the broadcast
// u8 quad of a row in Y0 or Y3; the raw int32 tile stored contiguous.
func vnniKernel(w *strings.Builder) {
	rows := []string{"%d(AX)", "%d(AX)(SI*1)", "%d(AX)(SI*2)", "%d(R8)", "%d(R8)(SI*1)", "%d(R8)(SI*2)"}
	step := func(oa, ob int) {
		fmt.Fprintf(w, "\tVMOVDQU %d(BX), Y1\n\tVMOVDQU %d(BX), Y2\n", ob, ob+32)
		for r := 0; r < 6; r++ {
			bc := []int{0, 3}[r%2]
			fmt.Fprintf(w, "\tVPBROADCASTD "+rows[r]+", Y%d\n", oa, bc)
			fmt.Fprintf(w, "\t%s\n\t%s\n", vpdpbusdVEX(4+2*r, bc, 1), vpdpbusdVEX(5+2*r, bc, 2))
		}
	}
	w.WriteString(`
// func vnniKernel6x16(steps int, a *uint8, lda int, b *int8, c *int32)
TEXT ·vnniKernel6x16(SB), NOSPLIT, $0-40
	MOVQ steps+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), SI
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DI
	LEAQ (AX)(SI*2), R8
	ADDQ SI, R8
`)
	for y := 4; y < 16; y++ {
		fmt.Fprintf(w, "\tVPXOR Y%d, Y%d, Y%d\n", y, y, y)
	}
	w.WriteString("\tMOVQ CX, DX\n\tSHRQ $2, DX\n\tANDQ $3, CX\n\tTESTQ DX, DX\n\tJZ rem\n\nloop4:\n")
	for u := 0; u < 4; u++ {
		step(4*u, 64*u)
	}
	w.WriteString("\tADDQ $16, AX\n\tADDQ $16, R8\n\tADDQ $256, BX\n\tDECQ DX\n\tJNZ loop4\n\nrem:\n\tTESTQ CX, CX\n\tJZ store\n\nremloop:\n")
	step(0, 0)
	w.WriteString("\tADDQ $4, AX\n\tADDQ $4, R8\n\tADDQ $64, BX\n\tDECQ CX\n\tJNZ remloop\n\nstore:\n")
	for y := 4; y < 16; y++ {
		fmt.Fprintf(w, "\tVMOVDQU Y%d, %d(DI)\n", y, 32*(y-4))
	}
	w.WriteString("\tVZEROUPPER\n\tRET\n")
}

// rowAddr is the address of row r of A at byte offset off: rows 3q..3q+2
// from the base registers AX, R8, R9, R10 with index SI (lda bytes).
func rowAddr(r, off int) string {
	base := []string{"AX", "R8", "R9", "R10"}[r/3]
	switch r % 3 {
	case 0:
		return fmt.Sprintf("%d(%s)", off, base)
	case 1:
		return fmt.Sprintf("%d(%s)(SI*1)", off, base)
	}
	return fmt.Sprintf("%d(%s)(SI*2)", off, base)
}

// step writes one k step (a pair or a quad) at A offset oa, B offset ob.
func step(w *strings.Builder, bf16 bool, oa, ob int) {
	fmt.Fprintf(w, "\tVMOVDQU32 %d(BX), Z0\n\tVMOVDQU32 %d(BX), Z1\n", ob, ob+64)
	for r := 0; r < 12; r++ {
		bc := 2 + r%4
		fmt.Fprintf(w, "\tVPBROADCASTD %s, Z%d\n", rowAddr(r, oa), bc)
		for h := 0; h < 2; h++ {
			acc := 8 + 2*r + h
			if bf16 {
				fmt.Fprintf(w, "\t%s\n", vdpbf16ps(acc, bc, h))
			} else {
				// Go order: signed (weights), unsigned (activations), acc.
				fmt.Fprintf(w, "\tVPDPBUSD Z%d, Z%d, Z%d\n", h, bc, acc)
			}
		}
	}
}

func kernel(w *strings.Builder, name string, bf16 bool, sig string) {
	fmt.Fprintf(w, "\n// %s\nTEXT ·%s(SB), NOSPLIT, $0-56\n", sig, name)
	w.WriteString(`	MOVQ steps+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), SI
	MOVQ b+24(FP), BX
	MOVQ out+32(FP), DI
	LEAQ (AX)(SI*2), R8
	ADDQ SI, R8
	LEAQ (R8)(SI*2), R9
	ADDQ SI, R9
	LEAQ (R9)(SI*2), R10
	ADDQ SI, R10
`)
	for z := 8; z < 32; z++ {
		fmt.Fprintf(w, "\tVPXORD Z%d, Z%d, Z%d\n", z, z, z)
	}
	w.WriteString("\tMOVQ CX, DX\n\tSHRQ $2, DX\n\tANDQ $3, CX\n\tTESTQ DX, DX\n\tJZ rem\n\nloop4:\n")
	for u := 0; u < 4; u++ {
		step(w, bf16, 4*u, 128*u)
	}
	w.WriteString("\tADDQ $16, AX\n\tADDQ $16, R8\n\tADDQ $16, R9\n\tADDQ $16, R10\n\tADDQ $512, BX\n\tDECQ DX\n\tJNZ loop4\n\nrem:\n\tTESTQ CX, CX\n\tJZ store\n\nremloop:\n")
	step(w, bf16, 0, 0)
	w.WriteString("\tADDQ $4, AX\n\tADDQ $4, R8\n\tADDQ $4, R9\n\tADDQ $4, R10\n\tADDQ $128, BX\n\tDECQ CX\n\tJNZ remloop\n\nstore:\n")
	// The epilogue: ep holds pointers to the bias (and for int8 the
	// column sums, weight scales, zero points and activation scales).
	w.WriteString("\tMOVQ ldo+40(FP), DX\n\tMOVQ ep+48(FP), R11\n\tMOVQ 0(R11), R12\n")
	if !bf16 {
		w.WriteString(`	MOVQ 8(R11), R13
	MOVQ 16(R11), R14
	MOVQ 24(R11), SI
	MOVQ 32(R11), BX
	VMOVDQU32 (R13), Z0
	VMOVDQU32 64(R13), Z1
	VMOVUPS (R14), Z2
	VMOVUPS 64(R14), Z3
`)
	}
	for r := 0; r < 12; r++ {
		lo, hi := 8+2*r, 9+2*r
		if !bf16 {
			// float32(acc − zp·cs)·(sa·sc) + bias, in the order of storeDequantGo.
			fmt.Fprintf(w, "\tVPBROADCASTD %d(SI), Z4\n\tVBROADCASTSS %d(BX), Z5\n", 4*r, 4*r)
			fmt.Fprintf(w, "\tVPMULLD Z0, Z4, Z6\n\tVPMULLD Z1, Z4, Z7\n\tVPSUBD Z6, Z%d, Z%d\n\tVPSUBD Z7, Z%d, Z%d\n", lo, lo, hi, hi)
			fmt.Fprintf(w, "\tVCVTDQ2PS Z%d, Z%d\n\tVCVTDQ2PS Z%d, Z%d\n", lo, lo, hi, hi)
			fmt.Fprintf(w, "\tVMULPS Z2, Z5, Z6\n\tVMULPS Z3, Z5, Z7\n\tVMULPS Z6, Z%d, Z%d\n\tVMULPS Z7, Z%d, Z%d\n", lo, lo, hi, hi)
		}
		fmt.Fprintf(w, "\tVADDPS (R12), Z%d, Z%d\n\tVADDPS 64(R12), Z%d, Z%d\n", lo, lo, hi, hi)
		fmt.Fprintf(w, "\tVMOVUPS Z%d, (DI)\n\tVMOVUPS Z%d, 64(DI)\n\tADDQ DX, DI\n", lo, hi)
	}
	w.WriteString("\tVZEROUPPER\n\tRET\n")
}

func main() {
	var w strings.Builder
	w.WriteString(`// Code generated by gen_amd64.go; DO NOT EDIT.

//go:build amd64 && !purego

#include "textflag.h"

// The AVX-512 micro-kernels: a 12×32 tile of C in Z8..Z31 (row r in
// Z(8+2r), Z(9+2r)); per k step (a bf16 pair or a u8/s8 quad) two 64-byte
// loads of the packed weight panel into Z0, Z1 and, for each of the twelve
// rows of A (row-major, lda bytes apart), one 32-bit broadcast into
// Z2..Z5 and two dot-product instructions. The epilogue adds the bias
// (bf16) or dequantises (int8) and stores the tile with row stride ldo
// bytes. VDPBF16PS is written as BYTEs (see gen_amd64.go).
`)
	kernel(&w, "dpbf16Kernel12x32", true, "func dpbf16Kernel12x32(steps int, a *uint32, lda int, b *uint32, out *float32, ldo int, ep *epilogue512)")
	kernel(&w, "dpbusdKernel12x32", false, "func dpbusdKernel12x32(steps int, a *uint8, lda int, b *int8, out *float32, ldo int, ep *epilogue512)")
	fmt.Fprintf(&w, `
// func convertBF16AVX512(dst *uint32, x *float32, n int)
// dst[p] = bf16(x[2p]) | bf16(x[2p+1])<<16 for p < n, n a multiple of 16.
TEXT ·convertBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ done
loop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	%s
	VMOVDQU32 Z2, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET
`, vcvtne2ps2bf16(2, 1, 0))
	if err := os.WriteFile("kernel512_amd64.s", []byte(w.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var v strings.Builder
	v.WriteString(`// Code generated by gen_amd64.go; DO NOT EDIT.

//go:build amd64 && !purego

#include "textflag.h"

// The AVX-VNNI int8 micro-kernel (CPUs with AVX-VNNI but not
// AVX512-VNNI): a 6×16 tile like the AVX2 kernels', each quad step summed
// exactly into int32 by two VEX-encoded VPDPBUSD per row, written as BYTEs
// (see gen_amd64.go).
`)
	vnniKernel(&v)
	if err := os.WriteFile("kernelvnni_amd64.s", []byte(v.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
