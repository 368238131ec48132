package parallel

import (
	"sync/atomic"
	"testing"
)

// TestCoverEachOnce checks that every helper visits each index of [0, n)
// exactly once, with worker numbers in range, for small and uneven n.
func TestCoverEachOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100, 1001} {
		for _, workers := range []int{0, 1, 3, 8} {
			check := func(name string, run func(mark func(w, i int))) {
				seen := make([]atomic.Int32, n)
				run(func(w, i int) {
					if w < 0 || (workers > 0 && w >= workers) {
						t.Errorf("%s n=%d workers=%d: worker %d", name, n, workers, w)
					}
					seen[i].Add(1)
				})
				for i := range seen {
					if c := seen[i].Load(); c != 1 {
						t.Fatalf("%s n=%d workers=%d: index %d visited %d times", name, n, workers, i, c)
					}
				}
			}
			check("Ranges", func(mark func(w, i int)) {
				Ranges(n, max(workers, 1), func(w, lo, hi int) {
					for i := lo; i < hi; i++ {
						mark(w, i)
					}
				})
			})
			check("Chunks", func(mark func(w, i int)) {
				Chunks(n, workers, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						mark(0, i)
					}
				})
			})
			check("Items", func(mark func(w, i int)) { Items(n, workers, mark) })
		}
	}
}
