package contrastive

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/contrastive/data"
	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
)

func tinyConfig() *checkpoint.BertConfig {
	c := checkpoint.DefaultBertConfig()
	c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.MaxPositionEmbeddings = 400, 32, 2, 2, 64, 64
	return c
}

// topicStream is a stream of "documents" of 40 tokens, each drawn from one
// of 18 topics' 15-token vocabularies: crops of one chunk share topics,
// so there is something to learn.
func topicStream(n int, seed uint64) *data.Stream {
	r := rand.New(rand.NewPCG(seed, 1))
	ids := make([]int32, 0, n)
	for len(ids) < n {
		topic := r.IntN(18)
		for j := 0; j < 40 && len(ids) < n; j++ {
			ids = append(ids, int32(103+topic*15+r.IntN(15)))
		}
	}
	return data.NewStream(ids, 400)
}

func newRun(t *testing.T, objective string, steps int) (*Trainer, *data.Sampler) {
	t.Helper()
	m, err := encoder.NewRandom(tinyConfig(), 5, false)
	if err != nil {
		t.Fatal(err)
	}
	crop := data.DefaultCrop()
	crop.ChunkLen = 40
	crop.RatioMin, crop.RatioMax = 0.1, 0.5
	sm, err := data.NewSampler(topicStream(20000, 3), crop, 11)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(objective)
	cfg.Batch, cfg.Accum, cfg.MaxLen, cfg.QueueSize = 8, 2, 42, 32
	cfg.Momentum = 0.99
	cfg.Schedule = optim.Schedule{Kind: optim.Linear, Base: 1e-3, Warmup: 2, Total: steps}
	tr, err := NewTrainer(m, sm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr, sm
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestResumeBitForBit: 2N steps straight and N steps, save, load into a
// fresh trainer, N more steps give identical weights, key encoder and
// queue, for both objectives, with dropout and accumulation on.
func TestResumeBitForBit(t *testing.T) {
	const n = 3
	for _, obj := range []string{ObjectiveMoCo, ObjectiveInBatch} {
		straight, _ := newRun(t, obj, 2*n)
		for i := 0; i < 2*n; i++ {
			if _, err := straight.Step(); err != nil {
				t.Fatal(err)
			}
		}
		first, _ := newRun(t, obj, 2*n)
		for i := 0; i < n; i++ {
			first.Step()
		}
		st, err := first.State()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "state.bin")
		if err := SaveState(p, st); err != nil {
			t.Fatal(err)
		}
		loaded, err := LoadState(p)
		if err != nil {
			t.Fatal(err)
		}
		second, _ := newRun(t, obj, 2*n) // fresh weights and sampler: the state decides
		if err := second.Restore(loaded); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			second.Step()
		}
		if second.StepCount() != 2*n {
			t.Fatalf("%s: %d steps after resume", obj, second.StepCount())
		}
		if !sameBits(straight.Model().Flat(), second.Model().Flat()) {
			t.Fatalf("%s: resumed weights differ from the straight run", obj)
		}
		if obj == ObjectiveMoCo {
			if !sameBits(straight.KeyModel().Flat(), second.KeyModel().Flat()) || !sameBits(straight.Queue().Keys(), second.Queue().Keys()) || straight.Queue().Ptr() != second.Queue().Ptr() {
				t.Fatalf("%s: resumed key encoder or queue differs", obj)
			}
		}
		// And the run did change the weights.
		fresh, _ := newRun(t, obj, 2*n)
		if sameBits(fresh.Model().Flat(), straight.Model().Flat()) {
			t.Fatalf("%s: training left the weights unchanged", obj)
		}
		// Another configuration refuses the state.
		other, _ := newRun(t, obj, 2*n+1)
		if err := other.Restore(loaded); !errors.Is(err, ErrConfigMismatch) {
			t.Fatalf("%s: restore into another configuration: %v", obj, err)
		}
	}
}

// TestTrainingLearns: on the topic stream, 60 steps of either objective
// lower the loss well below its start and raise the accuracy.
func TestTrainingLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	for _, obj := range []string{ObjectiveInBatch, ObjectiveMoCo} {
		tr, _ := newRun(t, obj, 60)
		var first, last, accFirst, accLast float64
		for i := 0; i < 60; i++ {
			s, err := tr.Step()
			if err != nil {
				t.Fatal(err)
			}
			if math.IsNaN(s.Loss) || s.Pairs != 16 {
				t.Fatalf("%s step %d: %+v", obj, i, s)
			}
			if i < 10 {
				first += s.Loss / 10
				accFirst += s.Accuracy / 10
			}
			if i >= 50 {
				last += s.Loss / 10
				accLast += s.Accuracy / 10
			}
		}
		t.Logf("%s: loss %.3f → %.3f, accuracy %.2f → %.2f", obj, first, last, accFirst, accLast)
		if last > 0.7*first || accLast <= accFirst {
			t.Errorf("%s did not learn: loss %.3f → %.3f, accuracy %.2f → %.2f", obj, first, last, accFirst, accLast)
		}
	}
}
