//go:build !amd64 || purego

package pqscan

// useAVX2 is false: this build has no assembly.
const useAVX2 = false

func scan(table []float32, codes []uint8, m int, out []float32) {
	ScanRef(table, codes, m, out)
}
