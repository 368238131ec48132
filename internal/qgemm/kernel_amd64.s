//go:build amd64 && !purego

#include "textflag.h"

// The AVX2 micro-kernels: a 6×16 tile of C in Y4..Y15 (row r in Y(4+2r),
// Y(5+2r)), rows of A at AX, AX+lda, AX+2·lda, R8 = AX+3·lda, R8+lda,
// R8+2·lda (SI = lda bytes). The tile is stored contiguous (row stride 16).

#define ROW0(off) off(AX)
#define ROW1(off) off(AX)(SI*1)
#define ROW2(off) off(AX)(SI*2)
#define ROW3(off) off(R8)
#define ROW4(off) off(R8)(SI*1)
#define ROW5(off) off(R8)(SI*2)

// bf16: a step is one pair of k. The weights' uint32 lanes hold the bf16
// of the even k in the low half, the odd k in the high half: shifted left
// by 16 the lane is the even k's float32, masked with 0xffff0000 (Y3) the
// odd k's. The broadcast pair of a row of A splits the same way. The even
// k is done first (B in Y0, Y1), then the odd k.
#define BF16EVEN(addr, lo, hi) \
	VPBROADCASTD addr, Y2; \
	VPSLLD $16, Y2, Y2; \
	VFMADD231PS Y0, Y2, lo; \
	VFMADD231PS Y1, Y2, hi

#define BF16ODD(addr, lo, hi) \
	VPBROADCASTD addr, Y2; \
	VPAND Y3, Y2, Y2; \
	VFMADD231PS Y0, Y2, lo; \
	VFMADD231PS Y1, Y2, hi

#define BF16STEP(oa, ob) \
	VMOVDQU ob(BX), Y0; \
	VMOVDQU (ob+32)(BX), Y1; \
	VPSLLD $16, Y0, Y0; \
	VPSLLD $16, Y1, Y1; \
	BF16EVEN(ROW0(oa), Y4, Y5); \
	BF16EVEN(ROW1(oa), Y6, Y7); \
	BF16EVEN(ROW2(oa), Y8, Y9); \
	BF16EVEN(ROW3(oa), Y10, Y11); \
	BF16EVEN(ROW4(oa), Y12, Y13); \
	BF16EVEN(ROW5(oa), Y14, Y15); \
	VPAND ob(BX), Y3, Y0; \
	VPAND (ob+32)(BX), Y3, Y1; \
	BF16ODD(ROW0(oa), Y4, Y5); \
	BF16ODD(ROW1(oa), Y6, Y7); \
	BF16ODD(ROW2(oa), Y8, Y9); \
	BF16ODD(ROW3(oa), Y10, Y11); \
	BF16ODD(ROW4(oa), Y12, Y13); \
	BF16ODD(ROW5(oa), Y14, Y15)

// int8: a step is one quad of k. VPMADDUBSW multiplies the broadcast u8
// quad of a row of A (Y0) by the s8 weights and sums adjacent pairs into
// saturating int16 — exact, as the weights are at most 63 in magnitude
// (see Int8Weights) — then VPMADDWD by ones (Y3) sums the pairs of int16
// into int32.
#define I8ROW(addr, ob, lo, hi) \
	VPBROADCASTD addr, Y0; \
	VPMADDUBSW ob(BX), Y0, Y1; \
	VPMADDUBSW (ob+32)(BX), Y0, Y2; \
	VPMADDWD Y3, Y1, Y1; \
	VPMADDWD Y3, Y2, Y2; \
	VPADDD Y1, lo, lo; \
	VPADDD Y2, hi, hi

#define I8STEP(oa, ob) \
	I8ROW(ROW0(oa), ob, Y4, Y5); \
	I8ROW(ROW1(oa), ob, Y6, Y7); \
	I8ROW(ROW2(oa), ob, Y8, Y9); \
	I8ROW(ROW3(oa), ob, Y10, Y11); \
	I8ROW(ROW4(oa), ob, Y12, Y13); \
	I8ROW(ROW5(oa), ob, Y14, Y15)

#define PROLOGUE \
	MOVQ steps+0(FP), CX; \
	MOVQ a+8(FP), AX; \
	MOVQ lda+16(FP), SI; \
	MOVQ b+24(FP), BX; \
	MOVQ c+32(FP), DI; \
	LEAQ (AX)(SI*2), R8; \
	ADDQ SI, R8; \
	VPXOR Y4, Y4, Y4; \
	VPXOR Y5, Y5, Y5; \
	VPXOR Y6, Y6, Y6; \
	VPXOR Y7, Y7, Y7; \
	VPXOR Y8, Y8, Y8; \
	VPXOR Y9, Y9, Y9; \
	VPXOR Y10, Y10, Y10; \
	VPXOR Y11, Y11, Y11; \
	VPXOR Y12, Y12, Y12; \
	VPXOR Y13, Y13, Y13; \
	VPXOR Y14, Y14, Y14; \
	VPXOR Y15, Y15, Y15; \
	MOVQ CX, DX; \
	SHRQ $2, DX; \
	ANDQ $3, CX

#define EPILOGUE \
	VMOVDQU Y4, (DI); \
	VMOVDQU Y5, 32(DI); \
	VMOVDQU Y6, 64(DI); \
	VMOVDQU Y7, 96(DI); \
	VMOVDQU Y8, 128(DI); \
	VMOVDQU Y9, 160(DI); \
	VMOVDQU Y10, 192(DI); \
	VMOVDQU Y11, 224(DI); \
	VMOVDQU Y12, 256(DI); \
	VMOVDQU Y13, 288(DI); \
	VMOVDQU Y14, 320(DI); \
	VMOVDQU Y15, 352(DI); \
	VZEROUPPER; \
	RET

// func bf16Kernel6x16(steps int, a *uint32, lda int, b *uint32, c *float32)
TEXT ·bf16Kernel6x16(SB), NOSPLIT, $0-40
	PROLOGUE
	MOVL $0xffff0000, R9
	MOVQ R9, X3
	VPBROADCASTD X3, Y3
	TESTQ DX, DX
	JZ rem

loop4:
	BF16STEP(0, 0)
	BF16STEP(4, 64)
	BF16STEP(8, 128)
	BF16STEP(12, 192)
	ADDQ $16, AX
	ADDQ $16, R8
	ADDQ $256, BX
	DECQ DX
	JNZ loop4

rem:
	TESTQ CX, CX
	JZ store

remloop:
	BF16STEP(0, 0)
	ADDQ $4, AX
	ADDQ $4, R8
	ADDQ $64, BX
	DECQ CX
	JNZ remloop

store:
	EPILOGUE

// func maddubsKernel6x16(steps int, a *uint8, lda int, b *int8, c *int32)
TEXT ·maddubsKernel6x16(SB), NOSPLIT, $0-40
	PROLOGUE
	MOVL $0x00010001, R9
	MOVQ R9, X3
	VPBROADCASTD X3, Y3
	TESTQ DX, DX
	JZ rem

loop4:
	I8STEP(0, 0)
	I8STEP(4, 64)
	I8STEP(8, 128)
	I8STEP(12, 192)
	ADDQ $16, AX
	ADDQ $16, R8
	ADDQ $256, BX
	DECQ DX
	JNZ loop4

rem:
	TESTQ CX, CX
	JZ store

remloop:
	I8STEP(0, 0)
	ADDQ $4, AX
	ADDQ $4, R8
	ADDQ $64, BX
	DECQ CX
	JNZ remloop

store:
	EPILOGUE
