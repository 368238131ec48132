// Package parallel holds the parallel-for helpers of the project: a static
// split of [0, n) into contiguous ranges (Ranges, Chunks) and a dynamic
// hand-out of items from a shared counter for uneven work (Items). Each
// runs inline with one worker and waits for every goroutine it starts.
package parallel

import (
	"runtime"
	"sync"
)

// Ranges runs fn(w, lo, hi) on w = 0..workers-1 over a split of [0, n)
// into contiguous, nearly equal ranges (at most n workers), and waits.
func Ranges(n, workers int, fn func(w, lo, hi int)) {
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

// Chunks calls fn(lo, hi) over disjoint ranges covering [0, n), spread
// over up to GOMAXPROCS goroutines; minChunk is the smallest range worth a
// goroutine, so a small n runs inline.
func Chunks(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if minChunk < 1 {
		minChunk = 1
	}
	if w := n / minChunk; w < workers {
		workers = w
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// Items runs fn(w, i) for every i in [0, n) on workers goroutines (≤ 0:
// GOMAXPROCS; at most n) that take the next i from a shared counter, and
// waits; w in [0, workers) lets fn use per-goroutine scratch space.
func Items(n, workers int, fn func(w, i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
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
