package ppmi

import (
	"errors"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/contriever-go/contriever/internal/blas32"
	"github.com/contriever-go/contriever/internal/progress"
)

// svdResult holds the leading left singular vectors of A (n×k, row-major)
// and the singular values, largest first.
type svdResult struct {
	u     []float32
	sigma []float64
	k     int
}

// randomizedSVD computes the k leading singular triplets of the n×n sparse
// matrix a (at is its transpose) with Halko, Martinsson and Tropp's
// randomized range finder (their Algorithm 4.4): a Gaussian test matrix of
// k+oversample columns, q power iterations re-orthonormalised after every
// product, then the SVD of the small matrix B = QᵀA through the
// eigendecomposition of B·Bᵀ. Dense products run on blas32.Sgemm; the
// orthonormalisation is CholeskyQR2 (Gram matrix in float32, Cholesky
// factor in float64). The test matrix comes from seed, so the result is
// deterministic.
func randomizedSVD(a, at *csr, k, oversample, q int, seed uint64, workers int, bar *progress.Bar) (*svdResult, error) {
	n := a.n
	l := min(k+oversample, n)
	if k > n {
		return nil, errors.New("ppmi: fewer co-occurring tokens than dimensions")
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	omega := make([]float32, n*l)
	for i := range omega {
		omega[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, n*l)
	a.mulDense(omega, l, y, workers)
	bar.Add(1)
	if err := orthonormalize(y, n, l); err != nil {
		return nil, err
	}
	z := omega // reuse
	for it := 0; it < q; it++ {
		at.mulDense(y, l, z, workers)
		if err := orthonormalize(z, n, l); err != nil {
			return nil, err
		}
		a.mulDense(z, l, y, workers)
		if err := orthonormalize(y, n, l); err != nil {
			return nil, err
		}
		bar.Add(1)
	}
	// Bᵀ = AᵀQ (n×l); B·Bᵀ = (Bᵀ)ᵀ·Bᵀ (l×l).
	bt := z
	at.mulDense(y, l, bt, workers)
	g := make([]float32, l*l)
	blas32.Sgemm(true, false, l, l, n, 1, bt, l, bt, l, 0, g, l)
	sym := mat.NewSymDense(l, nil)
	for i := 0; i < l; i++ {
		for j := i; j < l; j++ {
			sym.SetSym(i, j, (float64(g[i*l+j])+float64(g[j*l+i]))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return nil, errors.New("ppmi: eigendecomposition did not converge")
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	// The k largest, as an l×k float32 matrix W with a fixed sign (the
	// largest-magnitude entry of each column positive).
	w := make([]float32, l*k)
	sigma := make([]float64, k)
	for c := 0; c < k; c++ {
		src := l - 1 - c
		sigma[c] = math.Sqrt(max(vals[src], 0))
		best, sign := 0.0, 1.0
		for r := 0; r < l; r++ {
			if v := vecs.At(r, src); math.Abs(v) > best {
				best, sign = math.Abs(v), math.Copysign(1, v)
			}
		}
		for r := 0; r < l; r++ {
			w[r*k+c] = float32(sign * vecs.At(r, src))
		}
	}
	u := make([]float32, n*k)
	blas32.Sgemm(false, false, n, k, l, 1, y, l, w, k, 0, u, k)
	bar.Add(1)
	return &svdResult{u: u, sigma: sigma, k: k}, nil
}

// orthonormalize replaces the n×l matrix y (row-major) by an orthonormal
// basis of its column space, by CholeskyQR2: twice, G = YᵀY, G = RᵀR,
// Y ← Y·R⁻¹. A pivot that is not clearly positive (a column that depends on
// the others in float32) is replaced by a small positive one, so the
// column comes out of the second pass orthogonal to the rest.
func orthonormalize(y []float32, n, l int) error {
	g := make([]float32, l*l)
	rinv := make([]float32, l*l)
	tmp := make([]float32, n*l)
	for pass := 0; pass < 2; pass++ {
		blas32.Sgemm(true, false, l, l, n, 1, y, l, y, l, 0, g, l)
		r, err := cholesky(g, l)
		if err != nil {
			return err
		}
		inv := invUpper(r, l)
		for i := range inv {
			rinv[i] = float32(inv[i])
		}
		blas32.Sgemm(false, false, n, l, l, 1, y, l, rinv, l, 0, tmp, l)
		copy(y, tmp)
	}
	return nil
}

// cholesky returns the upper triangular R (row-major, float64) with
// RᵀR = G for the symmetric l×l float32 matrix G.
func cholesky(g []float32, l int) ([]float64, error) {
	r := make([]float64, l*l)
	maxDiag := 0.0
	for i := 0; i < l; i++ {
		maxDiag = max(maxDiag, float64(g[i*l+i]))
	}
	if !(maxDiag > 0) || math.IsInf(maxDiag, 0) {
		return nil, errors.New("ppmi: degenerate or non-finite basis in the SVD")
	}
	floor := maxDiag * 1e-10
	for i := 0; i < l; i++ {
		s := float64(g[i*l+i])
		for k := 0; k < i; k++ {
			s -= r[k*l+i] * r[k*l+i]
		}
		s = max(s, floor)
		d := math.Sqrt(s)
		r[i*l+i] = d
		for j := i + 1; j < l; j++ {
			t := (float64(g[i*l+j]) + float64(g[j*l+i])) / 2
			for k := 0; k < i; k++ {
				t -= r[k*l+i] * r[k*l+j]
			}
			r[i*l+j] = t / d
		}
	}
	return r, nil
}

// invUpper returns the inverse of the upper triangular l×l matrix r.
func invUpper(r []float64, l int) []float64 {
	inv := make([]float64, l*l)
	for j := 0; j < l; j++ { // column j solves R x = e_j
		for i := j; i >= 0; i-- {
			s := 0.0
			if i == j {
				s = 1
			}
			for k := i + 1; k <= j; k++ {
				s -= r[i*l+k] * inv[k*l+j]
			}
			inv[i*l+j] = s / r[i*l+i]
		}
	}
	return inv
}
