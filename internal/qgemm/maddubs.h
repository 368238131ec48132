// maddubs.h: what the AVX2 VPMADDUBSW kernels with 6-bit weights share
// (kernelw6_amd64.s, kernelw6a7_amd64.s): the −1 words that widen int16
// sums, the two-quad and one-quad steps of a 4×16 tile, and its
// dequantising epilogue. Registers as those files say: the tile in
// Y4..Y11, rows of A at AX, AX+SI, AX+2·SI, R8, the panel at BX.

// w6neg is sixteen −1 words: VPMADDWD by it from memory widens the int16
// sums without a register (or an all-ones VPCMPEQW per row, which took a
// vector ALU slot from the multiplies: 12.7 → 12.4 cycles per 512
// products with the operands in L1).
DATA w6neg<>+0(SB)/8, $-1
DATA w6neg<>+8(SB)/8, $-1
DATA w6neg<>+16(SB)/8, $-1
DATA w6neg<>+24(SB)/8, $-1
GLOBL w6neg<>(SB), RODATA|NOPTR, $32

// W6ROW1 is one quad of a row (the odd last quad).
#define W6ROW1(a0, lo, hi) \
	VPBROADCASTD a0, Y0; \
	VPMADDUBSW (BX), Y0, Y1; \
	VPMADDUBSW 32(BX), Y0, Y2; \
	VPMADDWD Y3, Y1, Y1; \
	VPMADDWD Y3, Y2, Y2; \
	VPSUBD Y1, lo, lo; \
	VPSUBD Y2, hi, hi

// W6OUT dequantises and stores row r (accumulators lo, hi) at DI, then
// moves DI on by ldo (R11). R9 = ep.cs, R10 = ep.sc, R12 = ep.bias, R13 =
// ep.zp, R14 = ep.sa.
#define W6OUT(r, lo, hi) \
	VPBROADCASTD (4*r)(R13), Y0; \
	VPMULLD (R9), Y0, Y1; \
	VPMULLD 32(R9), Y0, Y2; \
	VPSUBD Y1, lo, lo; \
	VPSUBD Y2, hi, hi; \
	VCVTDQ2PS lo, lo; \
	VCVTDQ2PS hi, hi; \
	VBROADCASTSS (4*r)(R14), Y0; \
	VMULPS (R10), Y0, Y1; \
	VMULPS 32(R10), Y0, Y2; \
	VMULPS Y1, lo, lo; \
	VMULPS Y2, hi, hi; \
	VADDPS (R12), lo, lo; \
	VADDPS 32(R12), hi, hi; \
	VMOVUPS lo, (DI); \
	VMOVUPS hi, 32(DI); \
	ADDQ R11, DI

#define W4ROW(a0, a1, lo, hi) \
	VPBROADCASTD a0, Y0; \
	VPMADDUBSW Y12, Y0, Y1; \
	VPMADDUBSW Y13, Y0, Y2; \
	VPBROADCASTD a1, Y0; \
	VPMADDUBSW Y14, Y0, Y3; \
	VPMADDUBSW Y15, Y0, Y0; \
	VPADDW Y3, Y1, Y1; \
	VPADDW Y0, Y2, Y2; \
	VPMADDWD w6neg<>(SB), Y1, Y1; \
	VPMADDWD w6neg<>(SB), Y2, Y2; \
	VPSUBD Y1, lo, lo; \
	VPSUBD Y2, hi, hi

// W4STEP2 sums two quads of the four rows: A at byte offset oa, the
// panel at ob.
#define W4STEP2(oa, ob) \
	VMOVDQU ob(BX), Y12; \
	VMOVDQU (ob+32)(BX), Y13; \
	VMOVDQU (ob+64)(BX), Y14; \
	VMOVDQU (ob+96)(BX), Y15; \
	W4ROW(oa(AX), (oa+4)(AX), Y4, Y5); \
	W4ROW(oa(AX)(SI*1), (oa+4)(AX)(SI*1), Y6, Y7); \
	W4ROW(oa(AX)(SI*2), (oa+4)(AX)(SI*2), Y8, Y9); \
	W4ROW(oa(R8), (oa+4)(R8), Y10, Y11)
