package checkpoint

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Sentinel errors that callers may test with errors.Is.
var (
	// ErrCorrupt reports a file that is truncated or structurally invalid.
	ErrCorrupt = errors.New("corrupt checkpoint")
	// ErrUnsupportedDType reports a tensor whose element type is not F32,
	// F16 or BF16.
	ErrUnsupportedDType = errors.New("unsupported dtype")
	// ErrUnsupportedPickle reports a pickle opcode or global outside the
	// small set torch.save emits for a state dict.
	ErrUnsupportedPickle = errors.New("unsupported pickle content")
	// ErrTensorMismatch reports a missing, extra or misshapen tensor.
	ErrTensorMismatch = errors.New("tensor mismatch")
)

// Tensor is a named dense tensor in C (row-major) order. Data always holds
// float32, whatever the dtype in the file; len(Data) equals the product of
// Shape (1 for a scalar, whose Shape is empty).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Numel returns the number of elements the shape describes.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// check reports whether the tensor is well formed.
func (t *Tensor) check() error {
	if t == nil {
		return errors.New("nil tensor")
	}
	if t.Name == "" {
		return errors.New("tensor with empty name")
	}
	n, ok := numel(t.Shape)
	if !ok {
		return fmt.Errorf("tensor %q: invalid shape %v", t.Name, t.Shape)
	}
	if n != len(t.Data) {
		return fmt.Errorf("tensor %q: shape %v needs %d values, has %d", t.Name, t.Shape, n, len(t.Data))
	}
	return nil
}

// numel returns the product of shape, and false when a dimension is negative
// or the product overflows int64 / exceeds what a slice can hold.
func numel(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt32*64/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Sorted returns the tensors of m ordered by name (for WriteHFDir,
// WriteSafetensors and WriteTorchBin, which take slices).
func Sorted(m map[string]*Tensor) []*Tensor {
	out := make([]*Tensor, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
