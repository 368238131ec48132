//go:build !amd64 || purego

package pqscan

// useAVX2 and useScalar are false: this build has no assembly.
const (
	useAVX2   = false
	useScalar = false
)

func scan(table []float32, codes []uint8, m int, out []float32) {
	ScanRef(table, codes, m, out)
}
