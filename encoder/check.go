package encoder

import (
	"fmt"
	"math"
)

// PrecisionDiff compares one output of a reduced-precision forward pass
// with the float32 one, row by row (a row is a token's hidden state, or a
// pooled vector).
type PrecisionDiff struct {
	Name    string  // "layer 0" ... "layer L-1", "pooled"
	MaxAbs  float64 // largest |x − ref| of any element
	RelL2   float64 // ‖x − ref‖₂ / ‖ref‖₂ over the whole tensor
	MeanCos float64 // mean cosine of a row with its float32 row
	MinCos  float64 // smallest cosine of a row
}

// ComparePrecision runs batch b through m at float32 and at p and reports,
// for each transformer layer's output and for the pooled vectors (pooling,
// no normalisation), how far p is from float32.
func ComparePrecision(m *Model, p Precision, b *Batch, pooling Pooling) ([]PrecisionDiff, error) {
	H := m.Config.HiddenSize
	N := b.B * b.T
	acts := m.NewActivations(b.B, b.T, false, false)
	ref := make([][]float32, len(m.Layers))
	last, err := m.Forward(acts, b, ForwardOptions{OnLayer: func(l int, out []float32) {
		ref[l] = append([]float32(nil), out...)
	}})
	if err != nil {
		return nil, err
	}
	refPooled := make([]float32, b.B*H)
	Pool(refPooled, last, b.Mask, b.B, b.T, H, pooling, false)

	var diffs []PrecisionDiff
	last, err = m.Forward(acts, b, ForwardOptions{Precision: p, OnLayer: func(l int, out []float32) {
		d := diffRows(out, ref[l], N, H)
		d.Name = fmt.Sprintf("layer %d", l)
		diffs = append(diffs, d)
	}})
	if err != nil {
		return nil, err
	}
	pooled := make([]float32, b.B*H)
	Pool(pooled, last, b.Mask, b.B, b.T, H, pooling, false)
	d := diffRows(pooled, refPooled, b.B, H)
	d.Name = "pooled"
	return append(diffs, d), nil
}

// CompareVectors compares the rows of x with those of ref, both [rows,
// dim] (embeddings of one corpus at two precisions, say): the largest
// absolute difference, the relative L2 error and the mean and smallest
// cosine of a row with its reference row (1 for two zero rows, 0 for one).
// It panics if x or ref holds fewer than rows*dim values.
func CompareVectors(x, ref []float32, rows, dim int) PrecisionDiff {
	if rows < 0 || dim < 0 || len(x) < rows*dim || len(ref) < rows*dim {
		panic(fmt.Sprintf("encoder: CompareVectors: %d and %d values for %d×%d", len(x), len(ref), rows, dim))
	}
	return diffRows(x, ref, rows, dim)
}

// diffRows compares x with ref, both [rows, dim].
func diffRows(x, ref []float32, rows, dim int) PrecisionDiff {
	d := PrecisionDiff{MinCos: 1}
	var num, den float64
	for r := 0; r < rows; r++ {
		var dot, nx, nr float64
		for i := r * dim; i < (r+1)*dim; i++ {
			a, b := float64(x[i]), float64(ref[i])
			d.MaxAbs = max(d.MaxAbs, math.Abs(a-b))
			num += (a - b) * (a - b)
			den += b * b
			dot += a * b
			nx += a * a
			nr += b * b
		}
		c := 1.0
		if nx > 0 && nr > 0 {
			c = dot / math.Sqrt(nx*nr)
		} else if nx > 0 || nr > 0 {
			c = 0
		}
		d.MeanCos += c
		d.MinCos = min(d.MinCos, c)
	}
	d.MeanCos /= float64(max(rows, 1))
	if den > 0 {
		d.RelL2 = math.Sqrt(num / den)
	}
	return d
}
