//go:build amd64 && !purego

#include "textflag.h"

// Constants for geluAVX2 (erf32's coefficients) and expSubSumAVX2
// (Cephes expf).
DATA gelu<>+0(SB)/4, $0.70710678118654752440  // 1/√2
DATA gelu<>+4(SB)/4, $4.0
DATA gelu<>+8(SB)/4, $-4.0
DATA gelu<>+12(SB)/4, $0.5
DATA gelu<>+16(SB)/4, $1.0
DATA gelu<>+20(SB)/4, $-2.72614225801306e-10  // alpha13
DATA gelu<>+24(SB)/4, $2.77068142495902e-08   // alpha11
DATA gelu<>+28(SB)/4, $-2.10102402082508e-06  // alpha9
DATA gelu<>+32(SB)/4, $-5.69250639462346e-05  // alpha7
DATA gelu<>+36(SB)/4, $-7.34990630326855e-04  // alpha5
DATA gelu<>+40(SB)/4, $-2.95459980854025e-03  // alpha3
DATA gelu<>+44(SB)/4, $-1.60960333262415e-02  // alpha1
DATA gelu<>+48(SB)/4, $-1.45660718464996e-05  // beta8
DATA gelu<>+52(SB)/4, $-2.13374055278905e-04  // beta6
DATA gelu<>+56(SB)/4, $-1.68282697438203e-03  // beta4
DATA gelu<>+60(SB)/4, $-7.37332916720468e-03  // beta2
DATA gelu<>+64(SB)/4, $-1.42647390514189e-02  // beta0
DATA gelu<>+68(SB)/4, $-0.5
DATA gelu<>+72(SB)/4, $0.39894228040143267794  // 1/√(2π)
GLOBL gelu<>(SB), RODATA|NOPTR, $76

DATA expc<>+0(SB)/4, $-87.33654475055310898657  // ln(2^-126): below, the result is 0
DATA expc<>+4(SB)/4, $1.44269504088896341       // log2(e)
DATA expc<>+8(SB)/4, $0.693359375               // ln2 high part
DATA expc<>+12(SB)/4, $-2.12194440e-4           // ln2 low part
DATA expc<>+16(SB)/4, $1.9875691500E-4          // p0
DATA expc<>+20(SB)/4, $1.3981999507E-3          // p1
DATA expc<>+24(SB)/4, $8.3334519073E-3          // p2
DATA expc<>+28(SB)/4, $4.1665795894E-2          // p3
DATA expc<>+32(SB)/4, $1.6666665459E-1          // p4
DATA expc<>+36(SB)/4, $5.0000001201E-1          // p5
DATA expc<>+40(SB)/4, $1.0
DATA expc<>+44(SB)/4, $127
GLOBL expc<>(SB), RODATA|NOPTR, $48

// ERF_Y1 sets Y3 = erf32(Y1) for Y1 already clamped to [-4, 4]: the
// rational approximation of erf32 in gelu.go. Scratch: Y2 (z²), Y4, Y5.
#define ERF_Y1 \
	VMULPS       Y1, Y1, Y2; \
	VBROADCASTSS gelu<>+20(SB), Y3; \
	VBROADCASTSS gelu<>+24(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y3; \
	VBROADCASTSS gelu<>+28(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y3; \
	VBROADCASTSS gelu<>+32(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y3; \
	VBROADCASTSS gelu<>+36(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y3; \
	VBROADCASTSS gelu<>+40(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y3; \
	VBROADCASTSS gelu<>+44(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y3; \
	VMULPS       Y1, Y3, Y3; \
	VBROADCASTSS gelu<>+48(SB), Y5; \
	VBROADCASTSS gelu<>+52(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y5; \
	VBROADCASTSS gelu<>+56(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y5; \
	VBROADCASTSS gelu<>+60(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y5; \
	VBROADCASTSS gelu<>+64(SB), Y4; \
	VFMADD213PS  Y4, Y2, Y5; \
	VDIVPS       Y5, Y3, Y3

// EXP_Y1 sets Y4 = exp(Y1) (Cephes expf: n = round(x·log2 e), a degree-5
// polynomial of the remainder, times 2^n), and 0 where Y1 is below
// float32's range. It needs Y10 = the lower limit (expc+0), Y9 = log2(e)
// and Y11 = 1. Scratch: Y1, Y2, Y5, Y6, Y8.
#define EXP_Y1 \
	VCMPPS       $13, Y10, Y1, Y8; \
	VMAXPS       Y10, Y1, Y1; \
	VMULPS       Y9, Y1, Y2; \
	VROUNDPS     $0, Y2, Y2; \
	VBROADCASTSS expc<>+8(SB), Y5; \
	VFNMADD231PS Y5, Y2, Y1; \
	VBROADCASTSS expc<>+12(SB), Y5; \
	VFNMADD231PS Y5, Y2, Y1; \
	VMULPS       Y1, Y1, Y6; \
	VBROADCASTSS expc<>+16(SB), Y4; \
	VBROADCASTSS expc<>+20(SB), Y5; \
	VFMADD213PS  Y5, Y1, Y4; \
	VBROADCASTSS expc<>+24(SB), Y5; \
	VFMADD213PS  Y5, Y1, Y4; \
	VBROADCASTSS expc<>+28(SB), Y5; \
	VFMADD213PS  Y5, Y1, Y4; \
	VBROADCASTSS expc<>+32(SB), Y5; \
	VFMADD213PS  Y5, Y1, Y4; \
	VBROADCASTSS expc<>+36(SB), Y5; \
	VFMADD213PS  Y5, Y1, Y4; \
	VFMADD213PS  Y1, Y6, Y4; \
	VADDPS       Y11, Y4, Y4; \
	VCVTPS2DQ    Y2, Y2; \
	VPBROADCASTD expc<>+44(SB), Y5; \
	VPADDD       Y5, Y2, Y2; \
	VPSLLD       $23, Y2, Y2; \
	VMULPS       Y2, Y4, Y4; \
	VANDPS       Y8, Y4, Y4

// func geluAVX2(out, in []float32)
TEXT ·geluAVX2(SB), NOSPLIT, $0-48
	MOVQ out_base+0(FP), DI
	MOVQ in_base+24(FP), SI
	MOVQ in_len+32(FP), CX
	SHRQ $3, CX
	JZ   gdone
	VBROADCASTSS gelu<>+0(SB), Y15  // 1/√2
	VBROADCASTSS gelu<>+4(SB), Y14  // 4
	VBROADCASTSS gelu<>+8(SB), Y13  // -4
	VBROADCASTSS gelu<>+12(SB), Y12 // 0.5
	VBROADCASTSS gelu<>+16(SB), Y11 // 1

gloop:
	VMOVUPS (SI), Y0
	VMULPS  Y15, Y0, Y1    // z = x/√2
	VMINPS  Y14, Y1, Y1
	VMAXPS  Y13, Y1, Y1    // clamp to [-4, 4]
	ERF_Y1                 // Y3 = erf(z)
	VADDPS  Y11, Y3, Y3    // 1 + erf
	VMULPS  Y12, Y0, Y0    // 0.5·x
	VMULPS  Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  gloop

gdone:
	VZEROUPPER
	RET

// func expSubSumAVX2(s []float32, mx float32) float32
TEXT ·expSubSumAVX2(SB), NOSPLIT, $0-36
	MOVQ s_base+0(FP), SI
	MOVQ s_len+8(FP), CX
	VBROADCASTSS mx+24(FP), Y15
	VXORPS Y0, Y0, Y0      // running sum
	SHRQ $3, CX
	JZ   edone
	VBROADCASTSS expc<>+0(SB), Y10  // lower limit
	VBROADCASTSS expc<>+4(SB), Y9   // log2(e)
	VBROADCASTSS expc<>+40(SB), Y11 // 1

eloop:
	VMOVUPS (SI), Y1
	VSUBPS  Y15, Y1, Y1    // x = s - mx
	EXP_Y1                 // Y4 = exp(x)
	VMOVUPS Y4, (SI)
	VADDPS  Y4, Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JNZ  eloop

edone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS  X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func geluBackwardAVX2(dinp, inp, dout []float32)
//
// dinp[i] += dout[i]·(Φ(x) + x·φ(x)) for x = inp[i], len(inp) a multiple
// of 8: Φ(x) = 0.5·(1 + erf32(x/√2)) as geluAVX2, φ(x) = exp(−x²/2)/√(2π)
// with expSubSumAVX2's exp.
TEXT ·geluBackwardAVX2(SB), NOSPLIT, $0-72
	MOVQ dinp_base+0(FP), DI
	MOVQ inp_base+24(FP), SI
	MOVQ inp_len+32(FP), CX
	MOVQ dout_base+48(FP), DX
	SHRQ $3, CX
	JZ   gbdone
	VBROADCASTSS gelu<>+0(SB), Y15  // 1/√2
	VBROADCASTSS gelu<>+4(SB), Y14  // 4
	VBROADCASTSS gelu<>+8(SB), Y13  // -4
	VBROADCASTSS gelu<>+12(SB), Y12 // 0.5
	VBROADCASTSS gelu<>+16(SB), Y11 // 1
	VBROADCASTSS expc<>+0(SB), Y10  // exp's lower limit
	VBROADCASTSS expc<>+4(SB), Y9   // log2(e)

gbloop:
	VMOVUPS (SI), Y0
	VMULPS  Y15, Y0, Y1    // z = x/√2
	VMINPS  Y14, Y1, Y1
	VMAXPS  Y13, Y1, Y1    // clamp to [-4, 4]
	ERF_Y1                 // Y3 = erf(z)
	VADDPS  Y11, Y3, Y3    // 1 + erf
	VMULPS  Y12, Y3, Y7    // Φ = 0.5·(1 + erf), kept in Y7

	VMULPS       Y0, Y0, Y1
	VBROADCASTSS gelu<>+68(SB), Y2
	VMULPS       Y2, Y1, Y1 // t = −0.5·x²
	EXP_Y1                  // Y4 = exp(t)

	// dinp += dout·(Φ + x·φ), φ = exp(t)/√(2π).
	VBROADCASTSS gelu<>+72(SB), Y5
	VMULPS       Y5, Y4, Y4 // φ
	VFMADD231PS  Y4, Y0, Y7 // Φ + x·φ
	VMOVUPS      (DX), Y1
	VMOVUPS      (DI), Y2
	VFMADD231PS  Y7, Y1, Y2 // dinp + dout·GELU'
	VMOVUPS      Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ  gbloop

gbdone:
	VZEROUPPER
	RET

// func lnDevAVX2(o, x []float32, m float32) (s, q float32)
TEXT ·lnDevAVX2(SB), NOSPLIT, $0-64
	MOVQ         o_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSS m+48(FP), Y15
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3
	SHRQ         $4, CX
	JZ           ldtail

ldloop:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VSUBPS      Y15, Y4, Y4
	VSUBPS      Y15, Y5, Y5
	VMOVUPS     Y4, (DI)
	VMOVUPS     Y5, 32(DI)
	VADDPS      Y4, Y0, Y0
	VADDPS      Y5, Y1, Y1
	VFMADD231PS Y4, Y4, Y2
	VFMADD231PS Y5, Y5, Y3
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNZ         ldloop

ldtail:
	MOVQ x_len+32(FP), CX
	ANDQ $8, CX
	JZ   ldreduce
	VMOVUPS     (SI), Y4
	VSUBPS      Y15, Y4, Y4
	VMOVUPS     Y4, (DI)
	VADDPS      Y4, Y0, Y0
	VFMADD231PS Y4, Y4, Y2

ldreduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VEXTRACTF128 $1, Y0, X4
	VADDPS       X4, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, s+56(FP)
	VEXTRACTF128 $1, Y2, X4
	VADDPS       X4, X2, X2
	VHADDPS      X2, X2, X2
	VHADDPS      X2, X2, X2
	VMOVSS       X2, q+60(FP)
	VZEROUPPER
	RET

// func lnAffineAVX2(o, w, b []float32, d, rs float32)
TEXT ·lnAffineAVX2(SB), NOSPLIT, $0-80
	MOVQ         o_base+0(FP), DI
	MOVQ         o_len+8(FP), CX
	MOVQ         w_base+24(FP), SI
	MOVQ         b_base+48(FP), DX
	VBROADCASTSS d+72(FP), Y14
	VBROADCASTSS rs+76(FP), Y15
	SHRQ         $3, CX
	JZ           ladone

laloop:
	VMOVUPS     (DI), Y0
	VSUBPS      Y14, Y0, Y0
	VMULPS      Y15, Y0, Y0
	VMOVUPS     (DX), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	ADDQ        $32, DX
	DECQ        CX
	JNZ         laloop

ladone:
	VZEROUPPER
	RET

// func maxAVX2(s []float32) float32
//
// The largest value of s, len(s) a positive multiple of 8: four running
// maxima over 32 values a step, then one over 8.
TEXT ·maxAVX2(SB), NOSPLIT, $0-28
	MOVQ s_base+0(FP), SI
	MOVQ s_len+8(FP), CX
	VMOVUPS (SI), Y0
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	MOVQ CX, DX
	SHRQ $5, DX
	JZ   mtail

mloop:
	VMAXPS (SI), Y0, Y0
	VMAXPS 32(SI), Y1, Y1
	VMAXPS 64(SI), Y2, Y2
	VMAXPS 96(SI), Y3, Y3
	ADDQ $128, SI
	DECQ DX
	JNZ  mloop

mtail:
	ANDQ $31, CX
	SHRQ $3, CX
	JZ   mdone

mloop8:
	VMAXPS (SI), Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JNZ  mloop8

mdone:
	VMAXPS Y1, Y0, Y0
	VMAXPS Y3, Y2, Y2
	VMAXPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET
