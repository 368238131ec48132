//go:build amd64 && !purego

#include "textflag.h"

// One step of the 6×16 kernel: two 8-wide loads of the B panel, six
// broadcasts of the A panel, twelve FMAs into Y4..Y15 (row r of C in
// Y(4+2r), Y(5+2r)).
#define STEP(oa, ob) \
	VMOVUPS ob(BX), Y0; \
	VMOVUPS (ob+32)(BX), Y1; \
	VBROADCASTSS oa(AX), Y2; \
	VFMADD231PS Y0, Y2, Y4; \
	VFMADD231PS Y1, Y2, Y5; \
	VBROADCASTSS (oa+4)(AX), Y3; \
	VFMADD231PS Y0, Y3, Y6; \
	VFMADD231PS Y1, Y3, Y7; \
	VBROADCASTSS (oa+8)(AX), Y2; \
	VFMADD231PS Y0, Y2, Y8; \
	VFMADD231PS Y1, Y2, Y9; \
	VBROADCASTSS (oa+12)(AX), Y3; \
	VFMADD231PS Y0, Y3, Y10; \
	VFMADD231PS Y1, Y3, Y11; \
	VBROADCASTSS (oa+16)(AX), Y2; \
	VFMADD231PS Y0, Y2, Y12; \
	VFMADD231PS Y1, Y2, Y13; \
	VBROADCASTSS (oa+20)(AX), Y3; \
	VFMADD231PS Y0, Y3, Y14; \
	VFMADD231PS Y1, Y3, Y15

// Row store with beta: C = alpha*acc + beta*C (alpha in Y0, beta in Y1).
#define STOREB(lo, hi, addr0, addr1) \
	VMULPS Y0, lo, lo; \
	VMULPS Y0, hi, hi; \
	VFMADD231PS addr0, Y1, lo; \
	VFMADD231PS addr1, Y1, hi; \
	VMOVUPS lo, addr0; \
	VMOVUPS hi, addr1

// Row store without reading C: C = alpha*acc.
#define STORE0(lo, hi, addr0, addr1) \
	VMULPS Y0, lo, lo; \
	VMULPS Y0, hi, hi; \
	VMOVUPS lo, addr0; \
	VMOVUPS hi, addr1

// func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel6x16(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
	LEAQ (DI)(DX*2), R8
	LEAQ (R8)(DX*2), R9

	PREFETCHT0 (DI)
	PREFETCHT0 60(DI)
	PREFETCHT0 (DI)(DX*1)
	PREFETCHT0 60(DI)(DX*1)
	PREFETCHT0 (R8)
	PREFETCHT0 60(R8)
	PREFETCHT0 (R8)(DX*1)
	PREFETCHT0 60(R8)(DX*1)
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	PREFETCHT0 (R9)(DX*1)
	PREFETCHT0 60(R9)(DX*1)

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
	PREFETCHT0 384(AX)
	STEP(0, 0)
	STEP(24, 64)
	STEP(48, 128)
	STEP(72, 192)
	ADDQ $96, AX
	ADDQ $256, BX
	DECQ R10
	JNZ loop4

rem:
	TESTQ CX, CX
	JZ store

remloop:
	STEP(0, 0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JNZ remloop

store:
	VBROADCASTSS alpha+40(FP), Y0
	MOVL beta+44(FP), R11
	ANDL $0x7fffffff, R11
	JZ nobeta
	VBROADCASTSS beta+44(FP), Y1
	STOREB(Y4, Y5, (DI), 32(DI))
	STOREB(Y6, Y7, (DI)(DX*1), 32(DI)(DX*1))
	STOREB(Y8, Y9, (R8), 32(R8))
	STOREB(Y10, Y11, (R8)(DX*1), 32(R8)(DX*1))
	STOREB(Y12, Y13, (R9), 32(R9))
	STOREB(Y14, Y15, (R9)(DX*1), 32(R9)(DX*1))
	VZEROUPPER
	RET

nobeta:
	STORE0(Y4, Y5, (DI), 32(DI))
	STORE0(Y6, Y7, (DI)(DX*1), 32(DI)(DX*1))
	STORE0(Y8, Y9, (R8), 32(R8))
	STORE0(Y10, Y11, (R8)(DX*1), 32(R8)(DX*1))
	STORE0(Y12, Y13, (R9), 32(R9))
	STORE0(Y14, Y15, (R9)(DX*1), 32(R9)(DX*1))
	VZEROUPPER
	RET

// Horizontal sum of Y0 into X0[0].
#define HSUM \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VADDPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VADDSS X1, X0, X0

// func dotAVX2(x, y []float32) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ x_base+0(FP), SI
	MOVQ y_base+24(FP), DI
	MOVQ x_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

dot32:
	CMPQ CX, $32
	JL   dot8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  dot32

dot8:
	CMPQ CX, $8
	JL   dotred
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  dot8

dotred:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM

dot1:
	TESTQ CX, CX
	JZ    dotdone
	VMOVSS (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  dot1

dotdone:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func axpyAVX2(alpha float32, x, y []float32)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	MOVQ x_base+8(FP), SI
	MOVQ y_base+32(FP), DI
	MOVQ x_len+16(FP), CX
	VBROADCASTSS alpha+0(FP), Y0

axpy32:
	CMPQ CX, $32
	JL   axpy8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD213PS (DI), Y0, Y4
	VFMADD213PS 32(DI), Y0, Y5
	VFMADD213PS 64(DI), Y0, Y6
	VFMADD213PS 96(DI), Y0, Y7
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y7, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  axpy32

axpy8:
	CMPQ CX, $8
	JL   axpy1
	VMOVUPS (SI), Y4
	VFMADD213PS (DI), Y0, Y4
	VMOVUPS Y4, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  axpy8

axpy1:
	TESTQ CX, CX
	JZ    axpydone
	VMOVSS (SI), X4
	VFMADD213SS (DI), X0, X4
	VMOVSS X4, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  axpy1

axpydone:
	VZEROUPPER
	RET

// func scaleAVX2(alpha float32, x []float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-32
	MOVQ x_base+8(FP), SI
	MOVQ x_len+16(FP), CX
	VBROADCASTSS alpha+0(FP), Y0

scale32:
	CMPQ CX, $32
	JL   scale8
	VMULPS (SI), Y0, Y4
	VMULPS 32(SI), Y0, Y5
	VMULPS 64(SI), Y0, Y6
	VMULPS 96(SI), Y0, Y7
	VMOVUPS Y4, (SI)
	VMOVUPS Y5, 32(SI)
	VMOVUPS Y6, 64(SI)
	VMOVUPS Y7, 96(SI)
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  scale32

scale8:
	CMPQ CX, $8
	JL   scale1
	VMULPS (SI), Y0, Y4
	VMOVUPS Y4, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  scale8

scale1:
	TESTQ CX, CX
	JZ    scaledone
	VMULSS (SI), X0, X4
	VMOVSS X4, (SI)
	ADDQ $4, SI
	DECQ CX
	JMP  scale1

scaledone:
	VZEROUPPER
	RET

// func sumAVX2(x []float32) float32
TEXT ·sumAVX2(SB), NOSPLIT, $0-28
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

sum32:
	CMPQ CX, $32
	JL   sum8
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  sum32

sum8:
	CMPQ CX, $8
	JL   sumred
	VADDPS (SI), Y0, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  sum8

sumred:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM

sum1:
	TESTQ CX, CX
	JZ    sumdone
	VADDSS (SI), X0, X0
	ADDQ $4, SI
	DECQ CX
	JMP  sum1

sumdone:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET
