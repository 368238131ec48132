package qgemm

import (
	"fmt"
	"math"
)

// Int8Weights is a weight matrix W [N, K] (torch's Linear layout)
// quantised symmetrically per output channel, W[j,:] ≈ Scale[j]·q[j,:],
// with q in [-qmax, qmax], packed for the kernel in use: panels of nr
// output channels, each K/4 steps (K rounded up to a multiple of 4) of nr
// groups of four int8. qmax is 127, or less for the AVX2 kernels, whose
// VPMADDUBSW sums pairs of u8·s8 products in saturating int16: 31 for the
// kernel pinned by BLAS32_KERNEL=avx2w6, which adds two such pairs in
// int16 (|sum| <= 4·255·31 = 31620 < 32767), and for the one in use on
// AVX2 (avx2), which takes activations of 7 bits and adds four (|sum| <=
// 8·127·31 = 31496); 63 for the one pinned by BLAS32_KERNEL=avx2w7 (a pair is at
// most 2·255·63 = 32130; ONNX Runtime's reduce_range does the same).
// Either way every sum is exact. The column sums
// Σₖ q[j,k] are kept for the zero-point compensation. Prepare it once
// (NewInt8Weights); it is read-only afterwards.
type Int8Weights struct {
	N, K   int
	Scale  []float32 // per output channel
	QMax   int       // 127 or 63
	steps  int       // quads: ceil(K/4)
	nr     int
	packed []int8
	colSum []int32
}

// NewInt8Weights quantises w [n, k] per output channel for the kernel in
// use. It panics if w holds fewer than n*k values.
func NewInt8Weights(w []float32, n, k int) *Int8Weights { return newInt8Weights(curInt8, w, n, k) }

// quantizeWeightRow quantises one output channel symmetrically to
// [-qmax, qmax]: q = round(w/s) with s = max|w|/qmax (1 for a zero row).
func quantizeWeightRow(q []int8, w []float32, qmax int) float32 {
	var amax float32
	for _, v := range w {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	s := amax / float32(qmax)
	if s == 0 || math.IsInf(float64(s), 0) || math.IsNaN(float64(s)) {
		s = 1
	}
	for i, v := range w {
		r := math.RoundToEven(float64(v / s))
		q[i] = int8(max(-float64(qmax), min(float64(qmax), r)))
	}
	return s
}

func newInt8Weights(g *impl, w []float32, n, k int) *Int8Weights {
	if n <= 0 || k <= 0 || len(w) < n*k {
		panic(fmt.Sprintf("qgemm: NewInt8Weights: %d values for %d×%d", len(w), n, k))
	}
	steps := (k + 3) / 4
	nr := g.nr
	panels := (n + nr - 1) / nr
	// Scale and colSum are zero-padded to whole panels for the kernels.
	qw := &Int8Weights{N: n, K: k, Scale: make([]float32, panels*nr)[:n], QMax: int(g.int8Max), steps: steps, nr: nr,
		packed: make([]int8, panels*steps*nr*4), colSum: make([]int32, panels*nr)}
	q := make([]int8, k)
	for j := 0; j < n; j++ {
		qw.Scale[j] = quantizeWeightRow(q, w[j*k:j*k+k], qw.QMax)
		base := (j/nr)*steps*nr*4 + (j%nr)*4
		var s int32
		for p, v := range q {
			qw.packed[base+(p/4)*nr*4+p%4] = v
			s += int32(v)
		}
		qw.colSum[j] = s
	}
	return qw
}

// Bytes returns the memory the packed weights take.
func (w *Int8Weights) Bytes() int { return len(w.packed) + 8*w.N }

// QuantizeRow quantises one row of activations to u8 as ONNX Runtime's
// DynamicQuantizeLinear does: the range [min(0, min x), max(0, max x)] is
// cut into 255 steps, scale = range/255, the zero point zp =
// round(-min/scale) and q = clamp(round(x/scale) + zp, 0, 255), rounding
// ties to even. Here x/scale is computed as x·(1/scale) in float32. A row
// of zeros has scale 1 and zero point 0. It returns scale and zp; dst
// receives len(x) values.
func QuantizeRow(dst []uint8, x []float32) (scale float32, zp int32) {
	var lo, hi float32
	for _, v := range x {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	scale, inv, zp := rowParams(lo, hi, 255)
	quantizeRowWith(dst[:len(x)], x, inv, zp, 255)
	return scale, zp
}

// rowParams returns the scale, its inverse and the zero point of a row
// with range [lo, hi] (lo <= 0 <= hi) cut into qa steps: 255 for u8
// activations, 127 for the 7-bit activations of the AVX2 w6a7 kernel.
func rowParams(lo, hi float32, qa int32) (scale, inv float32, zp int32) {
	scale = (hi - lo) / float32(qa)
	if !(scale > 0) || math.IsInf(float64(scale), 0) {
		return 1, 1, 0
	}
	inv = 1 / scale
	z := math.RoundToEven(float64(-lo * inv))
	return scale, inv, int32(max(0, min(float64(qa), z)))
}

// quantizeRowGo is quantizeRowWith in Go.
func quantizeRowGo(dst []uint8, x []float32, inv float32, zp, qa int32) {
	dst = dst[:len(x)]
	for i, v := range x {
		r := math.RoundToEven(float64(v*inv)) + float64(zp)
		dst[i] = uint8(max(0, min(float64(qa), r)))
	}
}

// LinearInt8 computes out [m, N] = dequant(q(in)·qᵀ) + bias for in [m, K]:
// each row of in is quantised to u8 (QuantizeRow), the products summed
// exactly in int32, and out[i,j] = sa_i·Scale[j]·(Σₖ qa·qw − zp_i·Σₖ qw) +
// bias[j]; bias may be nil. Large products are split across GOMAXPROCS
// goroutines.
func LinearInt8(out, in []float32, m int, w *Int8Weights, bias []float32) {
	linearInt8(curInt8, 0, out, in, m, w, bias)
}

// RowSource produces row i (0 <= i < m) of the activations of a product,
// K values: it returns them either in scratch (len K, the caller's
// per-goroutine buffer) or in storage of its own. It is called once per
// row, from the goroutine that quantises that row, concurrently for
// different rows.
type RowSource func(i int, scratch []float32) []float32

// LinearInt8Rows is LinearInt8 whose input rows come from src instead of a
// matrix: the step that produces the activations (a GELU, a residual and
// layer norm) runs row by row where the row is quantised, so that the
// quantiser reads the floats from L1 right after they are made instead of
// reading the whole matrix again from memory. The result is LinearInt8's
// on the rows src returns, bit for bit.
func LinearInt8Rows(out []float32, m int, src RowSource, w *Int8Weights, bias []float32) {
	linearInt8Src(curInt8, 0, out, nil, src, m, w, bias)
}

// quantizeRows quantises rows of x [rows, k] to [0, qa] into dst (rows ×
// lda bytes, the padding zero), recording each row's scale and zero point.
func quantizeRows(dst []uint8, lda int, scale []float32, zp []int32, x []float32, rows, k int, qa int32) {
	for r := 0; r < rows; r++ {
		src := x[r*k : r*k+k]
		lo, hi := minMax(src)
		s, inv, z := rowParams(min(lo, 0), max(hi, 0), qa)
		d := dst[r*lda : r*lda+lda]
		quantizeRowWith(d[:k], src, inv, z, qa)
		clear(d[k:])
		scale[r], zp[r] = s, z
	}
}

// minMaxGo is minMax in Go.
func minMaxGo(x []float32) (lo, hi float32) {
	if len(x) == 0 {
		return 0, 0
	}
	lo, hi = x[0], x[0]
	for _, v := range x {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return lo, hi
}

func linearInt8(g *impl, threads int, out, in []float32, m int, w *Int8Weights, bias []float32) {
	checkLinear("LinearInt8", out, in, m, w.N, w.K, bias)
	linearInt8Src(g, threads, out, in, nil, m, w, bias)
}

// linearInt8Src is linearInt8 over the rows of in, or of src when it is
// not nil.
func linearInt8Src(g *impl, threads int, out, in []float32, src RowSource, m int, w *Int8Weights, bias []float32) {
	n, k := w.N, w.K
	if src != nil {
		checkLinear("LinearInt8Rows", out, nil, m, n, 0, bias)
	}
	if w.nr != g.nr || int(g.int8Max) < w.QMax {
		panic("qgemm: Int8Weights packed for another kernel")
	}
	if m == 0 {
		return
	}
	warnFallback(&warnInt8, fallbackInt8)
	mr, nr, steps := g.mr, g.nr, w.steps
	qa := g.actMax()
	lda := steps * 4
	panels := (n + nr - 1) / nr
	run(g, m, m*n*k, threads, func(ws *workspace, i0, i1 int) {
		mb := i1 - i0
		rows := (mb + mr - 1) / mr * mr
		if cap(ws.a8) < rows*lda {
			ws.a8 = make([]uint8, rows*lda)
		}
		if cap(ws.scale) < rows {
			ws.scale, ws.zp = make([]float32, rows), make([]int32, rows)
		}
		ws.scale, ws.zp = ws.scale[:rows], ws.zp[:rows]
		clear(ws.scale[mb:])
		clear(ws.zp[mb:])
		a := ws.a8[:rows*lda]
		if src == nil {
			quantizeRows(a, lda, ws.scale, ws.zp, in[i0*k:], mb, k, qa)
		} else {
			if cap(ws.row) < k {
				ws.row = make([]float32, k)
			}
			for r := 0; r < mb; r++ {
				x := src(i0+r, ws.row[:k])
				quantizeRows(a[r*lda:], lda, ws.scale[r:], ws.zp[r:], x[:k], 1, k, qa)
			}
		}
		clear(a[mb*lda:])
		t := &ws.t
		for j := 0; j < panels; j++ {
			bp := w.packed[j*steps*nr*4 : (j+1)*steps*nr*4]
			j0 := j * nr
			nn := min(nr, n-j0)
			t.bias = panelBias(ws, bias, j0, nn, nr)
			t.cs, t.sc = w.colSum[j0:j0+nr], w.Scale[j0:j0+nr:j0+nr]
			ir := 0
			if tiles := mb / mr; g.int8Tiles != nil && nn == nr && tiles > 0 {
				ir = tiles * mr
				t.zp, t.sa = ws.zp[:ir], ws.scale[:ir]
				o := i0*n + j0
				g.int8Tiles(tiles, steps, a, lda, bp, out[o:o+(ir-1)*n+nr], n, t)
			}
			for ; ir < mb; ir += mr {
				mm := min(mr, mb-ir)
				t.zp, t.sa = ws.zp[ir:ir+mr], ws.scale[ir:ir+mr]
				if mm == mr && nn == nr {
					o := (i0+ir)*n + j0
					g.int8(steps, a[ir*lda:], lda, bp, out[o:o+(mr-1)*n+nr], n, t)
					continue
				}
				g.int8(steps, a[ir*lda:], lda, bp, ws.tile[:mr*nr], nr, t)
				storeEdge(out[(i0+ir)*n+j0:], n, ws.tile[:], nr, mm, nn)
			}
		}
	})
}

// storeDequantGo is storeDequant in Go: o[j] = float32(t[j] − zp·cs[j]) ·
// (sa·sc[j]) + bias[j] (bias may be nil).
func storeDequantGo(o []float32, t, cs []int32, sc, bias []float32, zp int32, sa float32) {
	t, cs, sc = t[:len(o)], cs[:len(o)], sc[:len(o)]
	for j := range o {
		v := float32(t[j]-zp*cs[j]) * (sa * sc[j])
		if bias != nil {
			v += bias[j]
		}
		o[j] = v
	}
}
