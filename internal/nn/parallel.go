package nn

import (
	"runtime"

	"github.com/contriever-go/contriever/internal/parallel"
)

// parallelFor and parallelItems are the project's parallel-for helpers
// (internal/parallel): parallelFor(n, minChunk, fn) calls fn(lo, hi) over
// disjoint ranges of [0, n), parallelItems(n, fn) runs fn(worker, i) on
// GOMAXPROCS goroutines taking items in turn.
var parallelFor = parallel.Chunks

func parallelItems(n int, fn func(worker, i int)) { parallel.Items(n, 0, fn) }

// Workers reports how many goroutines the parallel operations use.
func Workers() int { return runtime.GOMAXPROCS(0) }
