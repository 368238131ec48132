package optim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// AdamWConfig holds AdamW's hyper-parameters (the learning rate is passed
// to each Step, as a schedule sets it).
type AdamWConfig struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
}

// DefaultAdamW is Contriever's setting: β 0.9/0.98, eps 1e-6, weight decay
// 0.01 on all parameters.
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{Beta1: 0.9, Beta2: 0.98, Eps: 1e-6, WeightDecay: 0.01}
}

// AdamW is torch.optim.AdamW (torch 1.13, single-tensor path, amsgrad off)
// over a list of parameters. For each parameter with a gradient, at its
// t-th step and learning rate lr:
//
//	p  ← p·(1 − lr·wd)                    (decoupled weight decay, first)
//	m  ← β1·m + (1−β1)·g
//	v  ← β2·v + (1−β2)·g·g
//	p  ← p − (lr/(1−β1^t)) · m / (sqrt(v)/sqrt(1−β2^t) + eps)
//
// Scalars are formed in float64 and the element-wise work is done in
// float32 in the same order as torch's CPU kernels.
type AdamW struct {
	cfg    AdamWConfig
	params []Param
	m, v   [][]float32
	steps  []int64
}

// NewAdamW returns an AdamW over params with zero moments. The Param
// values are kept: the optimiser updates the Data slices in place and reads
// the Grad slices.
func NewAdamW(params []Param, cfg AdamWConfig) *AdamW {
	o := &AdamW{cfg: cfg, params: params, m: make([][]float32, len(params)), v: make([][]float32, len(params)), steps: make([]int64, len(params))}
	for i, p := range params {
		if p.Grad != nil && len(p.Grad) != len(p.Data) {
			panic(fmt.Sprintf("optim: param %s has %d values and %d gradients", p.Name, len(p.Data), len(p.Grad)))
		}
		o.m[i] = make([]float32, len(p.Data))
		o.v[i] = make([]float32, len(p.Data))
	}
	return o
}

// Config returns the hyper-parameters.
func (o *AdamW) Config() AdamWConfig { return o.cfg }

// Params returns the parameters the optimiser updates.
func (o *AdamW) Params() []Param { return o.params }

// Moments returns the first and second moment buffers of parameter i (for
// inspection; they alias the optimiser's state).
func (o *AdamW) Moments(i int) (m, v []float32) { return o.m[i], o.v[i] }

// Step applies one update with learning rate lr to every parameter that
// has a gradient buffer.
func (o *AdamW) Step(lr float64) {
	b1, b2 := o.cfg.Beta1, o.cfg.Beta2
	decay := float32(1 - lr*o.cfg.WeightDecay)
	fb1, fb1c := float32(b1), float32(1-b1)
	fb2, fb2c := float32(b2), float32(1-b2)
	eps := float32(o.cfg.Eps)
	for i, p := range o.params {
		if p.Grad == nil {
			continue
		}
		o.steps[i]++
		t := float64(o.steps[i])
		bc1 := 1 - math.Pow(b1, t)
		bc2sqrt := float32(math.Sqrt(1 - math.Pow(b2, t)))
		negStep := float32(-(lr / bc1))
		m, v, g := o.m[i], o.v[i], p.Grad
		for j, x := range p.Data {
			x = float32(x * decay)
			gj := g[j]
			mj := float32(float32(m[j]*fb1) + float32(fb1c*gj))
			vj := float32(float32(v[j]*fb2) + float32(float32(fb2c*gj)*gj))
			m[j], v[j] = mj, vj
			den := float32(float32(float32(math.Sqrt(float64(vj)))/bc2sqrt) + eps)
			p.Data[j] = float32(x + float32(float32(negStep*mj)/den))
		}
	}
}

const adamMagic = "CADAMW01"

// ErrBadState reports an optimiser state that cannot be restored.
var ErrBadState = errors.New("optim: malformed optimiser state")

// MarshalBinary encodes the optimiser state: hyper-parameters, and per
// parameter its name, step count and both moments.
func (o *AdamW) MarshalBinary() ([]byte, error) {
	var b []byte
	b = append(b, adamMagic...)
	for _, f := range []float64{o.cfg.Beta1, o.cfg.Beta2, o.cfg.Eps, o.cfg.WeightDecay} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(o.params)))
	for i, p := range o.params {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Name)))
		b = append(b, p.Name...)
		b = binary.LittleEndian.AppendUint64(b, uint64(o.steps[i]))
		b = binary.LittleEndian.AppendUint64(b, uint64(len(p.Data)))
		for _, x := range o.m[i] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		for _, x := range o.v[i] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return b, nil
}

// UnmarshalBinary restores a state written by MarshalBinary into an
// optimiser built over the same parameter list (same names and sizes, in
// the same order); the hyper-parameters are restored too.
func (o *AdamW) UnmarshalBinary(b []byte) error {
	r := reader{b: b}
	if string(r.bytes(len(adamMagic))) != adamMagic {
		return fmt.Errorf("%w: bad magic", ErrBadState)
	}
	var cfg AdamWConfig
	cfg.Beta1 = math.Float64frombits(r.u64())
	cfg.Beta2 = math.Float64frombits(r.u64())
	cfg.Eps = math.Float64frombits(r.u64())
	cfg.WeightDecay = math.Float64frombits(r.u64())
	n := int(r.u32())
	if r.err != nil || n != len(o.params) {
		return fmt.Errorf("%w: %d params, optimiser has %d", ErrBadState, n, len(o.params))
	}
	steps := make([]int64, n)
	ms, vs := make([][]float32, n), make([][]float32, n)
	for i, p := range o.params {
		name := string(r.bytes(int(r.u32())))
		steps[i] = int64(r.u64())
		size := r.u64()
		if r.err != nil || name != p.Name || size != uint64(len(p.Data)) {
			return fmt.Errorf("%w: param %d is %q[%d], optimiser has %q[%d]", ErrBadState, i, name, size, p.Name, len(p.Data))
		}
		ms[i], vs[i] = r.f32s(len(p.Data)), r.f32s(len(p.Data))
	}
	if r.err != nil || len(r.b) != 0 {
		return fmt.Errorf("%w: truncated or trailing data", ErrBadState)
	}
	o.cfg, o.steps, o.m, o.v = cfg, steps, ms, vs
	return nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = ErrBadState
		return nil
	}
	x := r.b[:n]
	r.b = r.b[n:]
	return x
}

func (r *reader) u32() uint32 {
	if x := r.bytes(4); x != nil {
		return binary.LittleEndian.Uint32(x)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if x := r.bytes(8); x != nil {
		return binary.LittleEndian.Uint64(x)
	}
	return 0
}

func (r *reader) f32s(n int) []float32 {
	x := r.bytes(4 * n)
	if x == nil {
		return nil
	}
	y := make([]float32, n)
	for i := range y {
		y[i] = math.Float32frombits(binary.LittleEndian.Uint32(x[4*i:]))
	}
	return y
}
