//go:build amd64 && !purego

#include "textflag.h"
#include "maddubs.h"

// The AVX2 int8 kernel for 7-bit activations (0 <= a <= 127) and 6-bit
// weights (|q| <= 31): the w6 kernel (kernelw6_amd64.s) with four quads,
// not two, summed in int16 before widening. A 4×16 tile of C in Y4..Y11
// (row r in Y(4+2r), Y(5+2r)), rows of A at AX, AX+lda, AX+2·lda, R8 =
// AX+3·lda (SI = lda bytes).
//
// VPMADDUBSW multiplies a broadcast u8 quad of a row of A by the s8
// weights and sums adjacent pairs into int16: |pair| <= 2·127·31 = 7874,
// so it never saturates. Four consecutive quads are added in int16 with
// VPADDW: a lane then holds eight products, |sum| <= 8·127·31 = 31496 <
// 32767, exact. VPMADDWD by −1 words (Y15; w6neg in the tail) sums each dword's two lanes
// into int32, negated, and VPSUBD takes it from the accumulator. Per 128
// u8·s8 products that is 5 multiply instructions, where the w6 kernel
// (u8 activations, two quads per lane) takes 6. The zero points stay in
// the epilogue (acc − zp·cs, in int32), so the bound holds for every lane
// whatever the zero point.
//
// Registers: eight accumulators, Y15 the −1 words of the widening, Y0
// the broadcast quad, Y1 Y2 the int16 sums, Y3 a product; the 16-k step's
// first quad and the low half of its second are held in Y12..Y14 across
// the four rows, the other five halves are memory operands of VPMADDUBSW
// (the panel is in L1). With the −1 words in memory and two quads in
// registers, as in the w6 kernel, the loads (22 per 512 products, at two
// a cycle) were the limit: about 11.5 cycles per 512 products against
// 11.0 now (noisy, shared machine; the multiply bound is 10). The
// tail of fewer than four quads takes the w6 kernel's steps (two quads,
// then one), whose int16 sums are smaller still.

// W7ROW sums four quads (a0..a3) of one row into lo, hi; the panel's
// quad 0 and the low half of quad 1 in Y12..Y14, the rest at ob(BX); Y15
// holds the −1 words.
#define W7ROW(a0, a1, a2, a3, ob, lo, hi) \
	VPBROADCASTD a0, Y0; \
	VPMADDUBSW Y12, Y0, Y1; \
	VPMADDUBSW Y13, Y0, Y2; \
	VPBROADCASTD a1, Y0; \
	VPMADDUBSW Y14, Y0, Y3; \
	VPADDW Y3, Y1, Y1; \
	VPMADDUBSW (ob+96)(BX), Y0, Y3; \
	VPADDW Y3, Y2, Y2; \
	VPBROADCASTD a2, Y0; \
	VPMADDUBSW (ob+128)(BX), Y0, Y3; \
	VPADDW Y3, Y1, Y1; \
	VPMADDUBSW (ob+160)(BX), Y0, Y3; \
	VPADDW Y3, Y2, Y2; \
	VPBROADCASTD a3, Y0; \
	VPMADDUBSW (ob+192)(BX), Y0, Y3; \
	VPADDW Y3, Y1, Y1; \
	VPMADDUBSW (ob+224)(BX), Y0, Y0; \
	VPADDW Y0, Y2, Y2; \
	VPMADDWD Y15, Y1, Y1; \
	VPMADDWD Y15, Y2, Y2; \
	VPSUBD Y1, lo, lo; \
	VPSUBD Y2, hi, hi

// W7STEP4 sums four quads of the four rows: A at byte offset oa, the
// panel at ob.
#define W7STEP4(oa, ob) \
	VMOVDQU ob(BX), Y12; \
	VMOVDQU (ob+32)(BX), Y13; \
	VMOVDQU (ob+64)(BX), Y14; \
	W7ROW(oa(AX), (oa+4)(AX), (oa+8)(AX), (oa+12)(AX), ob, Y4, Y5); \
	W7ROW(oa(AX)(SI*1), (oa+4)(AX)(SI*1), (oa+8)(AX)(SI*1), (oa+12)(AX)(SI*1), ob, Y6, Y7); \
	W7ROW(oa(AX)(SI*2), (oa+4)(AX)(SI*2), (oa+8)(AX)(SI*2), (oa+12)(AX)(SI*2), ob, Y8, Y9); \
	W7ROW(oa(R8), (oa+4)(R8), (oa+8)(R8), (oa+12)(R8), ob, Y10, Y11)

// func maddubsW6A7Tiles4x16(tiles, steps int, a *uint8, lda int, b *int8, out *float32, ldo int, ep *epilogue512)
// Tile i (i < tiles) takes rows 4i..4i+3 of A and of out, and zero points
// and scales 4i..4i+3 of ep; the panel, column sums, channel scales and
// bias are shared. The argument slot a counts the tiles, tiles too.
TEXT ·maddubsW6A7Tiles4x16(SB), NOSPLIT, $0-64
	MOVQ out+40(FP), DI
	MOVQ ldo+48(FP), R11
	MOVQ ep+56(FP), DX
	MOVQ 0(DX), R12
	MOVQ 8(DX), R9
	MOVQ 16(DX), R10
	MOVQ 24(DX), R13
	MOVQ 32(DX), R14
	MOVQ lda+24(FP), SI

tile:
	MOVQ steps+8(FP), CX
	MOVQ a+16(FP), AX
	MOVQ b+32(FP), BX
	LEAQ (AX)(SI*2), R8
	ADDQ SI, R8
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	VPCMPEQW Y15, Y15, Y15
	MOVQ CX, DX
	SHRQ $3, DX
	ANDQ $7, CX
	TESTQ DX, DX
	JZ rem4

loop8:
	W7STEP4(0, 0)
	W7STEP4(16, 256)
	ADDQ $32, AX
	ADDQ $32, R8
	ADDQ $512, BX
	DECQ DX
	JNZ loop8

rem4:
	CMPQ CX, $4
	JB rem2
	W7STEP4(0, 0)
	ADDQ $16, AX
	ADDQ $16, R8
	ADDQ $256, BX
	SUBQ $4, CX

rem2:
	CMPQ CX, $2
	JB rem1
	W4STEP2(0, 0)
	ADDQ $8, AX
	ADDQ $8, R8
	ADDQ $128, BX
	SUBQ $2, CX

rem1:
	VPCMPEQW Y3, Y3, Y3
	TESTQ CX, CX
	JZ store
	W6ROW1(0(AX), Y4, Y5)
	W6ROW1(0(AX)(SI*1), Y6, Y7)
	W6ROW1(0(AX)(SI*2), Y8, Y9)
	W6ROW1(0(R8), Y10, Y11)

store:
	W6OUT(0, Y4, Y5)
	W6OUT(1, Y6, Y7)
	W6OUT(2, Y8, Y9)
	W6OUT(3, Y10, Y11)
	DECQ tiles+0(FP)
	JZ done
	ADDQ $16, R13
	ADDQ $16, R14
	MOVQ SI, CX
	SHLQ $2, CX
	ADDQ CX, a+16(FP) // never past the end of A
	JMP tile

done:
	VZEROUPPER
	RET
