//go:build amd64 && !purego

#include "textflag.h"

// Lane offsets j·256 for the eight sub-quantisers of one gather.
DATA offs<>+0(SB)/4, $0
DATA offs<>+4(SB)/4, $256
DATA offs<>+8(SB)/4, $512
DATA offs<>+12(SB)/4, $768
DATA offs<>+16(SB)/4, $1024
DATA offs<>+20(SB)/4, $1280
DATA offs<>+24(SB)/4, $1536
DATA offs<>+28(SB)/4, $1792
GLOBL offs<>(SB), RODATA|NOPTR, $32

// func scanAVX2(table *float32, codes *uint8, m int, out *float32, n int)
//
// Registers: SI table, DI codes of the current vector(s), DX m, R8 out,
// CX vectors left, R9 table pointer of the current group of eight,
// R10 groups left, R11 m·256·4 bytes (unused), Y15 lane offsets.
TEXT ·scanAVX2(SB), NOSPLIT, $0-40
	MOVQ table+0(FP), SI
	MOVQ codes+8(FP), DI
	MOVQ m+16(FP), DX
	MOVQ out+24(FP), R8
	MOVQ n+32(FP), CX
	VMOVDQU offs<>(SB), Y15

pair:
	CMPQ CX, $2
	JL   single
	// Two vectors: codes at DI and DI+DX.
	LEAQ (DI)(DX*1), BX
	MOVQ SI, R9
	MOVQ DX, R10
	SHRQ $3, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ AX, AX

pairloop:
	VPMOVZXBD (DI)(AX*1), Y2
	VPMOVZXBD (BX)(AX*1), Y3
	VPADDD Y15, Y2, Y2
	VPADDD Y15, Y3, Y3
	VPCMPEQD Y4, Y4, Y4
	VPCMPEQD Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	VPGATHERDD Y4, (R9)(Y2*4), Y6
	VPGATHERDD Y5, (R9)(Y3*4), Y7
	VADDPS Y6, Y0, Y0
	VADDPS Y7, Y1, Y1
	ADDQ $8, AX
	ADDQ $8192, R9
	DECQ R10
	JNZ  pairloop

	// Horizontal sums of Y0 and Y1 into out[0], out[1].
	VEXTRACTF128 $1, Y0, X2
	VADDPS X2, X0, X0
	VEXTRACTF128 $1, Y1, X3
	VADDPS X3, X1, X1
	VHADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VMOVSD X0, (R8)
	ADDQ $8, R8
	LEAQ (DI)(DX*2), DI
	SUBQ $2, CX
	JMP  pair

single:
	CMPQ CX, $1
	JL   done
	MOVQ SI, R9
	MOVQ DX, R10
	SHRQ $3, R10
	VXORPS Y0, Y0, Y0
	XORQ AX, AX

singleloop:
	VPMOVZXBD (DI)(AX*1), Y2
	VPADDD Y15, Y2, Y2
	VPCMPEQD Y4, Y4, Y4
	VPXOR Y6, Y6, Y6
	VPGATHERDD Y4, (R9)(Y2*4), Y6
	VADDPS Y6, Y0, Y0
	ADDQ $8, AX
	ADDQ $8192, R9
	DECQ R10
	JNZ  singleloop

	VEXTRACTF128 $1, Y0, X2
	VADDPS X2, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VMOVSS X0, (R8)

done:
	VZEROUPPER
	RET
