package encoder

import (
	"context"
	"errors"
	"hash/fnv"
	"math"
	"strings"
	"testing"
)

// hashTokenizer is a stand-in tokenizer for tests: each space-separated
// word maps to a fixed id in [200, vocab).
type hashTokenizer struct{ vocab int }

func (h hashTokenizer) EncodeIDs(text string, maxLen int) []int32 {
	ids := []int32{101}
	for _, w := range strings.Fields(text) {
		f := fnv.New32a()
		f.Write([]byte(w))
		ids = append(ids, int32(200+int(f.Sum32())%(h.vocab-200)))
	}
	if len(ids) > maxLen-1 {
		ids = ids[:maxLen-1]
	}
	return append(ids, 102)
}

func testTexts() []string {
	words := strings.Fields("dense retrieval with contrastive learning trains an encoder from crops of the same document as positives and other documents as negatives")
	var texts []string
	for i := 0; i < 23; i++ {
		n := 1 + (i*7)%len(words)
		texts = append(texts, strings.Join(words[(i*3)%5:min((i*3)%5+n, len(words))], " "))
	}
	return texts
}

func TestEncodeBatchingAndOrder(t *testing.T) {
	dir, _, _ := loadTinyRef(t)
	m := loadTinyDirect(t, dir)
	texts := testTexts()
	tok := hashTokenizer{vocab: m.Config.VocabSize}
	H := m.Config.HiddenSize
	// Reference: each text alone, unpadded, through Forward and Pool.
	want := make([]float32, len(texts)*H)
	for i, s := range texts {
		ids := tok.EncodeIDs(s, 512)
		b := &Batch{B: 1, T: len(ids), IDs: ids, Mask: make([]int32, len(ids))}
		for j := range b.Mask {
			b.Mask[j] = 1
		}
		last, err := m.Forward(m.NewActivations(1, len(ids), false, false), b, ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		Pool(want[i*H:i*H+H], last, b.Mask, 1, len(ids), H, PoolMean, false)
	}
	for _, bs := range []int{1, 4, 32} {
		e, err := New(m, tok, Options{BatchSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		ids := e.Tokenize(texts)
		got, err := e.EncodeIDs(context.Background(), ids, func(int) { calls++ })
		if err != nil {
			t.Fatal(err)
		}
		if calls != (len(texts)+bs-1)/bs {
			t.Errorf("batch %d: %d progress calls", bs, calls)
		}
		worst := 0.0
		for i := range want {
			worst = max(worst, math.Abs(float64(got[i]-want[i])))
		}
		if worst > 1e-5 {
			t.Errorf("batch size %d: vectors differ from one-at-a-time by %g", bs, worst)
		}
		got2, err := e.Encode(context.Background(), texts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != got2[i] {
				t.Fatalf("Encode and EncodeIDs differ at %d", i)
			}
		}
	}
	// Normalisation and CLS pooling.
	e, _ := New(m, tok, Options{Normalize: true, Pooling: PoolCLS, BatchSize: 5})
	got, err := e.Encode(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		var s float64
		for _, v := range got[i*H : i*H+H] {
			s += float64(v) * float64(v)
		}
		if math.Abs(s-1) > 1e-5 {
			t.Fatalf("vector %d has squared norm %g", i, s)
		}
	}
	// Truncation keeps [SEP] and at most MaxLength tokens.
	e, _ = New(m, tok, Options{MaxLength: 4})
	long := e.Tokenize([]string{strings.Repeat("word ", 50)})
	if len(long[0]) != 4 || long[0][3] != 102 {
		t.Fatalf("truncated ids %v", long[0])
	}
	if _, err := e.EncodeIDs(context.Background(), [][]int32{{101, 300, 301, 302, 303, 102}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.EncodeIDs(context.Background(), [][]int32{{}}, nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty sequence: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Encode(ctx, texts); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	if _, err := e.EncodeIDs(context.Background(), [][]int32{{101, 5000, 102}}, nil); !errors.Is(err, ErrShape) {
		t.Fatalf("id outside vocabulary: %v", err)
	}
}
