package encoder

import (
	"fmt"
	"strings"
	"sync"

	"github.com/contriever-go/contriever/internal/nn"
	"github.com/contriever-go/contriever/internal/qgemm"
)

// Precision is the arithmetic of the encoder's linear layers (the fused
// QKV projection, the attention output and the two FFN products, which
// hold nearly all of the FLOPs). Embeddings, layer norm, softmax, GELU,
// the attention scores and the pooler stay float32 at every precision.
type Precision int

const (
	// F32 is float32 throughout (the default, and the only precision of
	// training).
	F32 Precision = iota
	// BF16 rounds the weights (once, at Prepare) and the activations (per
	// product) to bf16 and accumulates in float32 (VDPBF16PS).
	BF16
	// Int8 quantises the weights per output channel, symmetric, once at
	// Prepare, and the activations per row (token) to u8 with a zero
	// point, as ONNX Runtime's dynamic quantisation does; the products
	// are exact int32 sums, dequantised to float32 (VPDPBUSD).
	Int8
)

// Precisions lists the precisions, F32 first.
var Precisions = []Precision{F32, BF16, Int8}

// String returns "f32", "bf16" or "int8".
func (p Precision) String() string {
	switch p {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	case Int8:
		return "int8"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision parses "f32" (or "fp32", "float32"), "bf16" or "int8".
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(s) {
	case "f32", "fp32", "float32", "":
		return F32, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "int8", "i8":
		return Int8, nil
	}
	return F32, fmt.Errorf("encoder: unknown precision %q (want f32, bf16 or int8)", s)
}

// Arithmetic names the arithmetic p runs with on this CPU: "f32", "bf16",
// or for int8 the width of the weights the kernel in use takes, and of
// its activations when they are not 8 bits: "int8/w8" (VNNI, pure Go),
// "int8/w6a7" (AVX2: 6-bit weights, 7-bit activations), "int8/w6" (AVX2
// pinned with BLAS32_KERNEL=avx2w6) or "int8/w7" (BLAS32_KERNEL=avx2w7).
// Embeddings computed at different arithmetics differ slightly: caches of
// them are keyed by it, so vectors from one kernel are never mixed with
// another's.
func (p Precision) Arithmetic() string {
	if p == Int8 {
		a := fmt.Sprintf("int8/w%d", qgemm.Int8WeightBits())
		if bits := qgemm.Int8ActivationBits(); bits != 8 {
			a += fmt.Sprintf("a%d", bits)
		}
		return a
	}
	return p.String()
}

// PrecisionKernels names the kernels that run the reduced precisions on
// this CPU (for reports).
func PrecisionKernels() string { return qgemm.Implementation() }

// linearOp is a linear layer prepared for a reduced precision.
type linearOp interface {
	forward(out, in []float32, n int, bias []float32)
}

type bf16Op struct{ w *qgemm.BF16Weights }

func (o bf16Op) forward(out, in []float32, n int, bias []float32) {
	qgemm.LinearBF16(out, in, n, o.w, bias)
}

type int8Op struct{ w *qgemm.Int8Weights }

func (o int8Op) forward(out, in []float32, n int, bias []float32) {
	qgemm.LinearInt8(out, in, n, o.w, bias)
}

// rowsOp is a linearOp that can take its input rows from the step that
// produces them (int8: qgemm.LinearInt8Rows), found by type assertion.
type rowsOp interface {
	forwardRows(out []float32, n int, src qgemm.RowSource, bias []float32)
}

func (o int8Op) forwardRows(out []float32, n int, src qgemm.RowSource, bias []float32) {
	qgemm.LinearInt8Rows(out, n, src, o.w, bias)
}

// preparedLayer holds one layer's linear weights at a reduced precision.
type preparedLayer struct {
	qkv, attnOut, inter, out linearOp
}

// prepared caches the weights of each reduced precision.
type prepared struct {
	mu   sync.Mutex
	sets [3][]preparedLayer
}

// Prepare converts the weights of the linear layers for p, once: bf16, or
// int8 per output channel. Forward and Encoder call it themselves on first
// use; calling it at load moves the cost there. The prepared weights are a
// copy: after changing the model's parameters (training), call Unprepare.
func (m *Model) Prepare(p Precision) error {
	_, err := m.preparedLayers(p)
	return err
}

// Unprepare drops the weights prepared for reduced precisions.
func (m *Model) Unprepare() {
	m.prep.mu.Lock()
	m.prep.sets = [3][]preparedLayer{}
	m.prep.mu.Unlock()
}

// preparedLayers returns the layers prepared for p (nil for F32).
func (m *Model) preparedLayers(p Precision) ([]preparedLayer, error) {
	if p == F32 {
		return nil, nil
	}
	if p != BF16 && p != Int8 {
		return nil, fmt.Errorf("encoder: unknown precision %v", p)
	}
	m.prep.mu.Lock()
	defer m.prep.mu.Unlock()
	if s := m.prep.sets[p]; s != nil {
		return s, nil
	}
	H, I := m.Config.HiddenSize, m.Config.IntermediateSize
	conv := func(w []float32, n, k int) linearOp {
		if p == BF16 {
			return bf16Op{qgemm.NewBF16Weights(w, n, k)}
		}
		return int8Op{qgemm.NewInt8Weights(w, n, k)}
	}
	s := make([]preparedLayer, len(m.Layers))
	for l := range m.Layers {
		W := &m.Layers[l]
		s[l] = preparedLayer{
			qkv:     conv(W.QKVW, 3*H, H),
			attnOut: conv(W.AttnOutW, H, H),
			inter:   conv(W.InterW, I, H),
			out:     conv(W.OutW, H, I),
		}
	}
	m.prep.sets[p] = s
	return s, nil
}

// linearAt computes out [N, OC] = in [N, C]·wᵀ + bias at the precision of
// op (float32 when op is nil).
func linearAt(op linearOp, out, in, w, bias []float32, N, C, OC int) {
	if op == nil {
		nn.LinearForward(out, in, w, bias, N, C, OC)
		return
	}
	op.forward(out[:N*OC], in[:N*C], N, bias)
}
