package qgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// TestLinearInt8Rows checks that a product whose rows come from a
// RowSource equals LinearInt8 on the same rows bit for bit, for every
// kernel and helper set, on 1 and 3 goroutines, with rows returned in the
// scratch buffer or in the source's own storage, and that every row is
// asked for exactly once.
func TestLinearInt8Rows(t *testing.T) { forHelpers(t, testLinearInt8Rows) }

func testLinearInt8Rows(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, g := range allImpls() {
		if g.int8 == nil {
			continue
		}
		for si, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			in, w := randSlice(rng, m*k, 2), randSlice(rng, n*k, 0.5)
			var bias []float32
			if si%2 == 0 {
				bias = randSlice(rng, n, 1)
			}
			qw := newInt8Weights(g, w, n, k)
			want := make([]float32, m*n)
			linearInt8(g, 1, want, in, m, qw, bias)
			for _, threads := range []int{1, 3} {
				calls := make([]atomic.Int32, m)
				src := func(i int, scratch []float32) []float32 {
					calls[i].Add(1)
					if len(scratch) != k {
						panic(fmt.Sprintf("scratch of %d values for k=%d", len(scratch), k))
					}
					if i%2 == 0 {
						return in[i*k : i*k+k]
					}
					// Poison what a previous row left, then fill.
					for j := range scratch {
						scratch[j] = float32(math.NaN())
					}
					copy(scratch, in[i*k:i*k+k])
					return scratch
				}
				buf, out := guardedOut(m, n)
				linearInt8Src(g, threads, out, nil, src, m, qw, bias)
				name := fmt.Sprintf("%s threads=%d m=%d n=%d k=%d", g.name, threads, m, n, k)
				checkGuards(t, buf, m*n, name)
				for i := range want {
					if math.Float32bits(out[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: out[%d] = %v, LinearInt8 gives %v", name, i, out[i], want[i])
					}
				}
				for i := range calls {
					if c := calls[i].Load(); c != 1 {
						t.Fatalf("%s: row %d produced %d times", name, i, c)
					}
				}
			}
		}
	}
}

// TestTakeRows checks the guided row blocks: taken one after another they
// tile [0, m) exactly, each at most mc rows and, but for the last, whole
// tiles of mr rows; full mc blocks come first and the last blocks are
// smaller.
func TestTakeRows(t *testing.T) {
	for _, c := range [][4]int{{4096, 96, 4, 2}, {4096, 96, 12, 2}, {1000, 96, 6, 3}, {7, 96, 4, 2}, {96, 96, 4, 1}, {4097, 96, 4, 4}} {
		m, mc, mr, threads := c[0], c[1], c[2], c[3]
		var next atomic.Int64
		end, last := 0, mc
		for {
			i0, i1 := takeRows(&next, m, mc, mr, threads)
			if i0 >= m {
				break
			}
			size := i1 - i0
			if i0 != end || size <= 0 || size > mc || (i1 < m && size%mr != 0) || size > last {
				t.Fatalf("m=%d mc=%d mr=%d threads=%d: block [%d, %d) after %d (previous size %d)", m, mc, mr, threads, i0, i1, end, last)
			}
			end, last = i1, size
		}
		if end != m {
			t.Fatalf("m=%d: blocks end at %d", m, end)
		}
		if m >= 8*mc && last >= mc {
			t.Fatalf("m=%d: the last block is a full one (%d rows)", m, last)
		}
	}
}
