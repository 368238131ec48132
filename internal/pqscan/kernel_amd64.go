//go:build amd64 && !purego

package pqscan

import (
	"os"

	"golang.org/x/sys/cpu"
)

// useAVX2 reports whether the gather kernel is chosen: AVX2 and
// PQSCAN_KERNEL=gather (it is slower than the scalar kernel on current
// CPUs, whose gathers carry the Gather Data Sampling mitigation: kept for
// comparisons). useScalar reports whether the scalar assembly kernel may
// run (AVX for its VEX encoding); PQSCAN_KERNEL=purego clears both. Both
// are set once at start-up.
var (
	useAVX2   = cpu.X86.HasAVX2 && os.Getenv("PQSCAN_KERNEL") == "gather"
	useScalar = cpu.X86.HasAVX && os.Getenv("PQSCAN_KERNEL") != "purego"
)

func scan(table []float32, codes []uint8, m int, out []float32) {
	switch {
	case useAVX2 && m%8 == 0 && m > 0:
		scanAVX2(&table[0], &codes[0], m, &out[0], len(out))
	case useScalar && m%4 == 0 && m > 0:
		scanScalar(&table[0], &codes[0], m, &out[0], len(out))
	default:
		ScanRef(table, codes, m, out)
	}
}

// scanAVX2 is Scan for m a positive multiple of 8: per vector, eight code
// bytes are widened to int32 (VPMOVZXBD), offset by j·256 and gathered from
// the table (VPGATHERDD) into one accumulator, which is summed at the end.
// Two vectors are interleaved to hide the gathers' latency.
//
//go:noescape
func scanAVX2(table *float32, codes *uint8, m int, out *float32, n int)

// scanScalar is Scan for m a positive multiple of 4 by scalar table loads,
// two vectors at a time with four partial sums each (ScanRef's order).
//
//go:noescape
func scanScalar(table *float32, codes *uint8, m int, out *float32, n int)
