//go:build amd64 && !purego

#include "textflag.h"

// The unpacked 6×16 kernel: C = alpha·A·B for one 6×16 tile, A and B read
// in place (row-major, any stride), a 6×16 tile of C in Y4..Y15 (row r in
// Y(4+2r), Y(5+2r)). Rows of A at AX, AX+lda, AX+2·lda, R8 = AX+3·lda,
// R8+lda, R8+2·lda (SI = lda bytes); row p of B at BX + p·ldb (DX = ldb
// bytes).

// SSTEP is one step of k: two 8-wide loads of row p of B, six broadcasts
// of column p of A, twelve FMAs; then A moves on one float and B one row.
#define SSTEP \
	VMOVUPS (BX), Y0; \
	VMOVUPS 32(BX), Y1; \
	VBROADCASTSS (AX), Y2; \
	VFMADD231PS Y0, Y2, Y4; \
	VFMADD231PS Y1, Y2, Y5; \
	VBROADCASTSS (AX)(SI*1), Y3; \
	VFMADD231PS Y0, Y3, Y6; \
	VFMADD231PS Y1, Y3, Y7; \
	VBROADCASTSS (AX)(SI*2), Y2; \
	VFMADD231PS Y0, Y2, Y8; \
	VFMADD231PS Y1, Y2, Y9; \
	VBROADCASTSS (R8), Y3; \
	VFMADD231PS Y0, Y3, Y10; \
	VFMADD231PS Y1, Y3, Y11; \
	VBROADCASTSS (R8)(SI*1), Y2; \
	VFMADD231PS Y0, Y2, Y12; \
	VFMADD231PS Y1, Y2, Y13; \
	VBROADCASTSS (R8)(SI*2), Y3; \
	VFMADD231PS Y0, Y3, Y14; \
	VFMADD231PS Y1, Y3, Y15; \
	ADDQ $4, AX; \
	ADDQ $4, R8; \
	ADDQ DX, BX

// SOUT stores row lo, hi times alpha (Y0) at DI and moves DI on one row.
#define SOUT(lo, hi) \
	VMULPS Y0, lo, lo; \
	VMULPS Y0, hi, hi; \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 32(DI); \
	ADDQ R11, DI

// func sgemmSmall6x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, alpha float32)
// lda, ldb and ldc in floats; k >= 1.
TEXT ·sgemmSmall6x16(SB), NOSPLIT, $0-60
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), SI
	SHLQ $2, SI
	MOVQ b+24(FP), BX
	MOVQ ldb+32(FP), DX
	SHLQ $2, DX
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), R11
	SHLQ $2, R11
	LEAQ (AX)(SI*2), R8
	ADDQ SI, R8

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, R10
	SHRQ $2, R10
	ANDQ $3, CX
	TESTQ R10, R10
	JZ rem

loop4:
	SSTEP
	SSTEP
	SSTEP
	SSTEP
	DECQ R10
	JNZ loop4

rem:
	TESTQ CX, CX
	JZ store

remloop:
	SSTEP
	DECQ CX
	JNZ remloop

store:
	VBROADCASTSS alpha+56(FP), Y0
	SOUT(Y4, Y5)
	SOUT(Y6, Y7)
	SOUT(Y8, Y9)
	SOUT(Y10, Y11)
	SOUT(Y12, Y13)
	SOUT(Y14, Y15)
	VZEROUPPER
	RET

// func transpose8AVX2(dst *float32, ldd int, src *float32, lds int, blocks int)
// Transposes an 8×(8·blocks) strip of src (rows lds floats apart) into
// dst: dst[j·ldd + i] = src[i·lds + j], 8×8 blocks in registers
// (unpack, shuffle, 128-bit permute).
TEXT ·transpose8AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), DX
	SHLQ $2, DX
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), BX
	SHLQ $2, BX
	MOVQ blocks+32(FP), CX
	LEAQ (BX)(BX*2), R10 // 3·lds
	LEAQ (DX)(DX*2), R11 // 3·ldd

tblock:
	MOVQ SI, AX
	LEAQ (SI)(BX*4), R8
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(BX*1), Y1
	VMOVUPS (AX)(BX*2), Y2
	VMOVUPS (AX)(R10*1), Y3
	VMOVUPS (R8), Y4
	VMOVUPS (R8)(BX*1), Y5
	VMOVUPS (R8)(BX*2), Y6
	VMOVUPS (R8)(R10*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	LEAQ (DI)(DX*4), R9
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(DX*1)
	VMOVUPS Y10, (DI)(DX*2)
	VMOVUPS Y11, (DI)(R11*1)
	VMOVUPS Y12, (R9)
	VMOVUPS Y13, (R9)(DX*1)
	VMOVUPS Y14, (R9)(DX*2)
	VMOVUPS Y15, (R9)(R11*1)
	ADDQ $32, SI
	LEAQ (DI)(DX*8), DI
	DECQ CX
	JNZ  tblock
	VZEROUPPER
	RET
