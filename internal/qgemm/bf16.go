package qgemm

import (
	"fmt"
	"math"
)

// BF16Weights is a weight matrix W [N, K] (torch's Linear layout,
// [out_features, in_features]) rounded to bf16 and packed for the kernel in
// use: panels of nr output channels, each K/2 steps (K rounded up to even)
// of nr uint32, a uint32 holding the bf16 of an even k in its low half and
// of the next k in its high half. Prepare it once (NewBF16Weights); it is
// read-only afterwards.
type BF16Weights struct {
	N, K   int
	steps  int // pairs: ceil(K/2)
	nr     int
	packed []uint32
}

// ToBF16 rounds f to bf16 (round to nearest, ties to even; NaN stays NaN)
// and returns its bits. Subnormal inputs become a signed zero, as the
// AVX512-BF16 instructions treat them.
func ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	switch {
	case b&0x7fffffff > 0x7f800000: // NaN: keep it quiet
		return uint16(b>>16) | 0x40
	case b&0x7f800000 == 0: // zero or subnormal
		return uint16(b>>16) & 0x8000
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// FromBF16 widens bf16 bits to float32 (exact).
func FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// NewBF16Weights rounds w [n, k] to bf16 and packs it for the kernel in
// use. It panics if w holds fewer than n*k values.
func NewBF16Weights(w []float32, n, k int) *BF16Weights { return newBF16Weights(curBF16, w, n, k) }

func newBF16Weights(g *impl, w []float32, n, k int) *BF16Weights {
	if n <= 0 || k <= 0 || len(w) < n*k {
		panic(fmt.Sprintf("qgemm: NewBF16Weights: %d values for %d×%d", len(w), n, k))
	}
	steps := (k + 1) / 2
	nr := g.nr
	panels := (n + nr - 1) / nr
	bw := &BF16Weights{N: n, K: k, steps: steps, nr: nr, packed: make([]uint32, panels*steps*nr)}
	for j := 0; j < n; j++ {
		row := w[j*k : j*k+k]
		dst := bw.packed[(j/nr)*steps*nr+j%nr:]
		for p := 0; p < steps; p++ {
			lo := uint32(ToBF16(row[2*p]))
			var hi uint32
			if 2*p+1 < k {
				hi = uint32(ToBF16(row[2*p+1]))
			}
			dst[p*nr] = lo | hi<<16
		}
	}
	return bw
}

// Bytes returns the memory the packed weights take.
func (w *BF16Weights) Bytes() int { return 4 * len(w.packed) }

// LinearBF16 computes out [m, N] = bf16(in)·bf16(W)ᵀ + bias for in [m, K]
// (rows rounded to bf16 on the fly), with float32 accumulation; bias [N]
// may be nil. Large products are split across GOMAXPROCS goroutines.
func LinearBF16(out, in []float32, m int, w *BF16Weights, bias []float32) {
	linearBF16(curBF16, 0, out, in, m, w, bias)
}

// convertBF16Rows writes rows of x [rows, k] as bf16 pairs into dst
// (rows × steps), the last pair of an odd k padded with zero.
func convertBF16Rows(dst []uint32, x []float32, rows, k, steps int) {
	for r := 0; r < rows; r++ {
		src := x[r*k : r*k+k]
		d := dst[r*steps : r*steps+steps]
		convertBF16(d[:k/2], src[:k/2*2])
		if k%2 == 1 {
			d[steps-1] = uint32(ToBF16(src[k-1]))
		}
	}
}

// convertBF16Go is convertBF16 in Go: dst[p] = bf16(x[2p]) | bf16(x[2p+1])<<16.
func convertBF16Go(dst []uint32, x []float32) {
	for p := range dst {
		dst[p] = uint32(ToBF16(x[2*p])) | uint32(ToBF16(x[2*p+1]))<<16
	}
}

func linearBF16(g *impl, threads int, out, in []float32, m int, w *BF16Weights, bias []float32) {
	n, k := w.N, w.K
	checkLinear("LinearBF16", out, in, m, n, k, bias)
	if w.nr != g.nr {
		panic("qgemm: BF16Weights packed for another kernel")
	}
	if m == 0 {
		return
	}
	warnFallback(&warnBF16, fallbackBF16)
	mr, nr, steps := g.mr, g.nr, w.steps
	panels := (n + nr - 1) / nr
	run(g, m, m*n*k, threads, func(ws *workspace, i0, i1 int) {
		mb := i1 - i0
		rows := (mb + mr - 1) / mr * mr
		if cap(ws.a16) < rows*steps {
			ws.a16 = make([]uint32, rows*steps)
		}
		a := ws.a16[:rows*steps]
		convertBF16Rows(a, in[i0*k:], mb, k, steps)
		clear(a[mb*steps:])
		t := &ws.t
		for j := 0; j < panels; j++ {
			bp := w.packed[j*steps*nr : (j+1)*steps*nr]
			j0 := j * nr
			nn := min(nr, n-j0)
			t.bias = panelBias(ws, bias, j0, nn, nr)
			for ir := 0; ir < mb; ir += mr {
				mm := min(mr, mb-ir)
				if mm == mr && nn == nr {
					o := (i0+ir)*n + j0
					g.bf16(steps, a[ir*steps:], steps, bp, out[o:o+(mr-1)*n+nr], n, t)
					continue
				}
				g.bf16(steps, a[ir*steps:], steps, bp, ws.tile[:mr*nr], nr, t)
				storeEdge(out[(i0+ir)*n+j0:], n, ws.tile[:], nr, mm, nn)
			}
		}
	})
}

// panelBias returns the nr biases of the panel at column j0 (nn real
// columns), zero-padded, or zeros when bias is nil.
func panelBias(ws *workspace, bias []float32, j0, nn, nr int) []float32 {
	if bias != nil && nn == nr {
		return bias[j0 : j0+nr]
	}
	clear(ws.bias[:])
	if bias != nil {
		copy(ws.bias[:], bias[j0:j0+nn])
	}
	return ws.bias[:nr]
}

// storeEdge copies the mm×nn corner of an edge tile t (row stride ldt)
// into out (row stride ldo).
func storeEdge(out []float32, ldo int, t []float32, ldt, mm, nn int) {
	for r := 0; r < mm; r++ {
		copy(out[r*ldo:r*ldo+nn], t[r*ldt:r*ldt+nn])
	}
}

// storeF32Go is storeF32 in Go: o = t + bias (bias may be nil).
func storeF32Go(o, t, bias []float32) {
	t = t[:len(o)]
	if bias == nil {
		copy(o, t)
		return
	}
	bias = bias[:len(o)]
	for i, v := range t {
		o[i] = v + bias[i]
	}
}
