package contrastive

import (
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/contrastive/data"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/fixture"
)

var _ data.Tokenizer = (*wordpiece.Tokenizer)(nil)

// TestSciFactEndToEnd: the bundled SciFact corpus is tokenised with the
// real WordPiece vocabulary into a cached stream, cropped into batches,
// trained on for two MoCo steps with the `tiny` config, and saved as an
// HF folder that encoder.Load reads back with the same weights.
func TestSciFactEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("tokenises SciFact")
	}
	corpus := fixture.Repo(t, "data", "scifact")
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	tok, err := wordpiece.Load(vocab)
	if err != nil {
		t.Fatal(err)
	}
	id, err := data.HashFile(vocab)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opt := data.BuildOptions{VocabID: id, CachePath: filepath.Join(dir, "scifact.ctok"), Quiet: true}
	s, info, err := data.Build(corpus, tok, opt)
	if err != nil {
		t.Fatal(err)
	}
	// SciFact: 5,183 abstracts, about 1.6M word pieces.
	if info.Docs != 5183 || s.Len() < 1_000_000 || s.Width() != 2 || info.Cache != data.CacheMissing {
		t.Fatalf("SciFact stream: %d docs, %d tokens of width %d, cache %s", info.Docs, s.Len(), s.Width(), info.Cache)
	}
	// The stream starts with the first passage's title + text.
	var first string
	data.ReadDocuments(corpus, func(d string) error {
		if first == "" {
			first = d
		}
		return nil
	})
	want := tok.Tokenize(first)
	for i, w := range want {
		if s.At(i) != w {
			t.Fatalf("token %d is %d, want %d", i, s.At(i), w)
		}
	}
	s2, info, err := data.Build(corpus, tok, opt)
	if err != nil || info.Cache != data.CacheHit || s2.Len() != s.Len() {
		t.Fatalf("second build: %+v %v", info, err)
	}
	t.Logf("SciFact: %d docs → %d tokens", 5183, s.Len())

	crop := data.DefaultCrop()
	crop.CLS, crop.SEP = tok.CLS(), tok.SEP()
	sm, err := data.NewSampler(s, crop, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfgM, _ := encoder.NamedConfig("tiny")
	m, err := encoder.NewRandom(cfgM, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(ObjectiveMoCo)
	cfg.Batch, cfg.QueueSize = 4, 16
	tr, err := NewTrainer(m, sm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		st, err := tr.Step()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("step %d: loss %.3f, lr %.3g", st.Step, st.Loss, st.LR)
	}
	md, sp := filepath.Join(dir, "model"), filepath.Join(dir, "state.bin")
	if err := tr.SaveCheckpoint(md, sp, vocab, checkpoint.F32); err != nil {
		t.Fatal(err)
	}
	back, err := encoder.Load(md)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(back.Flat()[:back.EncoderParams()], EncoderWeights(tr.Model())) {
		t.Fatal("the saved HF folder does not hold the trained weights")
	}
	if st, err := LoadState(sp); err != nil || st.Step != 2 {
		t.Fatalf("state: %v", err)
	}
}
