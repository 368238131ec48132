package blas32

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The blocked GEMM follows BLIS/GotoBLAS: C is cut into nc-column blocks
// (loop jc), k into kc-deep slices (loop pc) for which a kc×nc block of op(B)
// is packed into nr-wide column panels, and m into mc-row blocks (loop ic)
// for which an mc×kc block of op(A) is packed into mr-tall row panels. The
// micro-kernel then multiplies one A panel by one B panel into an mr×nr tile
// of C held in registers (loops jr, ir). The B panel (kc×nr) stays in L1 and
// the packed A block in L2 while the kernel sweeps over it.

// microKernel computes one full mr×nr tile C = alpha*Ap·Bp + beta*C, where Ap
// is an mr-tall packed panel (k steps of mr values) and Bp an nr-wide packed
// panel (k steps of nr values). C starts at c[0] with row stride ldc. When
// beta is 0, C is not read.
type microKernel func(k int, a, b, c []float32, ldc int, alpha, beta float32)

// gemmImpl is one implementation of the blocked GEMM: its micro-kernel, the
// register tile and the cache blocking. It is chosen once at start-up and
// only read afterwards.
type gemmImpl struct {
	name       string
	mr, nr     int
	mc, kc, nc int
	kernel     microKernel
	small      smallKernel // unpacked tiles for SgemmSmall; nil: SgemmSerial
}

// impl is the GEMM implementation in use, set by init (see kernel_*.go) and
// never changed afterwards.
var impl gemmImpl

// parallelMin is the smallest m*n*k for which Sgemm splits the work across
// goroutines; below it the start-up of goroutines costs more than it saves.
const parallelMin = 1 << 21

// maxTile bounds mr*nr of every kernel (for the edge-tile scratch buffer).
const maxTile = 16 * 32

// workspace holds the packing buffers of one goroutine. Workspaces come from
// a sync.Pool, so concurrent calls never share one. Two pools keep the
// small per-goroutine buffers (an A panel, or an A and a B block) apart
// from the large buffers that hold the whole packed B of a tall product,
// so that neither kind regrows into the other's size on every call.
type workspace struct {
	buf  []float32
	tile [maxTile]float32 // C scratch of edge tiles (on the stack it escapes: 2 KB a call)
}

var (
	wsPool       = sync.Pool{New: func() any { return new(workspace) }}
	wsSharedPool = sync.Pool{New: func() any { return new(workspace) }}
)

// alignedSplit returns two 64-byte-aligned slices of na and nb floats backed
// by w.buf, growing it when needed.
func (w *workspace) alignedSplit(na, nb int) ([]float32, []float32) {
	const pad = 16 // floats: 64 bytes
	na2 := (na + pad - 1) / pad * pad
	need := na2 + nb + pad
	if cap(w.buf) < need {
		// Grow by at least a quarter, so that slowly growing shapes do
		// not reallocate on every call.
		w.buf = make([]float32, max(need, cap(w.buf)+cap(w.buf)/4))
	}
	buf := w.buf[:need]
	off := 0
	if r := uintptr(unsafe.Pointer(&buf[0])) % 64; r != 0 {
		off = int(64-r) / 4
	}
	return buf[off : off+na : off+na], buf[off+na2 : off+na2+nb : off+na2+nb]
}

// checkGemm panics with a clear message when the arguments of a GEMM call
// are inconsistent: that is a programming error of the caller.
func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas32: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	checkMat := func(name string, rows, cols int, x []float32, ld int) {
		if ld < max(1, cols) {
			panic(fmt.Sprintf("blas32: leading dimension of %s is %d, want >= %d", name, ld, cols))
		}
		if rows > 0 && cols > 0 && len(x) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("blas32: %s has %d elements, want >= %d (%d×%d, stride %d)", name, len(x), (rows-1)*ld+cols, rows, cols, ld))
		}
	}
	if transA {
		checkMat("A", k, m, a, lda)
	} else {
		checkMat("A", m, k, a, lda)
	}
	if transB {
		checkMat("B", n, k, b, ldb)
	} else {
		checkMat("B", k, n, b, ldb)
	}
	checkMat("C", m, n, c, ldc)
}

// scaleC sets C = beta*C (C = 0 when beta is 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			Scale(beta, row)
		}
	}
}

// sgemm is the common entry point: it validates, handles the degenerate
// cases and splits the work over up to threads goroutines.
func sgemm(g *gemmImpl, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if threads > 1 && m*n*k >= parallelMin {
		gemmParallel(g, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmSerial(g, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmParallel splits the product over at most threads goroutines, along m
// or n (whichever is longer in register tiles). No locks: the goroutines
// write disjoint parts of C and coordinate through one join and an atomic
// counter (gemmParallelSharedB) or not at all (gemmParallelStatic).
func gemmParallel(g *gemmImpl, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := g.mr, g.nr
	mTiles := (m + mr - 1) / mr
	nTiles := (n + nr - 1) / nr
	splitM := mTiles*nr >= nTiles*mr // compare extents, not tile counts
	tiles := nTiles
	if splitM {
		tiles = mTiles
	}
	t := min(threads, tiles)
	if t <= 1 {
		gemmSerial(g, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if splitM && n*k <= sharedBMax {
		gemmParallelSharedB(g, t, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmParallelStatic(g, t, splitM, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmParallelStatic cuts C into t stripes of whole register tiles, along m
// or n, and runs one serial GEMM per stripe: the stripes are disjoint and the
// goroutines share nothing but read-only inputs. It serves the wide
// products (split along n, each goroutine packing its share of B and all of
// the small A) and tall ones whose B is too large to pack at once.
func gemmParallelStatic(g *gemmImpl, t int, splitM bool, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := g.mr, g.nr
	tiles := (n + nr - 1) / nr
	if splitM {
		tiles = (m + mr - 1) / mr
	}
	var wg sync.WaitGroup
	run := func(part int) {
		t0 := tiles * part / t
		t1 := tiles * (part + 1) / t
		if splitM {
			i0, i1 := t0*mr, min(t1*mr, m)
			var aa []float32
			if transA {
				aa = a[i0:]
			} else {
				aa = a[i0*lda:]
			}
			gemmSerial(g, transA, transB, i1-i0, n, k, alpha, aa, lda, b, ldb, beta, c[i0*ldc:], ldc)
		} else {
			j0, j1 := t0*nr, min(t1*nr, n)
			var bb []float32
			if transB {
				bb = b[j0*ldb:]
			} else {
				bb = b[j0:]
			}
			gemmSerial(g, transA, transB, m, j1-j0, k, alpha, a, lda, bb, ldb, beta, c[j0:], ldc)
		}
	}
	wg.Add(t - 1)
	for p := 1; p < t; p++ {
		go func(p int) {
			defer wg.Done()
			run(p)
		}(p)
	}
	run(0)
	wg.Wait()
}

// sharedBMax bounds n*k for gemmParallelSharedB, which packs all of op(B)
// at once: 16 Mi floats (64 MiB).
const sharedBMax = 1 << 24

// gemmParallelSharedB is the parallel GEMM for tall products (split along
// m). The goroutines first pack all of op(B) together, each a share of the
// column panels, into one buffer laid out block by block ((jc, pc) order);
// after that single join, B is read-only. Then they take blocks of rows of
// C from an atomic counter, each packing its own A block and running the
// macro-kernel over every (jc, pc) block of B. A goroutine that other
// processes slow down simply takes fewer row blocks, and B is packed once
// instead of once per goroutine.
func gemmParallelSharedB(g *gemmImpl, t int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := g.mr, g.nr
	kc := balanced(k, g.kc, 1)
	nc := balanced(n, g.nc, nr)
	panels := (n + nr - 1) / nr
	// Row blocks: at most mc rows, and at least 6 per goroutine where m
	// allows, so that the last blocks even out the goroutines' speeds.
	mu := balanced(m, g.mc, mr)
	mu = max(mr, min(mu, ((m+6*t-1)/(6*t)+mr-1)/mr*mr))
	units := (m + mu - 1) / mu

	wsB := wsSharedPool.Get().(*workspace)
	_, bAll := wsB.alignedSplit(0, panels*nr*k)
	// bBlock returns the packed (jc, pc) block: kb steps of nbr = nb
	// rounded up to whole panels. Every jc block before it is nc wide (a
	// multiple of nr) and k deep.
	bBlock := func(jc, pc, kb, nb int) []float32 {
		nbr := (nb + nr - 1) / nr * nr
		off := jc*k + pc*nbr
		return bAll[off : off+kb*nbr]
	}

	var next atomic.Int64
	var packed sync.WaitGroup
	packed.Add(t)
	work := func(w int) {
		// Pack this goroutine's share of the panels of every block.
		for jc := 0; jc < n; jc += nc {
			nb := min(nc, n-jc)
			np := (nb + nr - 1) / nr
			q0, q1 := np*w/t, np*(w+1)/t
			if q0 == q1 {
				continue
			}
			for pc := 0; pc < k; pc += kc {
				kb := min(kc, k-pc)
				blk := bBlock(jc, pc, kb, nb)
				packB(transB, kb, min(nb-q0*nr, (q1-q0)*nr), b, ldb, pc, jc+q0*nr, nr, blk[q0*nr*kb:])
			}
		}
		packed.Done()
		packed.Wait()

		ws := wsPool.Get().(*workspace)
		ap, _ := ws.alignedSplit(mu*kc, 0)
		tile := &ws.tile
		for {
			u := int(next.Add(1) - 1)
			if u >= units {
				break
			}
			ic := u * mu
			mb := min(mu, m-ic)
			for jc := 0; jc < n; jc += nc {
				nb := min(nc, n-jc)
				for pc := 0; pc < k; pc += kc {
					kb := min(kc, k-pc)
					bet := beta
					if pc > 0 {
						bet = 1
					}
					packA(transA, mb, kb, a, lda, ic, pc, mr, ap)
					macroKernel(g, mb, nb, kb, ap, bBlock(jc, pc, kb, nb), alpha, bet, c[ic*ldc+jc:], ldc, tile)
				}
			}
		}
		wsPool.Put(ws)
	}
	var done sync.WaitGroup
	done.Add(t - 1)
	for w := 1; w < t; w++ {
		go func(w int) {
			defer done.Done()
			work(w)
		}(w)
	}
	work(0)
	done.Wait()
	wsSharedPool.Put(wsB)
}

// defaultThreads is the number of goroutines Sgemm uses.
func defaultThreads() int { return runtime.GOMAXPROCS(0) }

// balanced returns the block size that cuts total into the fewest blocks of
// at most limit, all about equal, rounded up to a multiple of unit.
func balanced(total, limit, unit int) int {
	if total <= limit {
		return (total + unit - 1) / unit * unit
	}
	nb := (total + limit - 1) / limit
	s := (total + nb - 1) / nb
	s = (s + unit - 1) / unit * unit
	return min(s, limit)
}

// gemmSerial runs the blocked GEMM in the calling goroutine. The caller has
// validated the arguments and handled m, n, k or alpha being zero.
func gemmSerial(g *gemmImpl, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if gemvSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	mr, nr := g.mr, g.nr
	kc := balanced(k, g.kc, 1)
	mc := balanced(m, g.mc, mr)
	nc := balanced(n, g.nc, nr)

	ws := wsPool.Get().(*workspace)
	ap, bp := ws.alignedSplit(mc*kc, kc*nc)
	tile := &ws.tile

	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(transB, kb, nb, b, ldb, pc, jc, nr, bp)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(transA, mb, kb, a, lda, ic, pc, mr, ap)
				macroKernel(g, mb, nb, kb, ap, bp, alpha, bet, c[ic*ldc+jc:], ldc, tile)
			}
		}
	}
	wsPool.Put(ws)
}

// macroKernel multiplies a packed mb×kb block of A (ap) by a packed kb×nb
// block of B (bp) into the mb×nb block of C at c[0]: C = alpha*A·B +
// beta*C. Full tiles go straight to C, edge tiles through tile.
func macroKernel(g *gemmImpl, mb, nb, kb int, ap, bp []float32, alpha, beta float32, c []float32, ldc int, tile *[maxTile]float32) {
	mr, nr := g.mr, g.nr
	for jr := 0; jr < nb; jr += nr {
		nn := min(nr, nb-jr)
		bpan := bp[jr*kb : (jr+nr)*kb]
		for ir := 0; ir < mb; ir += mr {
			mm := min(mr, mb-ir)
			apan := ap[ir*kb : (ir+mr)*kb]
			off := ir*ldc + jr
			if mm == mr && nn == nr {
				g.kernel(kb, apan, bpan, c[off:off+(mr-1)*ldc+nr], ldc, alpha, beta)
				continue
			}
			t := tile[:mr*nr]
			g.kernel(kb, apan, bpan, t, nr, 1, 0)
			storeEdge(mm, nn, t, nr, alpha, beta, c[off:], ldc)
		}
	}
}

// storeEdge writes the mm×nn corner of a kernel tile t (row stride ldt) to
// C: C = alpha*t + beta*C, without reading C when beta is 0.
func storeEdge(mm, nn int, t []float32, ldt int, alpha, beta float32, c []float32, ldc int) {
	for i := 0; i < mm; i++ {
		src := t[i*ldt : i*ldt+nn]
		dst := c[i*ldc : i*ldc+nn]
		if beta == 0 {
			for j, v := range src {
				dst[j] = alpha * v
			}
		} else {
			for j, v := range src {
				dst[j] = alpha*v + beta*dst[j]
			}
		}
	}
}

// packA packs the mb×kb block of op(A) at (ic, pc) into mr-tall row panels:
// panel q holds rows ic+q*mr ... as kb steps of mr values, zero-padded.
func packA(transA bool, mb, kb int, a []float32, lda, ic, pc, mr int, ap []float32) {
	for ir := 0; ir < mb; ir += mr {
		mm := min(mr, mb-ir)
		dst := ap[ir*kb : (ir+mr)*kb]
		if transA {
			// op(A)[i,p] = a[p*lda+i]: each step is a contiguous run.
			for p := 0; p < kb; p++ {
				src := a[(pc+p)*lda+ic+ir:]
				d := dst[p*mr : p*mr+mr]
				copy(d, src[:mm])
				clear(d[mm:])
			}
			continue
		}
		if mm == 6 && mr == 6 {
			packA6(kb, a, lda, (ic+ir)*lda+pc, dst)
			continue
		}
		if mm == 12 && mr == 12 {
			packA6x2(kb, a, lda, (ic+ir)*lda+pc, dst)
			continue
		}
		for r := 0; r < mm; r++ {
			src := a[(ic+ir+r)*lda+pc:]
			src = src[:kb]
			for p, v := range src {
				dst[p*mr+r] = v
			}
		}
		for r := mm; r < mr; r++ {
			for p := 0; p < kb; p++ {
				dst[p*mr+r] = 0
			}
		}
	}
}

// packA6 interleaves six rows of A (starting at a[off], stride lda) into a
// 6-tall panel.
func packA6(kb int, a []float32, lda, off int, dst []float32) {
	a0 := a[off : off+kb]
	a1 := a[off+lda : off+lda+kb]
	a2 := a[off+2*lda : off+2*lda+kb]
	a3 := a[off+3*lda : off+3*lda+kb]
	a4 := a[off+4*lda : off+4*lda+kb]
	a5 := a[off+5*lda : off+5*lda+kb]
	dst = dst[:6*kb]
	for p := range a0 {
		d := dst[p*6 : p*6+6 : p*6+6]
		d[0] = a0[p]
		d[1] = a1[p]
		d[2] = a2[p]
		d[3] = a3[p]
		d[4] = a4[p]
		d[5] = a5[p]
	}
}

// packA6x2 interleaves twelve rows of A (starting at a[off], stride lda)
// into a 12-tall panel.
func packA6x2(kb int, a []float32, lda, off int, dst []float32) {
	a0 := a[off : off+kb]
	a1 := a[off+lda : off+lda+kb]
	a2 := a[off+2*lda : off+2*lda+kb]
	a3 := a[off+3*lda : off+3*lda+kb]
	a4 := a[off+4*lda : off+4*lda+kb]
	a5 := a[off+5*lda : off+5*lda+kb]
	off += 6 * lda
	a6 := a[off : off+kb]
	a7 := a[off+lda : off+lda+kb]
	a8 := a[off+2*lda : off+2*lda+kb]
	a9 := a[off+3*lda : off+3*lda+kb]
	a10 := a[off+4*lda : off+4*lda+kb]
	a11 := a[off+5*lda : off+5*lda+kb]
	dst = dst[:12*kb]
	for p := range a0 {
		d := dst[p*12 : p*12+12 : p*12+12]
		d[0] = a0[p]
		d[1] = a1[p]
		d[2] = a2[p]
		d[3] = a3[p]
		d[4] = a4[p]
		d[5] = a5[p]
		d[6] = a6[p]
		d[7] = a7[p]
		d[8] = a8[p]
		d[9] = a9[p]
		d[10] = a10[p]
		d[11] = a11[p]
	}
}

// packB packs the kb×nb block of op(B) at (pc, jc) into nr-wide column
// panels: panel q holds columns jc+q*nr ... as kb steps of nr values,
// zero-padded.
func packB(transB bool, kb, nb int, b []float32, ldb, pc, jc, nr int, bp []float32) {
	for jr := 0; jr < nb; jr += nr {
		nn := min(nr, nb-jr)
		dst := bp[jr*kb : (jr+nr)*kb]
		if !transB {
			// op(B)[p,j] = b[p*ldb+j]: each step is a contiguous run.
			for p := 0; p < kb; p++ {
				src := b[(pc+p)*ldb+jc+jr:]
				d := dst[p*nr : p*nr+nr]
				copy(d, src[:nn])
				clear(d[nn:])
			}
			continue
		}
		// op(B)[p,j] = b[j*ldb+p]: gather the columns of the panel four
		// at a time.
		cc := 0
		for ; cc+4 <= nn; cc += 4 {
			o := (jc+jr+cc)*ldb + pc
			r0 := b[o : o+kb]
			r1 := b[o+ldb : o+ldb+kb]
			r2 := b[o+2*ldb : o+2*ldb+kb]
			r3 := b[o+3*ldb : o+3*ldb+kb]
			for p := range r0 {
				d := dst[p*nr+cc : p*nr+cc+4 : p*nr+cc+4]
				d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
			}
		}
		for ; cc < nn; cc++ {
			src := b[(jc+jr+cc)*ldb+pc:]
			src = src[:kb]
			for p, v := range src {
				dst[p*nr+cc] = v
			}
		}
		for cc := nn; cc < nr; cc++ {
			for p := 0; p < kb; p++ {
				dst[p*nr+cc] = 0
			}
		}
	}
}

// gemvSerial handles the matrix-vector shapes (m == 1, or n == 1 with rows
// of A contiguous) with the vector kernels, without packing; it reports
// whether it did.
func gemvSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	switch {
	case m == 1 && !transB:
		// c[0,:] = beta*c + alpha * sum_p a_p * B[p,:]
		row := c[:n]
		scaleC(1, n, beta, row, n)
		for p := 0; p < k; p++ {
			ap := a[p]
			if transA {
				ap = a[p*lda]
			}
			Axpy(alpha*ap, b[p*ldb:p*ldb+n], row)
		}
		return true
	case m == 1 && transB && !transA:
		x := a[:k]
		for j := 0; j < n; j++ {
			s := alpha * Dot(x, b[j*ldb:j*ldb+k])
			if beta != 0 {
				s += beta * c[j]
			}
			c[j] = s
		}
		return true
	case n == 1 && !transA && transB:
		y := b[:k]
		for i := 0; i < m; i++ {
			s := alpha * Dot(a[i*lda:i*lda+k], y)
			if beta != 0 {
				s += beta * c[i*ldc]
			}
			c[i*ldc] = s
		}
		return true
	}
	return false
}
