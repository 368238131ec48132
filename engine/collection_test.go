package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/index/docstore"
	"github.com/contriever-go/contriever/index/vector"
	"github.com/contriever-go/contriever/internal/fixture"
)

// tinyModel writes a small random BERT (1 layer, hidden 32) with the
// project vocabulary into a temporary folder.
func tinyModel(t *testing.T) string {
	t.Helper()
	cfg, err := encoder.NamedConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize, cfg.NumHiddenLayers = 32, 2, 64, 1
	cfg.MaxPositionEmbeddings = 128
	m, err := encoder.NewRandom(cfg, 7, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := checkpoint.WriteHFDir(dir, cfg, m.Tensors(), checkpoint.F32, fixture.Repo(t, "data", "vocab", "vocab.txt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

var testDocs = []beir.Doc{
	{ID: "d1", Title: "Cats", Text: "cats purr and sleep in the sun"},
	{ID: "d2", Title: "Dogs", Text: "dogs bark at the postman"},
	{ID: "d3", Title: "", Text: "the stock market fell sharply on monday"},
	{ID: "d4", Title: "Rain", Text: "heavy rain flooded the valley town"},
	{ID: "d5", Title: "Proteins", Text: "protein folding determines enzyme function"},
	{ID: "d6", Title: "Cells", Text: "stem cells divide and differentiate"},
}

func corpusOf(docs []beir.Doc) func(fn func(beir.Doc) error) error {
	return func(fn func(beir.Doc) error) error {
		for _, d := range docs {
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	}
}

func search(t *testing.T, b *Composite, q string, bm, dense bool) (Retrieved, error) {
	t.Helper()
	return b.Retrieve(context.Background(), Retrieval{Queries: []string{q}, K: 10, BM25: bm, Dense: dense})
}

func ids(hs []document.Doc) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.ID)
	}
	return out
}

func TestBuildOpenCatchUp(t *testing.T) {
	ctx := context.Background()
	model := tinyModel(t)
	for _, name := range []string{"flat", "ivf", "ivf-sq8"} {
		t.Run(name, func(t *testing.T) {
			vt, sq8 := strings.CutSuffix(name, "-sq8")
			dir := filepath.Join(t.TempDir(), "idx")
			cache := t.TempDir()
			m, err := Build(ctx, dir, corpusOf(testDocs), BuildOptions{Model: model, Vector: vt, NList: 2, NProbe: 2, SQ8: sq8, CacheDir: cache, Quiet: true})
			if err != nil {
				t.Fatal(err)
			}
			if m.Docs != 6 || m.BM25.Docs != 6 || m.Vectors.Count != 6 || m.Model.Dim != 32 || m.Model.MaxLength != 128 || m.Vectors.SQ8 != sq8 {
				t.Fatalf("manifest %+v", m)
			}
			if _, err := Build(ctx, dir, corpusOf(testDocs), BuildOptions{Model: model, Quiet: true}); !errors.Is(err, ErrExists) {
				t.Fatalf("second build: %v, want ErrExists", err)
			}
			c, err := Open(ctx, dir, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ivf, ok := c.Vectors().(*vector.IVF); ok != (vt == "ivf") || ok && ivf.SQ8() != sq8 {
				t.Fatalf("reopened vector index %T, want %s", c.Vectors(), name)
			}
			b, err := c.Backend()
			if err != nil {
				t.Fatal(err)
			}
			r, err := search(t, b, "purring cats", true, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.BM25[0]) == 0 || r.BM25[0][0].ID != "d1" {
				t.Fatalf("bm25 %v", r.BM25)
			}
			if len(r.Dense[0]) != 6 && vt == "flat" {
				t.Fatalf("dense %v", r.Dense)
			}
			// The dense score of d1 for its own passage is its top hit
			// with a flat index (a text is closest to itself, up to ties).
			if vt == "flat" {
				r, _ := search(t, b, document.Doc{Title: "Cats", Text: "cats purr and sleep in the sun"}.Passage(), false, true)
				if r.Dense[0][0].ID != "d1" {
					var best = r.Dense[0][0]
					for _, h := range r.Dense[0] {
						if h.Score > best.Score {
							best = h
						}
					}
					if best.ID != "d1" {
						t.Fatalf("self query: best %v", best)
					}
				}
			}
			// Writes without a flush, then a "crash" (close without flush).
			if err := b.PutDocs(ctx, []document.Doc{{ID: "n1", Title: "Zebra", Text: "zebras gallop across savanna grassland"}, {ID: "d2", Title: "Dogs", Text: "dogs chase quokkas"}}); err != nil {
				t.Fatal(err)
			}
			if err := b.DeleteDoc(ctx, "d3"); err != nil {
				t.Fatal(err)
			}
			// Added and deleted between flushes: BM25 must not keep it.
			if err := b.PutDocs(ctx, []document.Doc{{ID: "tmp", Text: "ephemeral xylophone"}}); err != nil {
				t.Fatal(err)
			}
			if err := c.BM25().Delete([]string{"tmp"}); err != nil { // index ahead of...
				t.Fatal(err)
			}
			if _, err := c.Store().Delete([]string{"tmp"}); err != nil {
				t.Fatal(err)
			}
			if err := c.BM25().Add([]beir.Doc{{ID: "tmp", Text: "ephemeral xylophone"}}); err != nil { // ...and a stale leftover
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c, err = Open(ctx, dir, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if c.CaughtUp != 2 || c.Dropped != 1 || !c.Rebuilt {
				t.Fatalf("caught up %d, dropped %d, rebuilt %v", c.CaughtUp, c.Dropped, c.Rebuilt)
			}
			b, _ = c.Backend()
			for q, want := range map[string]string{"zebra savanna": "n1", "quokkas": "d2"} {
				r, err := search(t, b, q, true, false)
				if err != nil || len(r.BM25[0]) != 1 || r.BM25[0][0].ID != want {
					t.Fatalf("%q: %v %v", q, r.BM25, err)
				}
			}
			for _, q := range []string{"stock market", "xylophone"} {
				if r, _ := search(t, b, q, true, false); len(r.BM25[0]) != 0 {
					t.Fatalf("%q still found: %v", q, r.BM25)
				}
			}
			if c.Vectors().Len() != 6 || c.BM25().Len() != 6 {
				t.Fatalf("vectors %d bm25 %d", c.Vectors().Len(), c.BM25().Len())
			}
			// Flush writes a new snapshot; reopening catches up nothing.
			if err := b.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			man := c.Manifest()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("vectors-%d.idx", man.Seq))); err != nil {
				t.Fatal(err)
			}
			c, err = Open(ctx, dir, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if c.CaughtUp != 0 || c.Dropped != 0 || c.Vectors().Len() != 6 {
				t.Fatalf("after flush: caught up %d dropped %d vectors %d", c.CaughtUp, c.Dropped, c.Vectors().Len())
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				n := e.Name()
				if (filepath.Ext(n) == ".idx" && n != man.Vectors.File) || (filepath.Ext(n) == ".json" && n != ManifestFile && n != man.Vectors.IDsFile) {
					t.Errorf("stale file %s", n)
				}
			}
			c.Close()
		})
	}
}

func TestOpenRefusesBadFolders(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "idx")
	if _, err := Build(ctx, dir, corpusOf(testDocs), BuildOptions{NoDense: true, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	if c, err := Open(ctx, dir, OpenOptions{}); err != nil {
		t.Fatal(err)
	} else {
		if c.Vectors() != nil || c.Encoder() != nil {
			t.Fatal("dense parts in a --no-dense index")
		}
		c.Close()
	}
	mp := filepath.Join(dir, ManifestFile)
	b, _ := os.ReadFile(mp)
	bad := append([]byte(nil), b...)
	bad[len(bad)/2] ^= 0x01
	os.WriteFile(mp, bad, 0o644)
	if _, err := Open(ctx, dir, OpenOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped manifest: %v", err)
	}
	os.Remove(mp)
	if _, err := Open(ctx, dir, OpenOptions{}); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("no manifest: %v", err)
	}
	// A cancelled build leaves nothing behind.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	dst := filepath.Join(t.TempDir(), "idx2")
	if _, err := Build(cctx, dst, corpusOf(testDocs), BuildOptions{NoDense: true, Quiet: true}); err == nil {
		t.Fatal("cancelled build succeeded")
	}
	if ents, _ := os.ReadDir(filepath.Dir(dst)); len(ents) != 0 {
		t.Fatalf("leftovers %v", ents)
	}
	// A killed build's temporary folder is removed by the next build; a
	// running build's (its store locked) is kept.
	dead := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".building-123")
	live := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".building-456")
	os.MkdirAll(dead, 0o755)
	os.WriteFile(filepath.Join(dead, DocsFile), nil, 0o644)
	os.MkdirAll(live, 0o755)
	ls, err := docstore.Open(filepath.Join(live, DocsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	if _, err := Build(ctx, dst, corpusOf(testDocs), BuildOptions{NoDense: true, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("abandoned build folder kept: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Fatalf("running build folder removed: %v", err)
	}
	os.RemoveAll(dst)
	// Repeated ids are refused.
	dup := append(append([]beir.Doc(nil), testDocs...), testDocs[0])
	if _, err := Build(ctx, dst, corpusOf(dup), BuildOptions{NoDense: true, Quiet: true}); !errors.Is(err, beir.ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestCachedEmbed(t *testing.T) {
	ctx := context.Background()
	pool, err := OpenEncoderPool(tinyModel(t), encoder.Options{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	texts := []string{"alpha beta", "gamma", "delta epsilon zeta"}
	ids := []string{"a", "b", "c"}
	v1, path, hit, err := CachedEmbed(ctx, pool, "h", ids, texts, cache, "embed", true)
	if err != nil || hit {
		t.Fatal(err, hit)
	}
	v2, path2, hit, err := CachedEmbed(ctx, pool, "h", ids, texts, cache, "embed", true)
	if err != nil || !hit || path2 != path {
		t.Fatal(err, hit)
	}
	for i := range v1 {
		if v1[i] != v2[i] {
			t.Fatalf("cached vector %d differs", i)
		}
	}
	// Another model hash or other data: another key.
	if _, p, hit, _ := CachedEmbed(ctx, pool, "h2", ids, texts, cache, "embed", true); hit || p == path {
		t.Fatal("model hash not in the key")
	}
	// A truncated cache file is not used.
	st, _ := os.Stat(path)
	os.Truncate(path, st.Size()-4)
	if _, err := ReadNpy(path, 3, pool.Dim()); !errors.Is(err, ErrNpy) {
		t.Fatalf("truncated: %v", err)
	}
	if _, _, hit, err := CachedEmbed(ctx, pool, "h", ids, texts, cache, "embed", true); hit || err != nil {
		t.Fatal("truncated cache used", err)
	}
}

// Concurrent small requests are batched; each caller gets its own vectors,
// equal (up to float rounding) to encoding its texts alone.
func TestEncoderPoolBatching(t *testing.T) {
	ctx := context.Background()
	pool, err := OpenEncoderPool(tinyModel(t), encoder.Options{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var texts [][]string
	for i := 0; i < 40; i++ {
		tx := []string{fmt.Sprintf("query number %d about %s", i, strings.Repeat("cells ", i%7))}
		if i%5 == 0 {
			tx = append(tx, "a second text", "and a third one here")
		}
		texts = append(texts, tx)
	}
	want := make([][]float32, len(texts))
	for i, tx := range texts {
		if want[i], err = pool.encodeDirect(ctx, tx, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := make([][]float32, len(texts))
	errs := make([]error, len(texts))
	var wg sync.WaitGroup
	for i := range texts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], errs[i] = pool.Encode(ctx, texts[i])
		}(i)
	}
	wg.Wait()
	for i := range texts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(got[i]) != len(want[i]) {
			t.Fatalf("request %d: %d floats, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if d := got[i][j] - want[i][j]; d > 1e-4 || d < -1e-4 {
				t.Fatalf("request %d, float %d: %g, alone %g", i, j, got[i][j], want[i][j])
			}
		}
	}
	// A cancelled request returns its context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := pool.Encode(cctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	pool.Close()
	if _, err := pool.Encode(ctx, []string{"x"}); err == nil {
		t.Fatal("closed pool encoded")
	}
}

// A crash during Flush, after the new vector snapshot was written but
// before the manifest: Open uses the old snapshot, catches up, and removes
// the orphan files.
func TestCrashDuringFlush(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "idx")
	if _, err := Build(ctx, dir, corpusOf(testDocs), BuildOptions{Model: tinyModel(t), Quiet: true}); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Backend()
	if err := b.PutDocs(ctx, []document.Doc{{ID: "new", Text: "walruses bask on ice floes"}}); err != nil {
		t.Fatal(err)
	}
	m := c.Manifest()
	orphan := m
	vi := *m.Vectors
	orphan.Vectors = &vi
	if err := saveSnapshot(dir, &orphan, c.Vectors(), c.Store().IDs(), c.Store().Seq()); err != nil {
		t.Fatal(err)
	}
	c.Close() // crash: no manifest
	c, err = Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.CaughtUp != 1 || c.Vectors().Len() != 7 || c.Manifest().Vectors.File != m.Vectors.File {
		t.Fatalf("caught up %d, vectors %d, snapshot %s", c.CaughtUp, c.Vectors().Len(), c.Manifest().Vectors.File)
	}
	for _, f := range []string{orphan.Vectors.File, orphan.Vectors.IDsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Fatalf("orphan %s kept: %v", f, err)
		}
	}
	// A flipped byte in the vector snapshot is detected at Open.
	c.Close()
	vf := filepath.Join(dir, m.Vectors.File)
	data, _ := os.ReadFile(vf)
	data[len(data)/2] ^= 0x40
	os.WriteFile(vf, data, 0o644)
	if _, err := Open(ctx, dir, OpenOptions{}); err == nil {
		t.Fatal("corrupt vector snapshot loaded")
	}
}

// TestSetHybrid records fusion settings in the manifest: they survive a
// reopen and the manifest's checksum, a bad α is refused, and a closed
// collection refuses the write.
func TestSetHybrid(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "idx")
	if _, err := Build(ctx, dir, corpusOf(testDocs), BuildOptions{NoDense: true, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Manifest().Hybrid != nil {
		t.Fatal("a new index has hybrid settings")
	}
	if err := c.SetHybrid(HybridInfo{Alpha: 1.5}); err == nil {
		t.Fatal("alpha 1.5 accepted")
	}
	want := HybridInfo{Alpha: 0.15, Norm: "minmax", Split: "train", Queries: 809, NDCG10: 0.7, Depth: 1000, Data: "data/scifact"}
	if err := c.SetHybrid(want); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetHybrid(want); err == nil {
		t.Fatal("SetHybrid on a closed collection succeeded")
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Hybrid == nil || *m.Hybrid != want {
		t.Fatalf("manifest hybrid %+v, want %+v", m.Hybrid, want)
	}
	c, err = Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if h := c.Manifest().Hybrid; h == nil || *h != want {
		t.Fatalf("reopened hybrid %+v", h)
	}
}
