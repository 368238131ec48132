package contrastive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/contriever-go/contriever/contrastive/data"
	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
)

// Objectives.
const (
	// ObjectiveMoCo scores each query against its key from a momentum
	// encoder and a queue of earlier keys.
	ObjectiveMoCo = "moco"
	// ObjectiveInBatch scores each query against every key of the batch
	// (and the batch's extra negatives, if any), all from one encoder.
	ObjectiveInBatch = "inbatch"
)

// Config is a training run's settings. DefaultConfig gives Contriever's.
type Config struct {
	Objective   string  `json:"objective"`
	Temperature float64 `json:"temperature"`
	// Momentum (m) and QueueSize apply to MoCo.
	Momentum  float64 `json:"momentum"`
	QueueSize int     `json:"queue_size"`
	// Batch is the number of pairs per micro-batch; Accum the number of
	// micro-batches summed per optimiser step.
	Batch int `json:"batch"`
	Accum int `json:"accum"`
	// MaxLen is the longest sequence (special tokens included) a batch may
	// hold; it sizes the activation buffers.
	MaxLen   int               `json:"max_len"`
	Schedule optim.Schedule    `json:"schedule"`
	AdamW    optim.AdamWConfig `json:"adamw"`
	// Dropout runs both encoders in training mode (Contriever does).
	Dropout bool `json:"dropout"`
	// Seed drives the queue's initialisation and the dropout masks.
	Seed uint64 `json:"seed"`
}

// DefaultConfig returns Contriever's recipe for the given objective
// (τ 0.05, m 0.9995, AdamW β 0.9/0.98, eps 1e-6, wd 0.01, linear warmup
// and decay, dropout on) with a batch and queue suited to a small
// machine: 64 pairs, a queue of 8,192 keys, 256-token chunks.
func DefaultConfig(objective string) Config {
	return Config{
		Objective: objective, Temperature: 0.05, Momentum: 0.9995, QueueSize: 8192,
		Batch: 64, Accum: 1, MaxLen: 258,
		Schedule: optim.Schedule{Kind: optim.Linear, Base: 5e-5, Warmup: 1000, Total: 20000},
		AdamW:    optim.DefaultAdamW(), Dropout: true, Seed: 1,
	}
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	switch c.Objective {
	case ObjectiveMoCo:
		if c.QueueSize < 1 || !(c.Momentum >= 0 && c.Momentum <= 1) {
			return fmt.Errorf("contrastive: MoCo needs a queue (size %d) and a momentum in [0, 1] (%g)", c.QueueSize, c.Momentum)
		}
	case ObjectiveInBatch:
	default:
		return fmt.Errorf("contrastive: unknown objective %q (want %s or %s)", c.Objective, ObjectiveMoCo, ObjectiveInBatch)
	}
	if !(c.Temperature > 0) || c.Batch < 1 || c.Accum < 1 || c.MaxLen < 2 {
		return fmt.Errorf("contrastive: temperature %g, batch %d, accum %d and max length %d must be positive (max length ≥ 2)", c.Temperature, c.Batch, c.Accum, c.MaxLen)
	}
	return c.Schedule.Validate()
}

// Source supplies training batches and can save and restore its position
// exactly; data.Sampler is the unsupervised one.
type Source interface {
	Next(b int) data.Batch
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// Stats describes one optimiser step.
type Stats struct {
	Step     int64   // steps done after this one
	Loss     float64 // mean over the micro-batches
	Accuracy float64 // mean over the micro-batches
	LR       float64 // learning rate used
	Pairs    int     // pairs seen in this step
	Elapsed  time.Duration
}

// Trainer runs contrastive training of a BERT encoder: it owns the query
// encoder's gradients, the optimiser, MoCo's key encoder and queue, and
// the data source's position, and saves and restores all of them.
type Trainer struct {
	cfg    Config
	model  *encoder.Model
	grad   *encoder.Model
	key    *encoder.Model // MoCo momentum encoder
	queue  *Queue
	params []optim.Param
	opt    *optim.AdamW
	src    Source
	step   int64
	clock  *BudgetClock // time budget (UseBudget); nil: cfg.Schedule by step

	qT, kT, nT *Tower
	keyT       *Tower
	dq, dk, dn []float32
}

// NewTrainer starts a run on model (updated in place) with batches from
// src. For MoCo the key encoder starts as a copy of the model and the
// queue as random unit vectors drawn from cfg.Seed.
func NewTrainer(model *encoder.Model, src Source, cfg Config) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxLen > model.Config.MaxPositionEmbeddings {
		return nil, fmt.Errorf("contrastive: max length %d exceeds the model's %d positions", cfg.MaxLen, model.Config.MaxPositionEmbeddings)
	}
	t := &Trainer{cfg: cfg, model: model, grad: model.ZeroLike(), src: src}
	t.params = TrainableParams(model, t.grad)
	t.opt = optim.NewAdamW(t.params, cfg.AdamW)
	B, L := cfg.Batch, cfg.MaxLen
	t.qT = NewTower(model, t.grad, B, L, cfg.Dropout)
	if cfg.Objective == ObjectiveMoCo {
		t.key = model.Clone()
		t.keyT = NewTower(t.key, nil, B, L, cfg.Dropout)
		t.queue = NewQueue(cfg.QueueSize, model.Config.HiddenSize, rand.New(rand.NewPCG(cfg.Seed, 0x7175657565)))
	} else {
		t.kT = NewTower(model, t.grad, B, L, cfg.Dropout)
	}
	return t, nil
}

// Model is the query encoder being trained.
func (t *Trainer) Model() *encoder.Model { return t.model }

// KeyModel is MoCo's momentum encoder (nil for in-batch training).
func (t *Trainer) KeyModel() *encoder.Model { return t.key }

// Queue is MoCo's key queue (nil for in-batch training).
func (t *Trainer) Queue() *Queue { return t.queue }

// StepCount is the number of optimiser steps taken.
func (t *Trainer) StepCount() int64 { return t.step }

// Config returns the run's settings.
func (t *Trainer) Config() Config { return t.cfg }

// dropSeed gives each forward of the run its own dropout seed.
func (t *Trainer) dropSeed(micro, tower int) uint64 {
	return encoder.DropoutSeed(t.cfg.Seed^0x6472, int(t.step)*4096+micro*4+tower)
}

func asBatch(v *data.View) *encoder.Batch {
	return &encoder.Batch{B: v.B, T: v.S, IDs: v.IDs, Mask: v.Mask}
}

// Step runs one optimiser step over Accum micro-batches: for each, the
// query forward, then (MoCo) the momentum update of the key encoder and
// the keys under no gradient, or (in-batch) the keys and any negatives
// through the same encoder; the loss; the backward passes summed into the
// gradients; and (MoCo) the keys enqueued. As in Contriever, the momentum
// update runs once per micro-batch. The summed gradients are scaled by
// 1/Accum and AdamW steps at the schedule's rate for this step.
func (t *Trainer) Step() (Stats, error) {
	start := time.Now()
	c := t.cfg
	H := t.model.Config.HiddenSize
	lr := c.Schedule.LR(int(t.step))
	if t.clock != nil {
		lr, _ = t.clock.Next()
	}
	optim.ZeroGrads(t.params)
	acc := optim.NewAccumulator(c.Accum)
	st := Stats{LR: lr}
	for micro := 0; micro < c.Accum; micro++ {
		b := t.src.Next(c.Batch)
		n := b.Q.B
		if b.K.B != n || (b.N.B != 0 && c.Objective == ObjectiveMoCo) {
			return st, fmt.Errorf("contrastive: batch of %d queries, %d keys and %d negatives for %s", n, b.K.B, b.N.B, c.Objective)
		}
		for _, v := range []*data.View{&b.Q, &b.K, &b.N} {
			if v.S > c.MaxLen || v.B > c.Batch {
				return st, fmt.Errorf("contrastive: batch of %d×%d exceeds the configured %d×%d", v.B, v.S, c.Batch, c.MaxLen)
			}
		}
		train := encoder.ForwardOptions{Train: c.Dropout}
		train.Seed = t.dropSeed(micro, 0)
		q, err := t.qT.Embed(asBatch(&b.Q), train)
		if err != nil {
			return st, err
		}
		t.dq = grow(t.dq, n*H)
		var out Output
		if c.Objective == ObjectiveMoCo {
			Momentum([][]float32{EncoderWeights(t.key)}, [][]float32{EncoderWeights(t.model)}, float32(c.Momentum))
			train.Seed = t.dropSeed(micro, 1)
			k, err := t.keyT.Embed(asBatch(&b.K), train)
			if err != nil {
				return st, err
			}
			out = MoCo(q, k, t.queue.Keys(), n, t.queue.Size(), H, float32(c.Temperature), t.dq)
			if err := t.qT.Backward(t.dq); err != nil {
				return st, err
			}
			t.queue.Enqueue(k)
		} else {
			train.Seed = t.dropSeed(micro, 1)
			k, err := t.kT.Embed(asBatch(&b.K), train)
			if err != nil {
				return st, err
			}
			t.dk = grow(t.dk, n*H)
			if b.N.B > 0 {
				if t.nT == nil {
					t.nT = NewTower(t.model, t.grad, c.Batch, c.MaxLen, c.Dropout)
				}
				train.Seed = t.dropSeed(micro, 2)
				ng, err := t.nT.Embed(asBatch(&b.N), train)
				if err != nil {
					return st, err
				}
				t.dn = grow(t.dn, b.N.B*H)
				out = Supervised(q, k, ng, n, b.N.B, H, float32(c.Temperature), t.dq, t.dk, t.dn)
				if err := t.nT.Backward(t.dn); err != nil {
					return st, err
				}
			} else {
				out = InBatch(q, k, n, H, float32(c.Temperature), t.dq, t.dk)
			}
			if err := t.kT.Backward(t.dk); err != nil {
				return st, err
			}
			if err := t.qT.Backward(t.dq); err != nil {
				return st, err
			}
		}
		acc.Micro(t.params) // the last one scales the sums by 1/Accum
		st.Loss += out.Loss / float64(c.Accum)
		st.Accuracy += out.Accuracy / float64(c.Accum)
		st.Pairs += n
	}
	t.opt.Step(lr)
	t.step++
	st.Step = t.step
	st.Elapsed = time.Since(start)
	return st, nil
}

func grow(x []float32, n int) []float32 {
	if cap(x) < n {
		return make([]float32, n)
	}
	return x[:n]
}

// ErrConfigMismatch reports a state saved by a run with other settings.
var ErrConfigMismatch = errors.New("contrastive: training state is from a run with other settings")

func tensorsOf(m *encoder.Model) []Tensor {
	ps := m.Params()
	ts := make([]Tensor, len(ps))
	for i, p := range ps {
		ts[i] = Tensor{Name: p.Name, Shape: p.Shape, Data: p.Data}
	}
	return ts
}

// State returns the run's training state (it shares memory with the
// trainer: save it before the next Step).
func (t *Trainer) State() (*State, error) {
	cfg, err := json.Marshal(t.cfg)
	if err != nil {
		return nil, err
	}
	opt, err := t.opt.MarshalBinary()
	if err != nil {
		return nil, err
	}
	src, err := t.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	s := &State{Step: t.step, Config: cfg, Model: tensorsOf(t.model), Optimizer: opt, Sampler: src, RNG: map[string][]byte{}}
	if t.key != nil {
		s.Momentum = tensorsOf(t.key)
		s.Queue = t.queue
	}
	if t.clock != nil {
		if s.RNG[budgetStateKey], err = t.clock.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Restore continues the run saved in s: weights, key encoder, queue,
// optimiser moments, data position and step. The trainer must have been
// made with the same settings (else ErrConfigMismatch) over a model of
// the same layout.
func (t *Trainer) Restore(s *State) error {
	cfg, err := json.Marshal(t.cfg)
	if err != nil {
		return err
	}
	if !bytes.Equal(cfg, s.Config) {
		return fmt.Errorf("%w: saved %s, now %s", ErrConfigMismatch, s.Config, cfg)
	}
	if err := loadTensors(t.model, s.Model, "model"); err != nil {
		return err
	}
	if t.key != nil {
		if err := loadTensors(t.key, s.Momentum, "momentum encoder"); err != nil {
			return err
		}
		if s.Queue == nil || s.Queue.Size() != t.queue.Size() || s.Queue.Dim() != t.queue.Dim() {
			return fmt.Errorf("%w: queue missing or resized", ErrConfigMismatch)
		}
		*t.queue = *s.Queue
	}
	if err := t.opt.UnmarshalBinary(s.Optimizer); err != nil {
		return err
	}
	if err := t.src.UnmarshalBinary(s.Sampler); err != nil {
		return err
	}
	if blob, ok := s.RNG[budgetStateKey]; ok != (t.clock != nil) {
		return fmt.Errorf("%w: one of the saved run and this one has a time budget, the other not", ErrConfigMismatch)
	} else if ok {
		if err := t.clock.UnmarshalBinary(blob); err != nil {
			return err
		}
	}
	t.step = s.Step
	return nil
}

func loadTensors(m *encoder.Model, ts []Tensor, what string) error {
	ps := m.Params()
	if len(ts) != len(ps) {
		return fmt.Errorf("%w: %s has %d tensors, the model %d", ErrConfigMismatch, what, len(ts), len(ps))
	}
	for i, p := range ps {
		if ts[i].Name != p.Name || len(ts[i].Data) != len(p.Data) {
			return fmt.Errorf("%w: %s tensor %d is %s[%d], the model's %s[%d]", ErrConfigMismatch, what, i, ts[i].Name, len(ts[i].Data), p.Name, len(p.Data))
		}
	}
	for i, p := range ps {
		copy(p.Data, ts[i].Data)
	}
	return nil
}

// SaveCheckpoint writes the query encoder as an HF model folder at
// modelDir (config.json, model.safetensors in dtype, vocab.txt copied
// from vocabPath; loadable by encoder.Load and HF transformers) and the
// training state at statePath. Both writes are atomic; the state holds the
// float32 weights too, so a resume needs only it.
func (t *Trainer) SaveCheckpoint(modelDir, statePath, vocabPath string, dtype checkpoint.DType) error {
	if err := checkpoint.WriteHFDir(modelDir, t.model.Config, t.model.Tensors(), dtype, vocabPath); err != nil {
		return err
	}
	st, err := t.State()
	if err != nil {
		return err
	}
	return SaveState(statePath, st)
}
