package vector

import (
	"sync"

	"github.com/contriever-go/contriever/internal/blas32"
)

// gemmSerial is the sgemm called inside the package's own worker goroutines,
// which already use every core: it must not spawn more work of its own.
var gemmSerial = blas32.SgemmSerial

// dot is the inner product used for the one-query (GEMV-shaped) scans.
var dot = blas32.Dot

// axpy is y += alpha·x (the PQ lookup tables).
var axpy = blas32.Axpy

// parallel runs fn(w, lo, hi) on w = 0..workers-1 over a split of [0, n)
// into contiguous, nearly equal ranges, and waits. It runs inline when
// there is one worker.
func parallel(n, workers int, fn func(w, lo, hi int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w, lo, hi)
		}()
	}
	wg.Wait()
}

// parallelDynamic runs fn(w, i) for i in [0, n) on workers goroutines that
// take the next i from a shared counter (for uneven work items), and waits.
func parallelDynamic(n, workers int, fn func(w, i int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
	)
	take := func() int {
		mu.Lock()
		i := next
		next++
		mu.Unlock()
		return i
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := take(); i < n; i = take() {
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}
