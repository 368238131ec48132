//go:build amd64 && !purego

#include "textflag.h"

// func scanScalar(table *float32, codes *uint8, m int, out *float32, n int)
//
// Scan for m a positive multiple of 4, by scalar table loads (no gathers):
// two vectors at a time, each with four partial sums (sub-quantisers j mod
// 4), so eight independent add chains keep the load ports busy. Summation
// order is ScanRef's: ((s0+s1)+(s2+s3)).
//
// Registers: SI table, DI codes of the first vector, BX of the second,
// DX m, R8 out, CX vectors left, R9 table row of sub-quantiser j, R10
// groups of four left, AX j, R12/R13 four code bytes, R11/R14 one code.
TEXT ·scanScalar(SB), NOSPLIT, $0-40
	MOVQ table+0(FP), SI
	MOVQ codes+8(FP), DI
	MOVQ m+16(FP), DX
	MOVQ out+24(FP), R8
	MOVQ n+32(FP), CX

pair:
	CMPQ CX, $2
	JL   single
	LEAQ (DI)(DX*1), BX
	MOVQ SI, R9
	MOVQ DX, R10
	SHRQ $2, R10
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3
	VXORPS X4, X4, X4
	VXORPS X5, X5, X5
	VXORPS X6, X6, X6
	VXORPS X7, X7, X7
	XORQ AX, AX

pairloop:
	// One 4-byte load a vector for its four codes, split by shifts (one
	// load a table entry instead of two: the loads, not the adds, bound
	// the byte-load version).
	MOVL    (DI)(AX*1), R12
	MOVL    (BX)(AX*1), R13
	MOVBLZX R12, R11
	MOVBLZX R13, R14
	VADDSS  (R9)(R11*4), X0, X0
	VADDSS  (R9)(R14*4), X4, X4
	SHRL    $8, R12
	SHRL    $8, R13
	MOVBLZX R12, R11
	MOVBLZX R13, R14
	VADDSS  1024(R9)(R11*4), X1, X1
	VADDSS  1024(R9)(R14*4), X5, X5
	SHRL    $8, R12
	SHRL    $8, R13
	MOVBLZX R12, R11
	MOVBLZX R13, R14
	VADDSS  2048(R9)(R11*4), X2, X2
	VADDSS  2048(R9)(R14*4), X6, X6
	SHRL    $8, R12
	SHRL    $8, R13
	VADDSS  3072(R9)(R12*4), X3, X3
	VADDSS  3072(R9)(R13*4), X7, X7
	ADDQ $4, AX
	ADDQ $4096, R9
	DECQ R10
	JNZ  pairloop

	VADDSS X1, X0, X0
	VADDSS X3, X2, X2
	VADDSS X2, X0, X0
	VADDSS X5, X4, X4
	VADDSS X7, X6, X6
	VADDSS X6, X4, X4
	VMOVSS X0, (R8)
	VMOVSS X4, 4(R8)
	ADDQ $8, R8
	LEAQ (DI)(DX*2), DI
	SUBQ $2, CX
	JMP  pair

single:
	CMPQ CX, $1
	JL   done
	MOVQ SI, R9
	MOVQ DX, R10
	SHRQ $2, R10
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3
	XORQ AX, AX

singleloop:
	MOVBLZX (DI)(AX*1), R12
	VADDSS (R9)(R12*4), X0, X0
	MOVBLZX 1(DI)(AX*1), R12
	VADDSS 1024(R9)(R12*4), X1, X1
	MOVBLZX 2(DI)(AX*1), R12
	VADDSS 2048(R9)(R12*4), X2, X2
	MOVBLZX 3(DI)(AX*1), R12
	VADDSS 3072(R9)(R12*4), X3, X3
	ADDQ $4, AX
	ADDQ $4096, R9
	DECQ R10
	JNZ  singleloop

	VADDSS X1, X0, X0
	VADDSS X3, X2, X2
	VADDSS X2, X0, X0
	VMOVSS X0, (R8)

done:
	VZEROUPPER
	RET
