package static

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/contriever-go/contriever/internal/readlimit"
)

// ProvenanceFile is the file in a model folder (beside modules.json) that
// records how contriever made the model. sentence-transformers ignores it.
const ProvenanceFile = "contriever_training.json"

// maxProvenanceBytes bounds the provenance file read.
const maxProvenanceBytes = 64 << 10

// Provenance records how a model was made: the recipe that trained it
// (RecipeStatic for the training-free model, RecipeTuned for the
// contrastively tuned one), the optimiser steps taken, the time budget,
// the seed and the training corpus. Consumers use it to pick label-free
// defaults (fusion weight) that depend on how far the model was trained.
type Provenance struct {
	Recipe string `json:"recipe"`
	Steps  int64  `json:"steps"`
	Budget string `json:"budget,omitempty"`
	Seed   uint64 `json:"seed,omitempty"`
	Corpus string `json:"corpus,omitempty"`
	// Passes is how many times the training crops covered the corpus's
	// tokens, in expectation (static-tuned; 0: not recorded).
	Passes float64 `json:"passes,omitempty"`
	// LR is the peak learning rate the run used, in units of the start's
	// rms entry (static-tuned; 0: not recorded).
	LR float64 `json:"lr,omitempty"`
}

// The recipes a Provenance names.
const (
	RecipeStatic = "static"
	RecipeTuned  = "static-tuned"
)

// ErrProvenance reports a provenance file that cannot be read.
var ErrProvenance = errors.New("static: bad provenance file")

// ReadProvenance reads dir's provenance file; a folder without one gives
// nil and no error.
func ReadProvenance(dir string) (*Provenance, error) {
	path := filepath.Join(dir, ProvenanceFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	b, err := readlimit.ReadFile(path, maxProvenanceBytes, ErrProvenance)
	if err != nil {
		return nil, err
	}
	var p Provenance
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrProvenance, path, err)
	}
	if p.Steps < 0 {
		return nil, fmt.Errorf("%w: %s: steps %d", ErrProvenance, path, p.Steps)
	}
	if !(p.Passes >= 0) || math.IsInf(p.Passes, 0) || !(p.LR >= 0) || math.IsInf(p.LR, 0) {
		return nil, fmt.Errorf("%w: %s: passes %g, lr %g", ErrProvenance, path, p.Passes, p.LR)
	}
	return &p, nil
}
