//go:build amd64 && !purego

package pqscan

import (
	"os"

	"golang.org/x/sys/cpu"
)

// useAVX2 reports whether the CPU has AVX2, which the gather kernel needs.
// It is set once at start-up; PQSCAN_KERNEL=purego clears it.
var useAVX2 = cpu.X86.HasAVX2 && os.Getenv("PQSCAN_KERNEL") != "purego"

func scan(table []float32, codes []uint8, m int, out []float32) {
	if useAVX2 && m%8 == 0 && m > 0 {
		scanAVX2(&table[0], &codes[0], m, &out[0], len(out))
		return
	}
	ScanRef(table, codes, m, out)
}

// scanAVX2 is Scan for m a positive multiple of 8: per vector, eight code
// bytes are widened to int32 (VPMOVZXBD), offset by j·256 and gathered from
// the table (VPGATHERDD) into one accumulator, which is summed at the end.
// Two vectors are interleaved to hide the gathers' latency.
//
//go:noescape
func scanAVX2(table *float32, codes *uint8, m int, out *float32, n int)
