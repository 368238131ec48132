package finetune

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/fixture"
)

func loadTok(t testing.TB) (*wordpiece.Tokenizer, string) {
	t.Helper()
	p := fixture.Repo(t, "data", "vocab", "vocab.txt")
	tok, err := wordpiece.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return tok, p
}

func fixtureSet(t testing.TB) *Set {
	t.Helper()
	s, err := LoadMSMarcoDir(filepath.Join("testdata", "msmarco"), "train")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tinyConfig is a small random BERT with the bert-base-uncased vocabulary.
func tinyConfig() *checkpoint.BertConfig {
	c := checkpoint.DefaultBertConfig()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.MaxPositionEmbeddings = 32, 2, 2, 64, 64
	return c
}

func TestSourceDraws(t *testing.T) {
	s := fixtureSet(t)
	// Give every example hard negatives: the passages of its topic.
	for i := range s.Examples {
		ex := &s.Examples[i]
		p := int(ex.Positives[0])
		for j := p % 10; j < 60; j += 10 {
			if !contains(ex.Positives, int32(j)) {
				ex.HardNegatives = append(ex.HardNegatives, int32(j))
			}
		}
	}
	tok, _ := loadTok(t)
	for _, ratio := range []float64{0, 0.1, 0.5, 1} {
		src, err := NewSource(s, encoder.WordPiece(tok), SourceOptions{HardRatio: ratio, MaxLen: 16, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		const n = 3000
		hard := 0
		visits := make([]int, len(s.Examples))
		for k, tr := range src.NextTriples(n) {
			ex := s.Examples[tr.Example]
			visits[tr.Example]++
			if !contains(ex.Positives, int32(tr.Positive)) || contains(ex.Positives, int32(tr.Negative)) {
				t.Fatalf("ratio %g: triple %+v of example %+v", ratio, tr, ex)
			}
			if tr.Hard != contains(ex.HardNegatives, int32(tr.Negative)) && tr.Hard {
				t.Fatalf("hard negative %d not in the example's list", tr.Negative)
			}
			if tr.Hard {
				hard++
			}
			// Epochs: each example once per pass.
			if (k+1)%len(s.Examples) == 0 {
				for e, v := range visits {
					if v != (k+1)/len(s.Examples) {
						t.Fatalf("after %d draws example %d visited %d times", k+1, e, v)
					}
				}
			}
		}
		got := float64(hard) / n
		if sd := math.Sqrt(ratio * (1 - ratio) / n); math.Abs(got-ratio) > 4*sd+1e-9 {
			t.Errorf("hard ratio %g: drew %g hard", ratio, got)
		}
	}
	// Given negatives are used as the random ones.
	s.Examples[0].Negatives = []int32{59}
	src, _ := NewSource(s, encoder.WordPiece(tok), SourceOptions{MaxLen: 16, Seed: 3})
	for _, tr := range src.NextTriples(300) {
		if tr.Example == 0 && tr.Negative != 59 {
			t.Fatalf("random negative %d, the example gives only 59", tr.Negative)
		}
	}
	b := src.Next(5)
	if b.Q.B != 5 || b.K.B != 5 || b.N.B != 5 || b.K.S > 16 || b.Q.IDs[0] != 101 {
		t.Fatalf("batch %dx%d / %dx%d / %dx%d", b.Q.B, b.Q.S, b.K.B, b.K.S, b.N.B, b.N.S)
	}
}

func contains(l []int32, x int32) bool {
	for _, y := range l {
		if y == x {
			return true
		}
	}
	return false
}

// TestSourceResume: a restored source continues exactly, across epochs; a
// state for other data or options is refused.
func TestSourceResume(t *testing.T) {
	s := fixtureSet(t)
	tok, _ := loadTok(t)
	opt := SourceOptions{HardRatio: 0.1, MaxLen: 32, Seed: 9}
	straight, _ := NewSource(s, encoder.WordPiece(tok), opt)
	var want []any
	for i := 0; i < 12; i++ {
		want = append(want, straight.Next(7)) // 84 draws, about 3 epochs
	}
	for _, stop := range []int{0, 4, 5, 11} {
		a, _ := NewSource(s, encoder.WordPiece(tok), opt)
		for i := 0; i < stop; i++ {
			a.Next(7)
		}
		st, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewSource(s, encoder.WordPiece(tok), opt)
		b.Next(3) // moved elsewhere: the state decides
		if err := b.UnmarshalBinary(st); err != nil {
			t.Fatal(err)
		}
		for i := stop; i < 12; i++ {
			if got := b.Next(7); !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("resumed after %d batches: batch %d differs", stop, i)
			}
		}
	}
	st, _ := straight.MarshalBinary()
	other := opt
	other.HardRatio = 0.2
	c, _ := NewSource(s, encoder.WordPiece(tok), other)
	if err := c.UnmarshalBinary(st); !errors.Is(err, ErrBadState) {
		t.Fatalf("state for other options: %v", err)
	}
	if err := straight.UnmarshalBinary(st[:20]); !errors.Is(err, ErrBadState) {
		t.Fatalf("truncated state: %v", err)
	}
}

// TestTrainEndToEnd: the MS MARCO fixture loads and fine-tunes through
// contrastive's Trainer and Run (in-batch plus one negative per query,
// accumulation, log, plot, checkpoint); a run stopped half-way and resumed
// from its state ends with the same weights bit for bit.
func TestTrainEndToEnd(t *testing.T) {
	tok, vocab := loadTok(t)
	run := func(out string, steps int64, resume bool) (*contrastive.Trainer, error) {
		s := fixtureSet(t)
		m, err := encoder.NewRandom(tinyConfig(), 5, false)
		if err != nil {
			t.Fatal(err)
		}
		src, err := NewSource(s, encoder.WordPiece(tok), SourceOptions{HardRatio: 0.1, MaxLen: 32, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		cfg := contrastive.DefaultConfig(contrastive.ObjectiveInBatch)
		cfg.Batch, cfg.Accum, cfg.MaxLen, cfg.Seed = 8, 2, 32, 5
		cfg.Schedule = optim.Schedule{Kind: optim.Linear, Base: 1e-3, Warmup: 2, Total: 8}
		tr, err := contrastive.NewTrainer(m, src, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if resume {
			st, err := contrastive.LoadState(filepath.Join(out, contrastive.StateName))
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Restore(st); err != nil {
				t.Fatal(err)
			}
		}
		return tr, contrastive.Run(context.Background(), tr, contrastive.RunOptions{Steps: steps, OutDir: out, VocabPath: vocab, LogEvery: 1, CheckpointEvery: 2, Progress: discard{}})
	}
	a := t.TempDir()
	before, _ := encoder.NewRandom(tinyConfig(), 5, false)
	ta, err := run(a, 8, false)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(ta.Model().Flat(), before.Flat()) {
		t.Fatal("training did not change the model")
	}
	loaded, err := encoder.Load(filepath.Join(a, contrastive.ModelDirName))
	if err != nil || !reflect.DeepEqual(loaded.Flat(), ta.Model().Flat()) {
		t.Fatalf("saved model: %v", err)
	}
	b := t.TempDir()
	if _, err := run(b, 4, false); err != nil {
		t.Fatal(err)
	}
	tb, err := run(b, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(ta.Model().Flat(), tb.Model().Flat()) {
		t.Fatal("resumed fine-tuning differs from the straight run")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

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
