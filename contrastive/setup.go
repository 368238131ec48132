package contrastive

import (
	"path/filepath"

	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/encoder"
)

// LinearSchedule is the learning-rate schedule of the training commands:
// linear warmup to lr over warmup steps, then linear decay to 0 at steps;
// a negative warmup picks 5% of steps.
func LinearSchedule(lr float64, warmup int, steps int64) optim.Schedule {
	if warmup < 0 {
		warmup = int(steps / 20)
	}
	return optim.Schedule{Kind: optim.Linear, Base: lr, Warmup: warmup, Total: int(steps)}
}

// StartTrainer returns a Trainer of model on src with cfg and, when
// resume is set, restores it from the state saved in outDir (StateName),
// so that the run continues bit for bit.
func StartTrainer(model *encoder.Model, src Source, cfg Config, outDir string, resume bool) (*Trainer, error) {
	tr, err := NewTrainer(model, src, cfg)
	if err != nil {
		return nil, err
	}
	if resume {
		st, err := LoadState(filepath.Join(outDir, StateName))
		if err != nil {
			return nil, err
		}
		if err := tr.Restore(st); err != nil {
			return nil, err
		}
	}
	return tr, nil
}
