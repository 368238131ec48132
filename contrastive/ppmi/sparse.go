package ppmi

import (
	"math"
	"sync"

	"github.com/contriever-go/contriever/internal/blas32"
)

// csr is a sparse n×n matrix in compressed sparse row form.
type csr struct {
	n      int
	rowPtr []int64
	col    []int32
	val    []float32
}

func (m *csr) nnz() int64 { return m.rowPtr[m.n] }

// cooc is the symmetric co-occurrence matrix X over the compact token
// indices, with each token's marginal N_i = Σ_j X_ij.
type cooc struct {
	x        csr
	marginal []float64
}

// buildCooc expands the canonical pairs (a ≤ b, ids of the full
// vocabulary) into the symmetric matrix X over compact indices: index[id]
// is the compact index of a token that co-occurs with something, or -1.
// X_ab = X_ba = c for a ≠ b and X_aa = 2c, since an unordered pair of
// positions holding the same token is a co-occurrence in each direction.
func buildCooc(pairs run, V int) (c *cooc, index []int32, ids []int32) {
	index = make([]int32, V)
	for i := range index {
		index[i] = -1
	}
	deg := make([]int64, V)
	for _, k := range pairs.keys {
		a, b := int(k/uint64(V)), int(k%uint64(V))
		deg[a]++
		if a != b {
			deg[b]++
		}
	}
	for id, d := range deg {
		if d > 0 {
			index[id] = int32(len(ids))
			ids = append(ids, int32(id))
		}
	}
	n := len(ids)
	x := csr{n: n, rowPtr: make([]int64, n+1)}
	for i, id := range ids {
		x.rowPtr[i+1] = x.rowPtr[i] + deg[id]
	}
	x.col = make([]int32, x.rowPtr[n])
	x.val = make([]float32, x.rowPtr[n])
	fill := make([]int64, n)
	copy(fill, x.rowPtr[:n])
	marg := make([]float64, n)
	for p, k := range pairs.keys {
		a, b := index[k/uint64(V)], index[k%uint64(V)]
		v := float32(pairs.counts[p])
		if a == b {
			v *= 2
		}
		x.col[fill[a]], x.val[fill[a]] = b, v
		fill[a]++
		marg[a] += float64(v)
		if a != b {
			x.col[fill[b]], x.val[fill[b]] = a, v
			fill[b]++
			marg[b] += float64(v)
		}
	}
	return &cooc{x: x, marginal: marg}, index, ids
}

// ppmiMatrices returns the PPMI matrix A (rows: words, columns: contexts)
// and its transpose, keeping positive entries only:
//
//	A_ij = max(0, log(X_ij · Σ_k N_k^α / (N_i · N_j^α)))
//
// with context-distribution smoothing α.
func ppmiMatrices(c *cooc, alpha float64) (a, at *csr) {
	n := c.x.n
	logN := make([]float64, n)
	logNa := make([]float64, n)
	var sumA float64
	for i, m := range c.marginal {
		logN[i] = math.Log(m)
		logNa[i] = alpha * logN[i]
		sumA += math.Pow(m, alpha)
	}
	logSum := math.Log(sumA)
	a = &csr{n: n, rowPtr: make([]int64, n+1)}
	for i := 0; i < n; i++ {
		for p := c.x.rowPtr[i]; p < c.x.rowPtr[i+1]; p++ {
			j := c.x.col[p]
			v := math.Log(float64(c.x.val[p])) + logSum - logN[i] - logNa[j]
			if v > 0 {
				a.col = append(a.col, j)
				a.val = append(a.val, float32(v))
			}
		}
		a.rowPtr[i+1] = int64(len(a.col))
	}
	return a, transpose(a)
}

func transpose(a *csr) *csr {
	t := &csr{n: a.n, rowPtr: make([]int64, a.n+1), col: make([]int32, len(a.col)), val: make([]float32, len(a.val))}
	for _, j := range a.col {
		t.rowPtr[j+1]++
	}
	for i := 0; i < a.n; i++ {
		t.rowPtr[i+1] += t.rowPtr[i]
	}
	fill := make([]int64, a.n)
	copy(fill, t.rowPtr[:a.n])
	for i := 0; i < a.n; i++ { // rows in order: each row of t gets its columns sorted
		for p := a.rowPtr[i]; p < a.rowPtr[i+1]; p++ {
			j := a.col[p]
			t.col[fill[j]], t.val[fill[j]] = int32(i), a.val[p]
			fill[j]++
		}
	}
	return t
}

// mulDense computes Y = M·B for a dense n×l row-major B, in parallel over
// row blocks of equal non-zero counts. Each row is summed in a fixed order,
// so the result does not depend on the number of workers.
func (m *csr) mulDense(b []float32, l int, y []float32, workers int) {
	clear(y[:m.n*l])
	total := m.nnz()
	parts := workers * 8
	var wg sync.WaitGroup
	next := make(chan [2]int, parts)
	start := 0
	for p := 1; p <= parts && start < m.n; p++ {
		target := total * int64(p) / int64(parts)
		end := start
		for end < m.n && (m.rowPtr[end] < target || end == start) {
			end++
		}
		if p == parts {
			end = m.n
		}
		next <- [2]int{start, end}
		start = end
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				for i := r[0]; i < r[1]; i++ {
					yi := y[i*l : (i+1)*l]
					for p := m.rowPtr[i]; p < m.rowPtr[i+1]; p++ {
						j := int(m.col[p])
						blas32.Axpy(m.val[p], b[j*l:(j+1)*l], yi)
					}
				}
			}
		}()
	}
	wg.Wait()
}
