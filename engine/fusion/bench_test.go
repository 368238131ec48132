package fusion

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkFusion fuses two lists of n hits with half their ids in common,
// the shape of a hybrid BEIR run at depth n.
func BenchmarkFusion(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		r := rand.New(rand.NewPCG(1, 2))
		d := make([]Hit, n)
		bm := make([]Hit, n)
		for i := range n {
			d[i] = Hit{ID: fmt.Sprintf("doc%d", i), Score: r.Float64()}
			bm[i] = Hit{ID: fmt.Sprintf("doc%d", i+n/2), Score: 20 * r.Float64()}
		}
		b.Run(fmt.Sprintf("linear/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Linear(d, bm, 0.5, MinMax); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("rrf/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := RRF(d, bm, DefaultRRFK); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
