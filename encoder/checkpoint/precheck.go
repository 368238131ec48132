package checkpoint

import (
	"fmt"
	"strconv"
	"strings"
)

// precheck compares a configuration with the tensors a weights file lists
// (normalised name → shape, read from the file's header or pickle, no
// tensor data) before anything is sized from the configuration: the file
// must hold at least the configuration's tensor count, its embedding
// shapes must match and its layers must run from 0 to num_hidden_layers-1.
// A config.json that declares far more layers, or larger sizes, than the
// weights hold is refused here in time proportional to the file's tensor
// list, before Params lists 16 entries per declared layer.
func precheck(c *BertConfig, shapes map[string][]int) error {
	if want := c.NumTensors(); len(shapes) < want {
		return fmt.Errorf("%w: %s declares %d layers (%d tensors without the pooler) but the weights hold %d tensors",
			ErrTensorMismatch, ConfigFile, c.NumHiddenLayers, want, len(shapes))
	}
	h := c.HiddenSize
	for _, e := range []struct {
		name string
		want []int
	}{
		{"embeddings.word_embeddings.weight", []int{c.VocabSize, h}},
		{"embeddings.position_embeddings.weight", []int{c.MaxPositionEmbeddings, h}},
		{"embeddings.token_type_embeddings.weight", []int{c.TypeVocabSize, h}},
		{"encoder.layer.0.intermediate.dense.weight", []int{c.IntermediateSize, h}},
	} {
		got, ok := shapes[e.name]
		if !ok {
			return fmt.Errorf("%w: missing %s %v", ErrTensorMismatch, e.name, e.want)
		}
		if !sameShape(got, e.want) {
			return fmt.Errorf("%w: %s has shape %v, %s wants %v", ErrTensorMismatch, e.name, got, ConfigFile, e.want)
		}
	}
	top := -1
	for name := range shapes {
		rest, ok := strings.CutPrefix(name, "encoder.layer.")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if l, err := strconv.Atoi(num); err == nil && l > top && l < 1<<30 {
			top = l
		}
	}
	if top+1 < c.NumHiddenLayers { // extra layers are named by CheckTensors
		return fmt.Errorf("%w: %s declares %d layers, the weights hold layers 0 to %d only",
			ErrTensorMismatch, ConfigFile, c.NumHiddenLayers, top)
	}
	return nil
}
