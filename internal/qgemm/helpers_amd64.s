//go:build amd64 && !purego

#include "textflag.h"

// AVX2 helpers of the blocked driver, for CPUs without AVX-512 (and the
// BLAS32_KERNEL=avx2 pin): they compute exactly what their Go versions
// compute.

// func minMaxAVX2(x *float32, n int) (lo, hi float32)
// n a positive multiple of 8.
TEXT ·minMaxAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	VMOVUPS (SI), Y0
	VMOVAPS Y0, Y1
	ADDQ $32, SI
	DECQ CX
	JZ reduce
loop:
	VMOVUPS (SI), Y2
	VMINPS Y2, Y0, Y0
	VMAXPS Y2, Y1, Y1
	ADDQ $32, SI
	DECQ CX
	JNZ loop
reduce:
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

// permPack is the VPERMD index that puts the dwords of two lane-wise
// packs back in order.
DATA permPack<>+0(SB)/4, $0
DATA permPack<>+4(SB)/4, $4
DATA permPack<>+8(SB)/4, $1
DATA permPack<>+12(SB)/4, $5
DATA permPack<>+16(SB)/4, $2
DATA permPack<>+20(SB)/4, $6
DATA permPack<>+24(SB)/4, $3
DATA permPack<>+28(SB)/4, $7
GLOBL permPack<>(SB), RODATA|NOPTR, $32

// func quantizeAVX2(dst *uint8, x *float32, n int, inv float32, zp, qa int32)
// dst[i] = clamp(round(x[i]·inv) + zp, 0, qa), n a multiple of 32, qa <=
// 255: the saturating packs clamp to [0, 255], VPMINUB to qa.
TEXT ·quantizeAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS inv+24(FP), Y8
	MOVL zp+28(FP), R9
	MOVQ R9, X9
	VPBROADCASTD X9, Y9
	VMOVDQU permPack<>(SB), Y10
	MOVL qa+32(FP), R9
	MOVQ R9, X11
	VPBROADCASTB X11, Y11
	SHRQ $5, CX
	JZ done
loop:
	VMULPS (SI), Y8, Y0
	VMULPS 32(SI), Y8, Y1
	VMULPS 64(SI), Y8, Y2
	VMULPS 96(SI), Y8, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPADDD Y9, Y0, Y0
	VPADDD Y9, Y1, Y1
	VPADDD Y9, Y2, Y2
	VPADDD Y9, Y3, Y3
	VPACKSSDW Y1, Y0, Y4
	VPACKSSDW Y3, Y2, Y5
	VPACKUSWB Y5, Y4, Y6
	VPMINUB Y11, Y6, Y6
	VPERMD Y6, Y10, Y6
	VMOVDQU Y6, (DI)
	ADDQ $128, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func addBiasAVX2(o, t, bias *float32, n int)
// o[j] = t[j] + bias[j], n a multiple of 8.
TEXT ·addBiasAVX2(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ t+8(FP), SI
	MOVQ bias+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func dequantAVX2(o *float32, t, cs *int32, sc, bias *float32, n int, zp int32, sa float32)
// o[j] = float32(t[j] − zp·cs[j])·(sa·sc[j]) + bias[j], n a multiple of 8;
// bias is never nil here.
TEXT ·dequantAVX2(SB), NOSPLIT, $0-56
	MOVQ o+0(FP), DI
	MOVQ t+8(FP), SI
	MOVQ cs+16(FP), R8
	MOVQ sc+24(FP), R9
	MOVQ bias+32(FP), DX
	MOVQ n+40(FP), CX
	MOVL zp+48(FP), R10
	MOVQ R10, X4
	VPBROADCASTD X4, Y4
	VBROADCASTSS sa+52(FP), Y5
	SHRQ $3, CX
	JZ done
loop:
	VPMULLD (R8), Y4, Y0
	VMOVDQU (SI), Y1
	VPSUBD Y0, Y1, Y1
	VCVTDQ2PS Y1, Y1
	VMULPS (R9), Y5, Y2
	VMULPS Y2, Y1, Y1
	VADDPS (DX), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, DX
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func convertBF16AVX2(dst *uint32, x *float32, n int)
// dst[p] = bf16(x[2p]) | bf16(x[2p+1])<<16 for p < n, n a multiple of 8,
// rounding as ToBF16: to nearest even; NaN quieted; subnormals to ±0.
DATA bf16Const<>+0(SB)/4, $0x7fffffff  // abs mask
DATA bf16Const<>+4(SB)/4, $0x7f800000  // exponent mask, +Inf
DATA bf16Const<>+8(SB)/4, $0x00007fff  // rounding bias
DATA bf16Const<>+12(SB)/4, $0x00000001
DATA bf16Const<>+16(SB)/4, $0x80000000 // sign
DATA bf16Const<>+20(SB)/4, $0x00400000 // quiet bit
GLOBL bf16Const<>(SB), RODATA|NOPTR, $24

#define BF16CONV(src, dst) \
	VMOVDQU src, Y0; \
	VPAND Y8, Y0, Y1; \
	VPCMPGTD Y9, Y1, Y2; \
	VPAND Y9, Y0, Y3; \
	VPCMPEQD Y15, Y3, Y3; \
	VPSRLD $16, Y0, Y1; \
	VPAND Y11, Y1, Y1; \
	VPADDD Y10, Y1, Y1; \
	VPADDD Y0, Y1, Y1; \
	VPAND Y12, Y0, Y4; \
	VPBLENDVB Y3, Y4, Y1, Y1; \
	VPOR Y13, Y0, Y4; \
	VPBLENDVB Y2, Y4, Y1, Y1; \
	VPSRLD $16, Y1, dst

TEXT ·convertBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VPBROADCASTD bf16Const<>+0(SB), Y8
	VPBROADCASTD bf16Const<>+4(SB), Y9
	VPBROADCASTD bf16Const<>+8(SB), Y10
	VPBROADCASTD bf16Const<>+12(SB), Y11
	VPBROADCASTD bf16Const<>+16(SB), Y12
	VPBROADCASTD bf16Const<>+20(SB), Y13
	VPXOR Y15, Y15, Y15
	SHRQ $3, CX
	JZ done
loop:
	BF16CONV((SI), Y6)
	BF16CONV(32(SI), Y7)
	VPACKUSDW Y7, Y6, Y6
	VPERMQ $0xd8, Y6, Y6
	VMOVDQU Y6, (DI)
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET
