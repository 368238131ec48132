package checkpoint

import (
	"fmt"
	"sort"
	"strings"
)

// Param is one parameter tensor of a BertModel: its HF name (without any
// "bert." prefix) and shape. Linear weights are [out, in] (y = x·Wᵀ + b).
type Param struct {
	Name     string
	Shape    []int
	Optional bool // the pooler: absent from checkpoints without a pooler
}

// Params lists the parameters of a BertModel with configuration c in HF's
// order: embeddings, then each layer, then the (optional) pooler.
func (c *BertConfig) Params() []Param {
	h, in := c.HiddenSize, c.IntermediateSize
	ps := []Param{
		{Name: "embeddings.word_embeddings.weight", Shape: []int{c.VocabSize, h}},
		{Name: "embeddings.position_embeddings.weight", Shape: []int{c.MaxPositionEmbeddings, h}},
		{Name: "embeddings.token_type_embeddings.weight", Shape: []int{c.TypeVocabSize, h}},
		{Name: "embeddings.LayerNorm.weight", Shape: []int{h}},
		{Name: "embeddings.LayerNorm.bias", Shape: []int{h}},
	}
	for l := 0; l < c.NumHiddenLayers; l++ {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		for _, qkv := range []string{"query", "key", "value"} {
			ps = append(ps,
				Param{Name: p + "attention.self." + qkv + ".weight", Shape: []int{h, h}},
				Param{Name: p + "attention.self." + qkv + ".bias", Shape: []int{h}})
		}
		ps = append(ps,
			Param{Name: p + "attention.output.dense.weight", Shape: []int{h, h}},
			Param{Name: p + "attention.output.dense.bias", Shape: []int{h}},
			Param{Name: p + "attention.output.LayerNorm.weight", Shape: []int{h}},
			Param{Name: p + "attention.output.LayerNorm.bias", Shape: []int{h}},
			Param{Name: p + "intermediate.dense.weight", Shape: []int{in, h}},
			Param{Name: p + "intermediate.dense.bias", Shape: []int{in}},
			Param{Name: p + "output.dense.weight", Shape: []int{h, in}},
			Param{Name: p + "output.dense.bias", Shape: []int{h}},
			Param{Name: p + "output.LayerNorm.weight", Shape: []int{h}},
			Param{Name: p + "output.LayerNorm.bias", Shape: []int{h}})
	}
	ps = append(ps,
		Param{Name: "pooler.dense.weight", Shape: []int{h, h}, Optional: true},
		Param{Name: "pooler.dense.bias", Shape: []int{h}, Optional: true})
	return ps
}

// CheckTensors checks tensors (with normalised names, see LoadDir) against
// the parameters of c: every required parameter present with its exact
// shape, the pooler weight and bias both present or both absent, and no
// other tensor. The error (ErrTensorMismatch) names every offending tensor.
func CheckTensors(c *BertConfig, tensors map[string]*Tensor) error {
	shapes := make(map[string][]int, len(tensors))
	for name, t := range tensors {
		shapes[name] = nil
		if t != nil {
			shapes[name] = t.Shape
		}
	}
	return checkShapes(c, shapes, func(name string) string {
		t := tensors[name]
		if t == nil {
			return name + " is nil"
		}
		if len(t.Data) != t.Numel() {
			return fmt.Sprintf("%s has %d values for shape %v", name, len(t.Data), t.Shape)
		}
		return ""
	})
}

// checkShapes is CheckTensors over names and shapes (nil: a nil tensor);
// values, when not nil, reports a problem with a tensor of the right shape.
func checkShapes(c *BertConfig, shapes map[string][]int, values func(string) string) error {
	var problems []string
	known := map[string]bool{}
	pooler := 0
	for _, p := range c.Params() {
		known[p.Name] = true
		sh, ok := shapes[p.Name]
		if !ok {
			if !p.Optional {
				problems = append(problems, fmt.Sprintf("missing %s %v", p.Name, p.Shape))
			}
			continue
		}
		if p.Optional {
			pooler++
		}
		if !sameShape(sh, p.Shape) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", p.Name, sh, p.Shape))
		} else if values != nil {
			if msg := values(p.Name); msg != "" {
				problems = append(problems, msg)
			}
		}
	}
	if pooler == 1 {
		problems = append(problems, "pooler.dense.weight and pooler.dense.bias must both be present or both absent")
	}
	var extra []string
	for name := range shapes {
		if !known[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, "unexpected tensor "+name)
	}
	if len(problems) == 0 {
		return nil
	}
	const maxShown = 10
	more := ""
	if len(problems) > maxShown {
		more = fmt.Sprintf(" (and %d more)", len(problems)-maxShown)
		problems = problems[:maxShown]
	}
	return fmt.Errorf("%w: %s%s", ErrTensorMismatch, strings.Join(problems, "; "), more)
}
