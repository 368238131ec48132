// Package qgemm holds the reduced-precision matrix products of inference:
// a linear layer out = in·Wᵀ + bias whose weights W [N, K] (torch's Linear
// layout) are prepared once, at load, either as bf16 (BF16Weights) or as
// int8 quantised per output channel (Int8Weights), and whose float32
// activations are converted on the fly: rounded to bf16, or quantised
// dynamically per row (token) to u8 with a zero point, as ONNX Runtime's
// dynamic quantisation does. Accumulation is float32 (bf16) or exact int32
// (int8); the outputs are float32.
//
// The dispatch follows internal/blas32: a pure-Go reference (ref.go)
// defines the semantics; a blocked driver runs one micro-kernel per
// precision chosen at start-up from the CPU's features: AVX512-BF16
// (VDPBF16PS) and AVX512-VNNI (VPDPBUSD) with 12×32 tiles, AVX2 (bf16
// widened to float32 in registers, FMA, 6×16; VPMADDUBSW with 6-bit
// weights and 7-bit activations, 4×16), or a pure-Go kernel (other CPUs
// and the purego build). The environment variable
// BLAS32_KERNEL=avx2|avx2w6|avx2w7|purego, read once, pins a slower
// kernel for comparisons, as it does for blas32 (avx2w6: the AVX2 int8
// kernel with 6-bit weights and u8 activations, two quads per int16 lane;
// avx2w7: 7-bit weights, one quad per lane). A CPU that lacks
// the instructions of a precision falls back and says so once on stderr,
// the first time a product of that precision runs.
//
// The driver cuts the rows of the product into blocks of mc rows (taken by
// the goroutines from a shared counter), converts or quantises a block's
// activations once into a row-major buffer, and runs the micro-kernel over
// every nr-wide weight panel and mr-row slice of the block, all of K at
// once: a weight panel (at most 32×3072 bf16, 192 KiB) stays in L2 while
// the block's row slices sweep over it. Full tiles are stored straight into
// the output, with the bias (and for int8 the dequantisation) applied in
// the kernel's epilogue; edge tiles go through a scratch tile.
//
// Every function is safe for concurrent use; prepared weights are
// read-only.
package qgemm

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// tileOut is what a micro-kernel needs to finish a tile: the panel's nr
// biases (zeros when there are none) and, for int8, its nr weight column
// sums and scales and the tile's mr activation zero points and scales.
type tileOut struct {
	bias []float32
	cs   []int32
	sc   []float32
	zp   []int32
	sa   []float32
	tmpF [16 * 32]float32 // scratch of the kernels that store through memory
	tmpI [16 * 32]int32
}

// kernelBF16 computes a full mr×nr tile out = A·B + bias (out row stride
// ldo) from rows of bf16 pairs (a, row r at a[r*lda:], lda in uint32
// elements) and an nr-wide packed weight panel b (steps of nr uint32
// pairs), summing steps pairs in float32.
type kernelBF16 func(steps int, a []uint32, lda int, b []uint32, out []float32, ldo int, t *tileOut)

// kernelInt8 computes a full mr×nr tile out[r,j] = float32(Σ a·b −
// zp[r]·cs[j])·(sa[r]·sc[j]) + bias[j] (out row stride ldo) from rows of
// u8 quads (a, row r at a[r*lda:], lda in bytes) and an nr-wide packed s8
// weight panel b (steps of nr quads), the sums exact in int32.
type kernelInt8 func(steps int, a []uint8, lda int, b []int8, out []float32, ldo int, t *tileOut)

// kernelInt8Tiles is kernelInt8 over tiles full mr×nr tiles stacked down
// the rows in one call: tile i reads rows i·mr.. of a, writes rows i·mr..
// of out and takes zero points and scales i·mr.. of t.zp and t.sa.
type kernelInt8Tiles func(tiles, steps int, a []uint8, lda int, b []int8, out []float32, ldo int, t *tileOut)

// impl is one implementation: tile sizes, kernels and the weight range
// its int8 kernel can take exactly.
type impl struct {
	name      string
	mr, nr    int
	mc        int // rows per block (a multiple of mr)
	bf16      kernelBF16
	int8      kernelInt8
	int8Tiles kernelInt8Tiles // optional: the full tiles of a panel at once
	int8Max   int8            // largest |weight| the int8 kernel sums exactly
	int8AMax  uint8           // largest activation it takes (0: 255, u8)
}

// actMax returns the largest quantised activation g's int8 kernel takes:
// 255 (u8), or 127 for the 7-bit activations of the w6a7 kernel.
func (g *impl) actMax() int32 {
	if g.int8AMax == 0 {
		return 255
	}
	return int32(g.int8AMax)
}

// The implementations in use for each precision, set by init and never
// changed after, and what to say once on stderr when the CPU lacks the
// fast kernel of a precision.
var (
	curBF16, curInt8           *impl
	fallbackBF16, fallbackInt8 string
	warnBF16, warnInt8         sync.Once
)

// Implementation names the kernels in use, such as "avx512 12x32", or
// "bf16 avx2 6x16, int8 avx512 12x32" when they differ, for benchmark
// reports.
func Implementation() string {
	if curBF16 == curInt8 {
		return curBF16.name
	}
	return "bf16 " + curBF16.name + ", int8 " + curInt8.name
}

// Int8ActivationBits returns the width of the quantised activations of
// the kernel in use: 8 (u8, as ONNX Runtime), or 7 (0..127: the AVX2
// w6a7 kernel, whose VPMADDUBSW then takes four quads per int16 lane).
// Like Int8WeightBits, it belongs in the key of anything cached from the
// products.
func Int8ActivationBits() int {
	if curInt8.actMax() <= 127 {
		return 7
	}
	return 8
}

// Int8WeightBits returns the width of the int8 weights NewInt8Weights
// makes for the kernel in use: 8 (|q| ≤ 127: AVX512-VNNI, AVX-VNNI, pure
// Go), 6 (|q| ≤ 31: AVX2's VPMADDUBSW with four products per int16 lane)
// or 7 (|q| ≤ 63: the AVX2 kernel pinned by BLAS32_KERNEL=avx2w7). Products at different widths
// differ slightly, so it belongs in the key of anything cached from them.
func Int8WeightBits() int {
	switch {
	case curInt8.int8Max <= 31:
		return 6
	case curInt8.int8Max <= 63:
		return 7
	}
	return 8
}

func warnFallback(once *sync.Once, msg string) {
	once.Do(func() {
		if msg != "" {
			fmt.Fprintf(os.Stderr, "qgemm: %s\n", msg)
		}
	})
}

// parallelMin is the smallest m*n*k split across goroutines.
const parallelMin = 1 << 21

// blockRows returns the row blocks of an m-row product for g: mc rows,
// fewer when that keeps every goroutine busy.
func blockRows(g *impl, m, threads int) int {
	mc := g.mc
	for mc > g.mr && (m+mc-1)/mc < 2*threads {
		mc -= g.mr
	}
	return mc
}

// run runs body(i0, i1) over the row blocks of [0, m), on up to threads
// goroutines that take blocks from a shared counter.
func run(g *impl, m, work, threads int, body func(ws *workspace, i0, i1 int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if work < parallelMin {
		threads = 1
	}
	mc := blockRows(g, m, threads)
	threads = min(threads, (m+mc-1)/mc)
	var next atomic.Int64
	worker := func() {
		ws := wsPool.Get().(*workspace)
		for {
			i0, i1 := takeRows(&next, m, mc, g.mr, threads)
			if i0 >= m {
				break
			}
			body(ws, i0, i1)
		}
		wsPool.Put(ws)
	}
	var wg sync.WaitGroup
	wg.Add(threads - 1)
	for t := 1; t < threads; t++ {
		go func() {
			defer wg.Done()
			worker()
		}()
	}
	worker()
	wg.Wait()
}

// takeRows takes the next block of rows [i0, i1) of an m-row product from
// the shared counter next (i0 >= m: none left). Blocks are mc rows while
// at least two per goroutine remain, then shrink to a share of what is
// left (guided scheduling, whole tiles of mr rows, at least 4·mr rows), so
// that the goroutines finish together instead of one waiting on another's
// last full block. A row's result does not depend on its block.
func takeRows(next *atomic.Int64, m, mc, mr, threads int) (i0, i1 int) {
	for {
		i0 = int(next.Load())
		if i0 >= m {
			return m, m
		}
		size := mc
		if left := m - i0; left < 2*threads*mc {
			size = min(mc, max(4*mr, (left/(2*threads)+mr-1)/mr*mr))
		}
		i1 = min(m, i0+size)
		if next.CompareAndSwap(int64(i0), int64(i1)) {
			return i0, i1
		}
	}
}

// workspace holds one goroutine's converted activations and tile scratch.
type workspace struct {
	a16   []uint32
	a8    []uint8
	row   []float32 // one produced row of LinearInt8Rows
	scale []float32
	zp    []int32
	tile  [16 * 32]float32 // output of edge tiles
	bias  [32]float32      // a panel's bias, zero-padded
	t     tileOut
}

var wsPool = sync.Pool{New: func() any { return new(workspace) }}

func checkLinear(what string, out, in []float32, m, n, k int, bias []float32) {
	if m < 0 {
		panic(fmt.Sprintf("qgemm: %s: negative m %d", what, m))
	}
	if len(in) < m*k || len(out) < m*n || (bias != nil && len(bias) < n) {
		panic(fmt.Sprintf("qgemm: %s: m=%d n=%d k=%d with len(in)=%d len(out)=%d len(bias)=%d", what, m, n, k, len(in), len(out), len(bias)))
	}
}
