package blas32

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// scoreBlockFloats bounds the size of one block of scores (nq × nb floats):
// 1 Mi floats = 4 MiB per worker, which stays in the shared L3 cache.
const scoreBlockFloats = 1 << 20

// ScoresBlockRows returns how many rows of X one block of Scores covers
// for nq queries: a multiple of 16 between 16 and 4096.
func ScoresBlockRows(nq int) int {
	nb := scoreBlockFloats / max(nq, 1)
	nb = nb / 16 * 16
	return min(max(nb, 16), 4096)
}

// Scores computes the inner products scores = Q·Xᵀ of nq queries against nx
// vectors, the batched kernel of flat and IVF top-k search, without ever
// holding the whole nq×nx matrix. Q is nq×dim and X is nx×dim, both
// row-major with row stride dim.
//
// The rows of X are cut into blocks of ScoresBlockRows(nq) rows. For each
// block starting at row x0 with nb rows, visit(worker, x0, nb, s) is called
// with s holding the nq×nb scores (s[i*nb+j] = Q[i]·X[x0+j]). s is only
// valid during the call. Blocks are handed out to up to threads goroutines
// (threads <= 0 means GOMAXPROCS) through an atomic counter; worker is the
// goroutine's index in [0, threads). Calls with the same worker never
// overlap, so per-worker state (for example one top-k heap per query and
// worker, merged at the end) needs no lock. Blocks arrive in no particular
// order. Scores returns when every block has been visited.
func Scores(q []float32, nq int, x []float32, nx, dim, threads int, visit func(worker, x0, nb int, s []float32)) {
	if nq < 0 || nx < 0 || dim < 0 {
		panic(fmt.Sprintf("blas32: Scores: negative size nq=%d nx=%d dim=%d", nq, nx, dim))
	}
	if len(q) < nq*dim || len(x) < nx*dim {
		panic(fmt.Sprintf("blas32: Scores: Q has %d elements (want %d), X has %d (want %d)", len(q), nq*dim, len(x), nx*dim))
	}
	if nq == 0 || nx == 0 {
		return
	}
	if threads <= 0 {
		threads = defaultThreads()
	}
	rows := ScoresBlockRows(nq)
	blocks := (nx + rows - 1) / rows
	threads = min(threads, blocks)
	var next atomic.Int64
	work := func(worker int) {
		s := make([]float32, nq*rows)
		for {
			blk := int(next.Add(1) - 1)
			if blk >= blocks {
				return
			}
			x0 := blk * rows
			nb := min(rows, nx-x0)
			sb := s[:nq*nb]
			sgemm(&impl, 1, false, true, nq, nb, dim, 1, q, max(dim, 1), x[x0*dim:], max(dim, 1), 0, sb, nb)
			visit(worker, x0, nb, sb)
		}
	}
	if threads <= 1 {
		work(0)
		return
	}
	var wg sync.WaitGroup
	wg.Add(threads - 1)
	for w := 1; w < threads; w++ {
		go func(w int) {
			defer wg.Done()
			work(w)
		}(w)
	}
	work(0)
	wg.Wait()
}
