package encoder

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/contriever-go/contriever/encoder/checkpoint"
)

// Param is one named parameter tensor of a Model: Data is a view into the
// model's flat buffer (writing to it changes the model).
type Param struct {
	Name  string
	Shape []int
	Data  []float32
}

// Layer holds the parameter views of one transformer layer. The query,
// key and value projections are stored fused, so that one matrix product
// computes all three: QKVW is [3H, H] with the query rows first, then the
// key rows, then the value rows (HF's attention.self.query/key/value
// weights, each [H, H]); QKVB [3H] likewise.
type Layer struct {
	QKVW, QKVB         []float32 // attention.self.{query,key,value}
	AttnOutW, AttnOutB []float32 // attention.output.dense [H, H], [H]
	AttnLNW, AttnLNB   []float32 // attention.output.LayerNorm [H]
	InterW, InterB     []float32 // intermediate.dense [I, H], [I]
	OutW, OutB         []float32 // output.dense [H, I], [H]
	OutLNW, OutLNB     []float32 // output.LayerNorm [H]
}

// Model is a BERT encoder with HF BertModel semantics. Its parameters live
// in one flat buffer (Flat) in the order Params lists them.
type Model struct {
	// Config is the model's configuration; do not change its sizes.
	Config *checkpoint.BertConfig

	WordEmb  []float32 // embeddings.word_embeddings.weight [V, H]
	PosEmb   []float32 // embeddings.position_embeddings.weight [P, H]
	TypeEmb  []float32 // embeddings.token_type_embeddings.weight [TV, H]
	EmbLNW   []float32 // embeddings.LayerNorm.weight [H]
	EmbLNB   []float32 // embeddings.LayerNorm.bias [H]
	Layers   []Layer
	PoolerW  []float32 // pooler.dense.weight [H, H]; nil without a pooler
	PoolerB  []float32 // pooler.dense.bias [H]; nil without a pooler
	flat     []float32
	params   []Param
	byName   map[string]int
	hasPool  bool
	nEncoder int      // number of parameters (floats) before the pooler
	prep     prepared // linear weights converted for reduced precisions
}

// ErrShape reports a batch whose sizes do not fit the model.
var ErrShape = errors.New("encoder: bad batch shape")

// newModel lays out a zeroed model for cfg, with or without a pooler.
func newModel(cfg *checkpoint.BertConfig, pooler bool) *Model {
	H, I := cfg.HiddenSize, cfg.IntermediateSize
	m := &Model{Config: cfg, hasPool: pooler, byName: map[string]int{}}
	type spec struct {
		name  string
		shape []int
		dst   *[]float32
	}
	var specs []spec
	add := func(name string, dst *[]float32, shape ...int) {
		specs = append(specs, spec{name, shape, dst})
	}
	add("embeddings.word_embeddings.weight", &m.WordEmb, cfg.VocabSize, H)
	add("embeddings.position_embeddings.weight", &m.PosEmb, cfg.MaxPositionEmbeddings, H)
	add("embeddings.token_type_embeddings.weight", &m.TypeEmb, cfg.TypeVocabSize, H)
	add("embeddings.LayerNorm.weight", &m.EmbLNW, H)
	add("embeddings.LayerNorm.bias", &m.EmbLNB, H)
	m.Layers = make([]Layer, cfg.NumHiddenLayers)
	// The q/k/v views are sub-slices of QKVW/QKVB: record them separately.
	type qkvSpec struct {
		name  string
		shape []int
		layer int
		bias  bool
		part  int
	}
	var qkv []qkvSpec
	for l := range m.Layers {
		L := &m.Layers[l]
		p := fmt.Sprintf("encoder.layer.%d.", l)
		add(p+"attention.self.qkv.weight", &L.QKVW, 3*H, H)
		add(p+"attention.self.qkv.bias", &L.QKVB, 3*H)
		for part, n := range []string{"query", "key", "value"} {
			qkv = append(qkv, qkvSpec{p + "attention.self." + n + ".weight", []int{H, H}, l, false, part})
		}
		for part, n := range []string{"query", "key", "value"} {
			qkv = append(qkv, qkvSpec{p + "attention.self." + n + ".bias", []int{H}, l, true, part})
		}
		add(p+"attention.output.dense.weight", &L.AttnOutW, H, H)
		add(p+"attention.output.dense.bias", &L.AttnOutB, H)
		add(p+"attention.output.LayerNorm.weight", &L.AttnLNW, H)
		add(p+"attention.output.LayerNorm.bias", &L.AttnLNB, H)
		add(p+"intermediate.dense.weight", &L.InterW, I, H)
		add(p+"intermediate.dense.bias", &L.InterB, I)
		add(p+"output.dense.weight", &L.OutW, H, I)
		add(p+"output.dense.bias", &L.OutB, H)
		add(p+"output.LayerNorm.weight", &L.OutLNW, H)
		add(p+"output.LayerNorm.bias", &L.OutLNB, H)
	}
	nEnc := 0
	for _, s := range specs {
		nEnc += prod(s.shape)
	}
	total := nEnc
	if pooler {
		add("pooler.dense.weight", &m.PoolerW, H, H)
		add("pooler.dense.bias", &m.PoolerB, H)
		total += H*H + H
	}
	m.flat = make([]float32, total)
	m.nEncoder = nEnc
	off := 0
	for _, s := range specs {
		n := prod(s.shape)
		*s.dst = m.flat[off : off+n : off+n]
		off += n
	}
	// Params in the flat order, the fused q/k/v replaced by HF's names.
	qi := 0
	for _, s := range specs {
		if strings.Contains(s.name, ".attention.self.qkv.") {
			if strings.HasSuffix(s.name, ".weight") {
				for ; qi < len(qkv) && !qkv[qi].bias; qi++ {
					q := qkv[qi]
					d := m.Layers[q.layer].QKVW[q.part*H*H : (q.part+1)*H*H : (q.part+1)*H*H]
					m.addParam(q.name, q.shape, d)
				}
			} else {
				for ; qi < len(qkv) && qkv[qi].bias; qi++ {
					q := qkv[qi]
					d := m.Layers[q.layer].QKVB[q.part*H : (q.part+1)*H : (q.part+1)*H]
					m.addParam(q.name, q.shape, d)
				}
			}
			continue
		}
		m.addParam(s.name, s.shape, *s.dst)
	}
	return m
}

func (m *Model) addParam(name string, shape []int, data []float32) {
	m.byName[name] = len(m.params)
	m.params = append(m.params, Param{Name: name, Shape: shape, Data: data})
}

func prod(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Params returns the model's parameters in HF BertModel naming (no
// "bert." prefix), in a fixed order that is also their order in Flat:
// the embeddings, then for each layer query.weight, key.weight,
// value.weight, query.bias, key.bias, value.bias, attention.output.dense,
// attention.output.LayerNorm, intermediate.dense, output.dense,
// output.LayerNorm (weight before bias), then the pooler if present.
// The returned slice must not be modified.
func (m *Model) Params() []Param { return m.params }

// Param returns the parameter with the given HF name, or false.
func (m *Model) Param(name string) (Param, bool) {
	i, ok := m.byName[name]
	if !ok {
		return Param{}, false
	}
	return m.params[i], true
}

// Flat returns the buffer holding all parameters, in Params order.
func (m *Model) Flat() []float32 { return m.flat }

// EncoderParams returns the number of leading floats of Flat that belong
// to the encoder proper (everything but the pooler, which Contriever does
// not train).
func (m *Model) EncoderParams() int { return m.nEncoder }

// HasPooler reports whether the model has pooler.dense weights.
func (m *Model) HasPooler() bool { return m.hasPool }

// ZeroLike returns a model of the same configuration and layout whose
// parameters are all zero: the gradient (or optimiser moment) buffer of a
// trainer, indexable with the same Layer fields and Params order.
func (m *Model) ZeroLike() *Model { return newModel(m.Config, m.hasPool) }

// Clone returns a deep copy of the model (for example a MoCo momentum
// encoder).
func (m *Model) Clone() *Model {
	c := newModel(m.Config, m.hasPool)
	copy(c.flat, m.flat)
	return c
}

// Tensors returns the parameters as checkpoint tensors sharing the
// model's memory, for checkpoint.WriteTorchBin, WriteSafetensors or
// WriteHFDir.
func (m *Model) Tensors() []*checkpoint.Tensor {
	ts := make([]*checkpoint.Tensor, len(m.params))
	for i, p := range m.params {
		ts[i] = &checkpoint.Tensor{Name: p.Name, Shape: append([]int(nil), p.Shape...), Data: p.Data}
	}
	return ts
}

// NewRandom returns a model initialised as HF's BertModel._init_weights:
// linear and embedding weights ~ N(0, initializer_range) (0.02 when the
// config leaves it 0), biases 0, the padding row of the word embeddings 0,
// LayerNorm weight 1 and bias 0. pooler adds pooler.dense. The draw is
// determined by seed.
func NewRandom(cfg *checkpoint.BertConfig, seed uint64, pooler bool) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newModel(cfg, pooler)
	std := cfg.InitializerRange
	if std <= 0 {
		std = 0.02
	}
	r := rand.New(rand.NewPCG(seed, 0x636f6e747269))
	for _, p := range m.params {
		switch {
		case strings.HasSuffix(p.Name, "LayerNorm.weight"):
			for i := range p.Data {
				p.Data[i] = 1
			}
		case strings.HasSuffix(p.Name, ".bias"):
			// zero
		default:
			for i := range p.Data {
				p.Data[i] = float32(r.NormFloat64() * std)
			}
		}
	}
	if pad := cfg.PadTokenID; pad >= 0 && pad < cfg.VocabSize {
		clear(m.WordEmb[pad*cfg.HiddenSize : (pad+1)*cfg.HiddenSize])
	}
	return m, nil
}

// FromTensors builds a model from named tensors (HF BertModel names, no
// prefix). Every expected tensor must be present with its exact shape;
// pooler.dense is optional (both or neither), and the HF buffers
// embeddings.position_ids and embeddings.token_type_ids are ignored. A
// missing, extra or misshapen tensor is an error naming it that wraps
// checkpoint.ErrTensorMismatch.
func FromTensors(cfg *checkpoint.BertConfig, tensors map[string]*checkpoint.Tensor) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	_, pw := tensors["pooler.dense.weight"]
	_, pb := tensors["pooler.dense.bias"]
	if pw != pb {
		missing := "pooler.dense.weight"
		if pw {
			missing = "pooler.dense.bias"
		}
		return nil, fmt.Errorf("%w: missing tensor %q", checkpoint.ErrTensorMismatch, missing)
	}
	m := newModel(cfg, pw)
	var errs []error
	for _, p := range m.params {
		t, ok := tensors[p.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: missing tensor %q (shape %v)", checkpoint.ErrTensorMismatch, p.Name, p.Shape))
			continue
		}
		if !sameShape(t.Shape, p.Shape) || len(t.Data) != len(p.Data) {
			errs = append(errs, fmt.Errorf("%w: tensor %q has shape %v, want %v", checkpoint.ErrTensorMismatch, p.Name, t.Shape, p.Shape))
			continue
		}
		copy(p.Data, t.Data)
	}
	for name := range tensors {
		if _, ok := m.byName[name]; ok || name == "embeddings.position_ids" || name == "embeddings.token_type_ids" {
			continue
		}
		errs = append(errs, fmt.Errorf("%w: unexpected tensor %q", checkpoint.ErrTensorMismatch, name))
	}
	if len(errs) > 0 {
		if len(errs) > 8 {
			errs = append(errs[:8], fmt.Errorf("... and %d more", len(errs)-8))
		}
		return nil, errors.Join(errs...)
	}
	return m, nil
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

// checkFinite reports the first parameter holding NaN or ±Inf.
func (m *Model) checkFinite() error {
	for _, p := range m.params {
		for _, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%w: tensor %q holds a non-finite value", checkpoint.ErrCorrupt, p.Name)
			}
		}
	}
	return nil
}
