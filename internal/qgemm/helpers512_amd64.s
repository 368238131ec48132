//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 helpers of the blocked driver: the per-row range and u8
// quantisation of activations, and the stores of a kernel tile row.

// func minMaxAVX512(x *float32, n int) (lo, hi float32)
// n a positive multiple of 16.
TEXT ·minMaxAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $4, CX
	VMOVUPS (SI), Z0
	VMOVAPS Z0, Z1
	ADDQ $64, SI
	DECQ CX
	JZ reduce
loop:
	VMOVUPS (SI), Z2
	VMINPS Z2, Z0, Z0
	VMAXPS Z2, Z1, Z1
	ADDQ $64, SI
	DECQ CX
	JNZ loop
reduce:
	VEXTRACTF32X8 $1, Z0, Y2
	VMINPS Y2, Y0, Y0
	VEXTRACTF32X8 $1, Z1, Y3
	VMAXPS Y3, Y1, Y1
	VEXTRACTF128 $1, Y0, X2
	VMINPS X2, X0, X0
	VEXTRACTF128 $1, Y1, X3
	VMAXPS X3, X1, X1
	VPERMILPS $0x4e, X0, X2
	VMINPS X2, X0, X0
	VPERMILPS $0x4e, X1, X3
	VMAXPS X3, X1, X1
	VPERMILPS $0xb1, X0, X2
	VMINPS X2, X0, X0
	VPERMILPS $0xb1, X1, X3
	VMAXPS X3, X1, X1
	MOVSS X0, lo+16(FP)
	MOVSS X1, hi+20(FP)
	VZEROUPPER
	RET

// func quantizeAVX512(dst *uint8, x *float32, n int, inv float32, zp, qa int32)
// dst[i] = clamp(round(x[i]·inv) + zp, 0, qa), n a multiple of 16, qa <=
// 255.
TEXT ·quantizeAVX512(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS inv+24(FP), Z4
	MOVL zp+28(FP), R9
	VPBROADCASTD R9, Z5
	VPXORD Z6, Z6, Z6
	MOVL qa+32(FP), R9
	VPBROADCASTD R9, Z7
	SHRQ $4, CX
	JZ done
loop:
	VMULPS (SI), Z4, Z0
	VCVTPS2DQ Z0, Z0
	VPADDD Z5, Z0, Z0
	VPMAXSD Z6, Z0, Z0
	VPMINSD Z7, Z0, Z0
	VPMOVUSDB Z0, X1
	VMOVDQU X1, (DI)
	ADDQ $64, SI
	ADDQ $16, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func addBiasAVX512(o, t, bias *float32, n int)
// o[j] = t[j] + bias[j], n a multiple of 16.
TEXT ·addBiasAVX512(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ t+8(FP), SI
	MOVQ bias+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ done
loop:
	VMOVUPS (SI), Z0
	VADDPS (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func dequantAVX512(o *float32, t, cs *int32, sc, bias *float32, n int, zp int32, sa float32)
// o[j] = float32(t[j] − zp·cs[j])·(sa·sc[j]) + bias[j] (bias nil: no
// bias), n a multiple of 16.
TEXT ·dequantAVX512(SB), NOSPLIT, $0-56
	MOVQ o+0(FP), DI
	MOVQ t+8(FP), SI
	MOVQ cs+16(FP), R8
	MOVQ sc+24(FP), R9
	MOVQ bias+32(FP), DX
	MOVQ n+40(FP), CX
	MOVL zp+48(FP), R10
	VPBROADCASTD R10, Z4
	VBROADCASTSS sa+52(FP), Z5
	SHRQ $4, CX
	JZ done
	TESTQ DX, DX
	JZ nobias
loop:
	VPMULLD (R8), Z4, Z0
	VMOVDQU32 (SI), Z1
	VPSUBD Z0, Z1, Z1
	VCVTDQ2PS Z1, Z1
	VMULPS (R9), Z5, Z2
	VMULPS Z2, Z1, Z1
	VADDPS (DX), Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, DX
	ADDQ $64, DI
	DECQ CX
	JNZ loop
	JMP done
nobias:
	VPMULLD (R8), Z4, Z0
	VMOVDQU32 (SI), Z1
	VPSUBD Z0, Z1, Z1
	VCVTDQ2PS Z1, Z1
	VMULPS (R9), Z5, Z2
	VMULPS Z2, Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, DI
	DECQ CX
	JNZ nobias
done:
	VZEROUPPER
	RET
