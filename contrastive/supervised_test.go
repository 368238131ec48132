package contrastive

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/contriever-go/contriever/contrastive/data"
	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/encoder"
)

// tripleSource makes fine-tuning triples from topic documents: a query
// (a few tokens of a document), its passage (the document) and a negative
// passage (another document), as a labelled data set would.
type tripleSource struct {
	docs [][]int32
	pcg  *rand.PCG
	r    *rand.Rand
}

func newTripleSource(seed uint64) *tripleSource {
	s := topicStream(40*200, 9)
	src := &tripleSource{pcg: rand.NewPCG(seed, 2)}
	src.r = rand.New(src.pcg)
	for i := 0; i+40 <= s.Len(); i += 40 {
		d := make([]int32, 40)
		s.Read(d, i)
		src.docs = append(src.docs, d)
	}
	return src
}

func (s *tripleSource) Next(b int) data.Batch {
	var q, p, n [][]int32
	for i := 0; i < b; i++ {
		d := s.r.IntN(len(s.docs))
		o := (d + 1 + s.r.IntN(len(s.docs)-1)) % len(s.docs)
		start := s.r.IntN(35)
		q = append(q, data.Wrap(s.docs[d][start:start+5], 101, 102, 0))
		p = append(p, data.Wrap(s.docs[d], 101, 102, 32))
		n = append(n, data.Wrap(s.docs[o], 101, 102, 32))
	}
	return data.Batch{Q: data.Pack(q), K: data.Pack(p), N: data.Pack(n)}
}

func (s *tripleSource) MarshalBinary() ([]byte, error) { return s.pcg.MarshalBinary() }
func (s *tripleSource) UnmarshalBinary(b []byte) error { return s.pcg.UnmarshalBinary(b) }

// TestSupervisedTraining: in-batch negatives plus one negative passage per
// query; the loss has 2B columns per row, falls with training, and a
// resumed run matches a straight one.
func TestSupervisedTraining(t *testing.T) {
	run := func(steps int) *Trainer {
		m, err := encoder.NewRandom(tinyConfig(), 8, false)
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig(ObjectiveInBatch)
		cfg.Batch, cfg.MaxLen = 8, 34
		cfg.Schedule = optim.Schedule{Kind: optim.Constant, Base: 1e-3, Warmup: 2}
		tr, err := NewTrainer(m, newTripleSource(1), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	tr := run(40)
	var first, last float64
	for i := 0; i < 40; i++ {
		s, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(s.Loss) {
			t.Fatal("NaN loss")
		}
		if i < 5 {
			first += s.Loss / 5
		}
		if i >= 35 {
			last += s.Loss / 5
		}
	}
	t.Logf("supervised loss %.3f → %.3f", first, last)
	if last > 0.7*first {
		t.Errorf("supervised training did not learn: %.3f → %.3f", first, last)
	}

	a := run(6)
	for i := 0; i < 6; i++ {
		a.Step()
	}
	b := run(6)
	for i := 0; i < 3; i++ {
		b.Step()
	}
	st, _ := b.State()
	c := run(6)
	if err := c.Restore(st); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		c.Step()
	}
	if !sameBits(a.Model().Flat(), c.Model().Flat()) {
		t.Fatal("resumed fine-tuning differs from the straight run")
	}
}
