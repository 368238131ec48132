package blas32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// guard is the sentinel written around and between the rows of every
// matrix; a fast path that writes out of bounds changes it.
const guard = float32(-7.75e30)

// guardPad is how many guard values surround each slice.
const guardPad = 37

// guarded is a matrix stored row-major with stride ld inside a larger
// buffer whose surrounding elements and row gaps hold guard values.
type guarded struct {
	buf        []float32
	rows, cols int
	ld         int
}

func newGuarded(rng *rand.Rand, rows, cols, ld int, fill func() float32) *guarded {
	n := 0
	if rows > 0 && cols > 0 {
		n = (rows-1)*ld + cols
	}
	g := &guarded{buf: make([]float32, n+2*guardPad), rows: rows, cols: cols, ld: ld}
	for i := range g.buf {
		g.buf[i] = guard
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			g.buf[guardPad+i*ld+j] = fill()
		}
	}
	return g
}

// data is the slice the kernels see: exactly the elements the matrix spans.
func (g *guarded) data() []float32 { return g.buf[guardPad : len(g.buf)-guardPad] }

func (g *guarded) clone() *guarded {
	c := *g
	c.buf = append([]float32(nil), g.buf...)
	return &c
}

func (g *guarded) inside(idx int) bool {
	idx -= guardPad
	if idx < 0 || idx >= len(g.buf)-2*guardPad {
		return false
	}
	return idx%g.ld < g.cols
}

// checkGuards fails when any element outside the matrix changed.
func (g *guarded) checkGuards(t *testing.T, what string) {
	t.Helper()
	for i, v := range g.buf {
		if !g.inside(i) && math.Float32bits(v) != math.Float32bits(guard) {
			t.Fatalf("%s: guard at buffer index %d (offset %d) overwritten with %v", what, i, i-guardPad, v)
		}
	}
}

type gemmCase struct {
	transA, transB   bool
	m, n, k          int
	alpha, beta      float32
	padA, padB, padC int
}

func (c gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g pad=%d/%d/%d", c.transA, c.transB, c.m, c.n, c.k, c.alpha, c.beta, c.padA, c.padB, c.padC)
}

// runGemmCase runs one case through g with the given threads and compares
// with sgemmRef, element by element within a bound derived from the
// magnitudes involved, and checks every guard and the inputs.
func runGemmCase(t *testing.T, g *gemmImpl, threads int, c gemmCase, seed uint64) {
	t.Helper()
	runGemmCaseWith(t, fmt.Sprintf("%s threads=%d %v", g.name, threads, c), c, seed, func(a []float32, lda int, b []float32, ldb int, cc []float32, ldc int) {
		sgemm(g, threads, c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, cc, ldc)
	})
}

// runGemmCaseWith is runGemmCase for any function computing the product
// of c into C (cc, ldc) from A and B as stored.
func runGemmCaseWith(t *testing.T, name string, c gemmCase, seed uint64, run func(a []float32, lda int, b []float32, ldb int, cc []float32, ldc int)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(c.m*1000003+c.n*1009+c.k)))
	uni := func() float32 { return rng.Float32()*2 - 1 }
	ra, ca := c.m, c.k
	if c.transA {
		ra, ca = c.k, c.m
	}
	rb, cb := c.k, c.n
	if c.transB {
		rb, cb = c.n, c.k
	}
	A := newGuarded(rng, ra, ca, max(ca, 1)+c.padA, uni)
	B := newGuarded(rng, rb, cb, max(cb, 1)+c.padB, uni)
	cfill := uni
	if c.beta == 0 {
		cfill = func() float32 { return float32(math.NaN()) }
	}
	C := newGuarded(rng, c.m, c.n, max(c.n, 1)+c.padC, cfill)
	A0, B0 := A.clone(), B.clone()
	want := C.clone()
	sgemmRef(c.transA, c.transB, c.m, c.n, c.k, c.alpha, A.data(), A.ld, B.data(), B.ld, c.beta, want.data(), want.ld)
	run(A.data(), A.ld, B.data(), B.ld, C.data(), C.ld)

	for i := range A.buf {
		if math.Float32bits(A.buf[i]) != math.Float32bits(A0.buf[i]) {
			t.Fatalf("%s: A modified at %d", name, i)
		}
	}
	for i := range B.buf {
		if math.Float32bits(B.buf[i]) != math.Float32bits(B0.buf[i]) {
			t.Fatalf("%s: B modified at %d", name, i)
		}
	}
	C.checkGuards(t, name)
	ad, bd := A.data(), B.data()
	const eps = 1.0 / (1 << 23)
	for i := 0; i < c.m; i++ {
		for j := 0; j < c.n; j++ {
			var mag float64
			for p := 0; p < c.k; p++ {
				var av, bv float32
				if c.transA {
					av = ad[p*A.ld+i]
				} else {
					av = ad[i*A.ld+p]
				}
				if c.transB {
					bv = bd[j*B.ld+p]
				} else {
					bv = bd[p*B.ld+j]
				}
				mag += math.Abs(float64(av) * float64(bv))
			}
			mag = math.Abs(float64(c.alpha)) * mag
			if c.beta != 0 {
				mag += math.Abs(float64(c.beta) * float64(C0at(want, A0, i, j, c)))
			}
			tol := 2*float64(c.k+4)*eps*mag + 1e-30
			got := float64(C.data()[i*C.ld+j])
			ref := float64(want.data()[i*want.ld+j])
			if math.IsNaN(got) || math.Abs(got-ref) > tol {
				t.Fatalf("%s: C[%d,%d] = %v, want %v (tol %.3g)", name, i, j, got, ref, tol)
			}
		}
	}
}

// C0at is a loose stand-in for |C_in[i,j]|: inputs are in [-1, 1].
func C0at(_, _ *guarded, _, _ int, _ gemmCase) float32 { return 1 }

var transposes = [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}}

func TestSgemmSmallSizes(t *testing.T) {
	sizes := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 15, 16, 17, 23, 31, 32, 33}
	for _, g := range allImpls() {
		for _, tr := range transposes {
			for _, m := range sizes {
				for _, n := range sizes {
					k := sizes[(m*7+n*3)%len(sizes)]
					c := gemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k, alpha: 1, beta: 0, padA: (m + n) % 3, padB: m % 2, padC: n % 4}
					runGemmCase(t, g, 1, c, 1)
				}
			}
		}
	}
}

func TestSgemmRandomShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	dims := []int{1, 2, 3, 5, 6, 7, 12, 13, 16, 17, 29, 31, 47, 48, 61, 64, 97, 127, 128, 131, 144, 145, 191, 251, 256, 257, 263, 300}
	alphas := []float32{1, -0.5, 2.25}
	betas := []float32{0, 1, -1.5, 0.5}
	cases := 160
	if testing.Short() {
		cases = 40
	}
	for _, g := range allImpls() {
		for i := 0; i < cases; i++ {
			c := gemmCase{
				transA: rng.IntN(2) == 1, transB: rng.IntN(2) == 1,
				m: dims[rng.IntN(len(dims))], n: dims[rng.IntN(len(dims))], k: dims[rng.IntN(len(dims))],
				alpha: alphas[rng.IntN(len(alphas))], beta: betas[rng.IntN(len(betas))],
				padA: rng.IntN(3) * rng.IntN(9), padB: rng.IntN(3) * rng.IntN(9), padC: rng.IntN(3) * rng.IntN(9),
			}
			runGemmCase(t, g, 1+rng.IntN(3), c, uint64(i))
		}
	}
}

func TestSgemmBlockBoundaries(t *testing.T) {
	// Shapes that cross the mc, kc and nc blocks of every implementation and
	// the parallel threshold, with leading dimensions wider than the rows.
	shapes := [][3]int{{300, 300, 300}, {7, 4100, 20}, {7, 4100, 80}, {1, 20000, 150}, {3000, 1, 800}, {4100, 5, 9}, {13, 4113, 19}, {289, 97, 513}, {2, 1000, 600}, {1000, 2, 600}, {150, 17, 770}}
	for _, g := range allImpls() {
		for i, s := range shapes {
			for ti, tr := range transposes {
				beta := []float32{0, 0.75}[(i+ti)%2]
				c := gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], alpha: -1.25, beta: beta, padA: 3, padB: 5, padC: 7}
				runGemmCase(t, g, 2, c, uint64(i))
				if testing.Short() {
					break
				}
			}
		}
	}
}

func TestSgemmVectorShapes(t *testing.T) {
	// Matrix-vector shapes, including the tall-and-skinny 1×768×30522 of a
	// vocabulary projection, which take the unpacked paths.
	shapes := [][3]int{{1, 30522, 768}, {1, 1, 1}, {1, 1000, 3}, {1, 17, 1000}, {5, 1, 300}, {1000, 1, 77}, {2, 30522, 40}}
	for _, g := range allImpls() {
		for i, s := range shapes {
			for ti, tr := range transposes {
				beta := []float32{0, -0.5}[(i+ti)%2]
				c := gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], alpha: 0.5, beta: beta, padA: 1, padB: 2, padC: 3}
				runGemmCase(t, g, 1+ti%2, c, uint64(i))
			}
		}
	}
}

func TestSgemmDegenerate(t *testing.T) {
	for _, g := range allImpls() {
		for _, c := range []gemmCase{
			{m: 0, n: 5, k: 3, alpha: 1, beta: 0},
			{m: 4, n: 0, k: 3, alpha: 1, beta: 0},
			{m: 4, n: 5, k: 0, alpha: 1, beta: 0},
			{m: 4, n: 5, k: 0, alpha: 1, beta: 2},
			{m: 4, n: 5, k: 3, alpha: 0, beta: 0, padC: 2},
			{m: 4, n: 5, k: 3, alpha: 0, beta: -3, padC: 2},
			{m: 9, n: 33, k: 40, alpha: 1, beta: 1, padC: 1},
		} {
			runGemmCase(t, g, 2, c, 3)
		}
	}
}

func TestSgemmBadArgumentsPanic(t *testing.T) {
	a := make([]float32, 12)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"lda too small", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) }},
		{"A too short", func() { Sgemm(false, false, 5, 2, 3, 1, a, 3, a, 2, 0, a, 2) }},
		{"C too short", func() { Sgemm(false, false, 2, 5, 1, 1, a, 1, a, 5, 0, a[:6], 5) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}

func TestSgemmPublicVariantsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	m, n, k := 130, 150, 90
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range b {
		b[i] = rng.Float32()
	}
	want := make([]float32, m*n)
	sgemmRef(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	for name, f := range map[string]func(c []float32){
		"Sgemm":          func(c []float32) { Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) },
		"SgemmSerial":    func(c []float32) { SgemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, c, n) },
		"SgemmThreads 0": func(c []float32) { SgemmThreads(0, false, false, m, n, k, 1, a, k, b, n, 0, c, n) },
		"SgemmThreads 3": func(c []float32) { SgemmThreads(3, false, false, m, n, k, 1, a, k, b, n, 0, c, n) },
	} {
		c := make([]float32, m*n)
		f(c)
		for i := range c {
			if d := math.Abs(float64(c[i] - want[i])); d > 1e-4*float64(k) {
				t.Fatalf("%s: C[%d] = %v, want %v", name, i, c[i], want[i])
			}
		}
	}
	if Implementation() == "" {
		t.Error("Implementation() is empty")
	}
}

func TestSgemmConcurrentCallers(t *testing.T) {
	// Several goroutines call Sgemm at once on their own data, as the
	// encoder and the index do; each must get its own exact result.
	const workers = 6
	var wg sync.WaitGroup
	errs := make([]string, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			m, n, k := 60+w*17, 200-w*13, 120+w*31
			a := make([]float32, m*k)
			b := make([]float32, n*k)
			for i := range a {
				a[i] = rng.Float32() - 0.5
			}
			for i := range b {
				b[i] = rng.Float32() - 0.5
			}
			want := make([]float32, m*n)
			sgemmRef(false, true, m, n, k, 1, a, k, b, k, 0, want, n)
			for rep := 0; rep < 5; rep++ {
				c := make([]float32, m*n)
				if rep%2 == 0 {
					Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
				} else {
					SgemmSerial(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
				}
				for i := range c {
					if math.Abs(float64(c[i]-want[i])) > 1e-5*float64(k) {
						errs[w] = fmt.Sprintf("worker %d rep %d: C[%d] = %v, want %v", w, rep, i, c[i], want[i])
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
}

// vecLens covers the vector kernels' unrolled (32), vector (8) and scalar
// tails and the short-vector fallback.
var vecLens = []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 39, 40, 63, 64, 65, 100, 255, 256, 257, 768, 1000, 1023, 4099}

// vecCase builds guarded x and y of length n at offsets ox, oy (to vary the
// alignment) with values in [-1, 1].
func vecCase(rng *rand.Rand, n, ox, oy int) (xb, yb []float32, x, y []float32) {
	mk := func(off int) ([]float32, []float32) {
		buf := make([]float32, n+2*guardPad)
		for i := range buf {
			buf[i] = guard
		}
		v := buf[guardPad+off-8 : guardPad+off-8+n]
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return buf, v
	}
	xb, x = mk(ox)
	yb, y = mk(oy)
	return
}

func checkVecGuards(t *testing.T, what string, buf []float32, v []float32) {
	t.Helper()
	start := -1
	if len(v) > 0 {
		for i := range buf {
			if &buf[i] == &v[0] {
				start = i
			}
		}
	}
	for i, e := range buf {
		if start >= 0 && i >= start && i < start+len(v) {
			continue
		}
		if math.Float32bits(e) != math.Float32bits(guard) {
			t.Fatalf("%s: guard %d overwritten", what, i)
		}
	}
}

type vecImpl struct {
	name  string
	dot   func(x, y []float32) float32
	axpy  func(alpha float32, x, y []float32)
	scale func(alpha float32, x []float32)
	sum   func(x []float32) float32
}

func vecImpls() []vecImpl {
	v := []vecImpl{{"public", Dot, Axpy, Scale, Sum}}
	if useAVX2 {
		v = append(v, vecImpl{"avx2", dotAVX2, axpyAVX2, scaleAVX2, sumAVX2})
	}
	return v
}

func TestVectorKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 13))
	const eps = 1.0 / (1 << 23)
	for _, vi := range vecImpls() {
		for _, n := range vecLens {
			for _, off := range [][2]int{{0, 0}, {1, 3}, {5, 2}, {7, 7}} {
				ox, oy := 8+off[0], 8+off[1]
				what := fmt.Sprintf("%s n=%d offsets=%v", vi.name, n, off)

				xb, yb, x, y := vecCase(rng, n, ox, oy)
				var mag float64
				for i := range x {
					mag += math.Abs(float64(x[i] * y[i]))
				}
				got, want := vi.dot(x, y), dotRef(x, y)
				if math.Abs(float64(got-want)) > 2*float64(n+2)*eps*mag+1e-30 {
					t.Fatalf("%s: dot = %v, want %v", what, got, want)
				}
				checkVecGuards(t, what+" dot x", xb, x)
				checkVecGuards(t, what+" dot y", yb, y)

				mag = 0
				for _, v := range x {
					mag += math.Abs(float64(v))
				}
				got, want = vi.sum(x), sumRef(x)
				if math.Abs(float64(got-want)) > 2*float64(n+2)*eps*mag+1e-30 {
					t.Fatalf("%s: sum = %v, want %v", what, got, want)
				}

				yw := append([]float32(nil), y...)
				axpyRef(-1.5, x, yw)
				vi.axpy(-1.5, x, y)
				for i := range y {
					if math.Abs(float64(y[i]-yw[i])) > 4*eps*(1.5+math.Abs(float64(yw[i]))) {
						t.Fatalf("%s: axpy y[%d] = %v, want %v", what, i, y[i], yw[i])
					}
				}
				checkVecGuards(t, what+" axpy y", yb, y)
				checkVecGuards(t, what+" axpy x", xb, x)

				xw := append([]float32(nil), x...)
				scaleRef(0.3, xw)
				vi.scale(0.3, x)
				for i := range x {
					if x[i] != xw[i] {
						t.Fatalf("%s: scale x[%d] = %v, want %v", what, i, x[i], xw[i])
					}
				}
				checkVecGuards(t, what+" scale", xb, x)
			}
		}
	}
}

func TestScores(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ nq, nx, dim, threads int }{
		{37, 5000, 67, 2}, {1000, 2500, 48, 3}, {1, 9000, 768, 2}, {5, 3, 16, 4}, {3, 100, 0, 1}, {0, 10, 4, 2},
	} {
		q := make([]float32, tc.nq*tc.dim)
		x := make([]float32, tc.nx*tc.dim)
		for i := range q {
			q[i] = rng.Float32()*2 - 1
		}
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
		got := make([]float32, tc.nq*tc.nx)
		seen := make([]int, tc.nx)
		var mu sync.Mutex
		busy := make([]bool, max(tc.threads, 1))
		Scores(q, tc.nq, x, tc.nx, tc.dim, tc.threads, func(worker, x0, nb int, s []float32) {
			mu.Lock()
			if worker < 0 || worker >= len(busy) || busy[worker] {
				mu.Unlock()
				t.Errorf("worker %d out of range or already busy", worker)
				return
			}
			busy[worker] = true
			mu.Unlock()
			if len(s) != tc.nq*nb {
				t.Errorf("block at %d: len(s) = %d, want %d", x0, len(s), tc.nq*nb)
			}
			for j := 0; j < nb; j++ {
				seen[x0+j]++
				for i := 0; i < tc.nq; i++ {
					got[i*tc.nx+x0+j] = s[i*nb+j]
				}
			}
			mu.Lock()
			busy[worker] = false
			mu.Unlock()
		})
		if tc.nq > 0 {
			for j, c := range seen {
				if c != 1 {
					t.Fatalf("%+v: row %d visited %d times", tc, j, c)
				}
			}
		}
		for i := 0; i < tc.nq; i++ {
			for j := 0; j < tc.nx; j++ {
				want := dotRef(q[i*tc.dim:(i+1)*tc.dim], x[j*tc.dim:(j+1)*tc.dim])
				if d := math.Abs(float64(got[i*tc.nx+j] - want)); d > 1e-6*float64(tc.dim+4) {
					t.Fatalf("%+v: score[%d,%d] = %v, want %v", tc, i, j, got[i*tc.nx+j], want)
				}
			}
		}
	}
}

func TestSgemmSmallBlocking(t *testing.T) {
	// Every implementation with tiny cache blocks, so that modest shapes
	// cross many mc, kc and nc blocks in the serial and both parallel paths.
	shapes := [][3]int{{150, 200, 100}, {97, 301, 77}, {13, 700, 250}, {500, 30, 140}}
	for _, base := range allImpls() {
		g := *base
		g.mc, g.kc, g.nc = 2*g.mr, 37, 3*g.nr
		for i, s := range shapes {
			for ti, tr := range transposes {
				c := gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], alpha: 0.75, beta: []float32{0, 1.5}[(i+ti)%2], padA: 2, padB: 1, padC: 3}
				runGemmCase(t, &g, 1+(i+ti)%3, c, uint64(10+i))
			}
		}
	}
}
