package finetune

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
)

// checkMined: no hard or random negative is a positive or a copy of one's
// text; hard negatives come in retrieval order.
func checkMined(t *testing.T, s *Set, mined []Mined, depth, skip int) (dropped int) {
	t.Helper()
	for i, m := range mined {
		ex := s.Examples[i]
		texts := map[string]bool{}
		for _, p := range ex.Positives {
			texts[s.Passages[p].Passage()] = true
		}
		if len(m.Hard)+m.Dropped+skip < min(depth, len(s.Passages)) && len(m.Hard) > 0 {
			// Retrieval may return fewer than depth only when few passages match.
			t.Logf("query %d: %d hard, %d dropped", i, len(m.Hard), m.Dropped)
		}
		if len(m.Hard) > depth-skip {
			t.Fatalf("query %d: %d hard negatives for depth %d, skip %d", i, len(m.Hard), depth, skip)
		}
		for k, p := range m.Hard {
			if contains(ex.Positives, p) || texts[s.Passages[p].Passage()] {
				t.Fatalf("query %d: judged positive %d mined as a hard negative", i, p)
			}
			if k > 0 && m.Scores[k] > m.Scores[k-1] {
				t.Fatalf("query %d: hard negatives out of order: %v", i, m.Scores)
			}
		}
		for _, p := range m.Random {
			if contains(ex.Positives, p) || contains(m.Hard, p) {
				t.Fatalf("query %d: random negative %d is a positive or mined", i, p)
			}
		}
		dropped += m.Dropped
	}
	return dropped
}

func TestMineBM25(t *testing.T) {
	s := fixtureSet(t)
	// A copy of a positive's text under another id must be dropped too.
	dup := s.Add(Passage{ID: "copy", Text: s.Passages[s.Examples[0].Positives[0]].Text})
	ix, err := BuildBM25(context.Background(), t.TempDir(), s, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	for _, skip := range []int{0, 3} {
		mined, err := Mine(context.Background(), s, ix, MineOptions{Depth: 20, SkipTop: skip, Random: 2, Seed: 1, Batch: 7})
		if err != nil {
			t.Fatal(err)
		}
		dropped := checkMined(t, s, mined, 20, skip)
		// Queries are words of their positive: BM25 finds nearly all.
		npos := 0
		for _, ex := range s.Examples {
			npos += len(ex.Positives)
		}
		if dropped < npos*3/4 {
			t.Fatalf("only %d of %d positives retrieved (and dropped)", dropped, npos)
		}
		if contains(mined[0].Hard, dup) {
			t.Fatal("copy of a positive mined")
		}
		// Hard negatives of a topic query share its topic (ids mod 10).
		same, all := 0, 0
		for i, m := range mined {
			topic := (s.Examples[i].Positives[0]) % 10
			for _, p := range m.Hard[:min(5, len(m.Hard))] {
				all++
				if p%10 == topic {
					same++
				}
			}
			if len(m.Random) != 2 {
				t.Fatalf("query %d: %d random negatives", i, len(m.Random))
			}
		}
		if same < all*9/10 {
			t.Fatalf("top hard negatives of the query's topic: %d of %d", same, all)
		}
		if skip == 3 {
			// Skipping 3 shifts the list by 3.
			m0, _ := Mine(context.Background(), s, ix, MineOptions{Depth: 20})
			for i := range mined {
				if len(m0[i].Hard) > 3 && m0[i].Hard[3] != mined[i].Hard[0] {
					t.Fatalf("query %d: skip 3 starts at %d, want %d", i, mined[i].Hard[0], m0[i].Hard[3])
				}
			}
		}
	}
	// Records and Apply.
	mined, _ := Mine(context.Background(), s, ix, MineOptions{Depth: 10})
	r := s.MinedRecord(0, mined[0])
	if r.Question != s.Examples[0].Query || len(r.Hard) != len(mined[0].Hard) || r.Hard[0].Score == nil || r.Positives[0].ID != s.Passages[s.Examples[0].Positives[0]].ID {
		t.Fatalf("record %+v", r)
	}
	if err := s.Apply(mined); err != nil || len(s.Examples[0].HardNegatives) != len(mined[0].Hard) {
		t.Fatal("Apply", err)
	}
}

func TestMineDense(t *testing.T) {
	s := fixtureSet(t)
	tok, _ := loadTok(t)
	m, _ := encoder.NewRandom(tinyConfig(), 2, false)
	enc, err := encoder.New(m, encoder.WordPiece(tok), encoder.Options{MaxLength: 64})
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	d, err := NewDense(context.Background(), enc, s, func(n int) { done = n })
	if err != nil {
		t.Fatal(err)
	}
	if done != len(s.Passages) {
		t.Fatalf("progress reached %d of %d", done, len(s.Passages))
	}
	mined, err := Mine(context.Background(), s, d, MineOptions{Depth: len(s.Passages)})
	if err != nil {
		t.Fatal(err)
	}
	// Everything retrieved: every positive dropped, every other passage
	// a hard negative.
	for i, mi := range mined {
		if mi.Dropped != len(s.Examples[i].Positives) || len(mi.Hard) != len(s.Passages)-mi.Dropped {
			t.Fatalf("query %d: %d dropped, %d hard of %d passages", i, mi.Dropped, len(mi.Hard), len(s.Passages))
		}
	}
	checkMined(t, s, mined, len(s.Passages), 0)
	// Scores are the inner products of the model's embeddings.
	q, _ := enc.Encode(context.Background(), []string{s.Examples[0].Query})
	p, _ := enc.Encode(context.Background(), []string{s.Passages[mined[0].Hard[0]].Passage()})
	var dot float64
	for i := range q {
		dot += float64(q[i]) * float64(p[i])
	}
	if diff := dot - mined[0].Scores[0]; diff > 1e-3 || diff < -1e-3 {
		t.Fatalf("top score %g, inner product %g", mined[0].Scores[0], dot)
	}
}

type fakeSearcher struct{ hits []beir.Hit }

func (f fakeSearcher) SearchBatch(_ context.Context, qs []string, k int) ([][]beir.Hit, error) {
	out := make([][]beir.Hit, len(qs))
	for i := range out {
		out[i] = f.hits
	}
	return out, nil
}

func TestMineBadIDs(t *testing.T) {
	s, _ := LoadMSMarcoDir(filepath.Join("testdata", "msmarco"), "train")
	if _, err := Mine(context.Background(), s, fakeSearcher{[]beir.Hit{{DocID: strconv.Itoa(len(s.Passages))}}}, MineOptions{Depth: 5}); err == nil {
		t.Fatal("out-of-range passage accepted")
	}
	if _, err := Mine(context.Background(), s, fakeSearcher{}, MineOptions{Depth: 0}); err == nil {
		t.Fatal("depth 0 accepted")
	}
}
