//go:build amd64 && !purego

#include "textflag.h"
#include "maddubs.h"

// The AVX2 int8 kernel for 6-bit weights (|q| <= 31): a 4×16 tile of C in
// Y4..Y11 (row r in Y(4+2r), Y(5+2r)), rows of A at AX, AX+lda, AX+2·lda,
// R8 = AX+3·lda (SI = lda bytes). Per 8 values of k the two quads of the
// 16-column weight panel are loaded once into Y12..Y15 and reused for the
// four rows.
//
// VPMADDUBSW multiplies a broadcast u8 quad of a row of A by the s8
// weights and sums adjacent pairs into int16 (|pair| <= 2·255·31 = 15810).
// Two consecutive quads are added in int16 with VPADDW before widening:
// a lane then holds four products, |sum| <= 4·255·31 = 31620 < 32767, so
// it is exact. VPMADDWD by −1 words (w6neg; Y3 in the last odd quad)
// sums each dword's two lanes into int32, negated, and VPSUBD takes it
// from the accumulator. Per 64 u8·s8
// products that is 3 multiply instructions, where one quad at a time
// (maddubsKernel6x16, 7-bit weights) takes 4. The epilogue dequantises in
// registers: out = float32(acc − zp·cs)·(sa·sc) + bias, rows ldo bytes
// apart.

// func maddubsW6Tiles4x16(tiles, steps int, a *uint8, lda int, b *int8, out *float32, ldo int, ep *epilogue512)
// Tile i (i < tiles) takes rows 4i..4i+3 of A and of out, and zero points
// and scales 4i..4i+3 of ep; the panel, column sums, channel scales and
// bias are shared. The argument slots tiles and a count the tiles.
TEXT ·maddubsW6Tiles4x16(SB), NOSPLIT, $0-64
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
	MOVQ CX, DX
	SHRQ $2, DX
	ANDQ $3, CX
	TESTQ DX, DX
	JZ rem

loop4:
	W4STEP2(0, 0)
	W4STEP2(8, 128)
	ADDQ $16, AX
	ADDQ $16, R8
	ADDQ $256, BX
	DECQ DX
	JNZ loop4

rem:
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
