package bm25

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/internal/fixture"
)

// sciFactSample returns the first n SciFact documents and the first nq
// test queries.
func sciFactSample(t *testing.T, n, nq int) ([]beir.Doc, []string) {
	t.Helper()
	ds, err := beir.Load(fixture.Repo(t, "data", "scifact"), "test")
	if err != nil {
		t.Fatal(err)
	}
	var docs []beir.Doc
	stop := errors.New("enough")
	if err := ds.Corpus(func(d beir.Doc) error {
		if len(docs) == n {
			return stop
		}
		docs = append(docs, d)
		return nil
	}); err != nil && !errors.Is(err, stop) {
		t.Fatal(err)
	}
	var qs []string
	for _, q := range ds.Queries[:min(nq, len(ds.Queries))] {
		qs = append(qs, q.Text)
	}
	return docs, qs
}

// searchAll runs queries at k exhaustively and with MaxScore pruning, and
// requires both to agree; it returns the hits.
func searchAll(t *testing.T, ix *Index, queries []string, k int) [][]beir.Hit {
	t.Helper()
	ctx := context.Background()
	ix.SetExhaustive(true)
	want, err := ix.SearchBatch(ctx, queries, k)
	ix.SetExhaustive(false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ix.SearchBatch(ctx, queries, k)
	if err != nil {
		t.Fatal(err)
	}
	for i := range queries {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("k=%d query %q:\npruned     %v\nexhaustive %v", k, queries[i], got[i], want[i])
		}
	}
	return got
}

// TestIncrementalMatchesRebuilt applies seeded random sequences of puts
// (new documents and replacements, some longer than the norm table, some
// with an empty field) and deletes to an index whose views are updated
// incrementally, and after every few writes compares its top k, with and
// without MaxScore pruning, to a fresh index built from scratch from the
// live documents: identical ids, order and bit-identical scores (N, avgdl
// and df are those of the live collection either way, and the per-document
// sums are made in the same order). Flat, multifield and Lucene norms; the
// many small batches make scorch merge segments along the way, so merged
// segments are read into views too.
func TestIncrementalMatchesRebuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a fresh index every few writes")
	}
	pool, queries := sciFactSample(t, 500, 40)
	queries = append(queries, "cell", "the", "protein expression protein", "zzzz unknown")
	for _, cfg := range []struct {
		name string
		opt  Options
		seed uint64
	}{
		{"flat", Options{}, 1},
		{"multifield", Options{Multifield: true}, 2},
		{"lucene-norms", Options{LuceneNorms: true}, 3},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(cfg.seed, 14))
			// Variants: replacements take another document's text, a few
			// documents are long (past normTable tokens) or have an
			// empty title or text.
			variant := func(id string) beir.Doc {
				d := pool[rng.IntN(len(pool))]
				d.ID = id
				switch rng.IntN(10) {
				case 0:
					d.Text = strings.Repeat(d.Text+" ", 25)
				case 1:
					d.Title = ""
				case 2:
					d.Text = ""
				}
				return d
			}
			live := map[string]beir.Doc{}
			opt := cfg.opt
			opt.Quiet, opt.BatchSize = true, 10
			ix, err := Build(context.Background(), filepath.Join(t.TempDir(), "idx"), func(fn func(beir.Doc) error) error {
				for _, d := range pool[:150] {
					live[d.ID] = d
					if err := fn(d); err != nil {
						return err
					}
				}
				return nil
			}, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			searchAll(t, ix, queries, 10) // the first view, built from scratch
			read0 := segsRead(ix)
			next := 150
			var rebuildCost int64
			for op := 0; op < 90; op++ {
				switch r := rng.IntN(10); {
				case r < 6: // put: new documents and replacements
					var batch []beir.Doc
					seen := map[string]bool{}
					for range 1 + rng.IntN(12) {
						var id string
						if rng.IntN(3) == 0 && len(live) > 0 {
							ids := slices.Sorted(maps.Keys(live))
							id = ids[rng.IntN(len(ids))]
						} else {
							id = fmt.Sprintf("new%04d", next)
							next++
						}
						if seen[id] {
							continue
						}
						seen[id] = true
						batch = append(batch, variant(id))
					}
					if err := ix.Add(batch); err != nil {
						t.Fatal(err)
					}
					for _, d := range batch {
						live[d.ID] = d
					}
				default: // delete some live documents and an unknown id
					ids := slices.Sorted(maps.Keys(live))
					del := []string{"no-such-doc"}
					for range 1 + rng.IntN(6) {
						del = append(del, ids[rng.IntN(len(ids))])
					}
					if err := ix.Delete(del); err != nil {
						t.Fatal(err)
					}
					for _, id := range del {
						delete(live, id)
					}
				}
				rebuildCost += int64(len(live))
				if ix.Len() != len(live) {
					t.Fatalf("op %d: Len %d, want %d", op, ix.Len(), len(live))
				}
				if op%10 != 9 {
					searchAll(t, ix, queries[:8], 10)
					continue
				}
				fresh, err := Build(context.Background(), filepath.Join(t.TempDir(), fmt.Sprint("fresh", op)), func(fn func(beir.Doc) error) error {
					for _, id := range slices.Sorted(maps.Keys(live)) {
						if err := fn(live[id]); err != nil {
							return err
						}
					}
					return nil
				}, Options{Quiet: true, Multifield: cfg.opt.Multifield, LuceneNorms: cfg.opt.LuceneNorms})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := ix.Stats(), fresh.Stats(); !statsEqual(got, want) {
					t.Fatalf("op %d: stats %+v, fresh index %+v", op, got, want)
				}
				for _, k := range []int{10, 100} {
					got, want := searchAll(t, ix, queries, k), searchAll(t, fresh, queries, k)
					for i := range queries {
						if !slices.Equal(got[i], want[i]) {
							t.Fatalf("op %d k=%d query %q:\nincremental %v\nfresh       %v", op, k, queries[i], got[i], want[i])
						}
					}
				}
				fresh.Close()
			}
			read := segsRead(ix) - read0
			// At this size scorch merges nearly everything again and
			// again (its floor segment size is 2,000 documents), so the
			// merged segments dominate; TestIncrementalReadsOnlyTheWrite
			// measures a larger base.
			t.Logf("%d documents read from bleve by the writes' views; rebuilding each view would read %d", read, rebuildCost)
		})
	}
}

// TestIncrementalReadsOnlyTheWrite: on a base of 3,000 documents, 40
// small writes (puts and deletes) read from bleve only their own
// documents and those of the small segments scorch merges meanwhile: far
// fewer than rebuilding each view (the base segment is never read again);
// the result still matches a fresh index.
func TestIncrementalReadsOnlyTheWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two 3k-document indexes")
	}
	pool, queries := sciFactSample(t, 3200, 20)
	ctx := context.Background()
	live := map[string]beir.Doc{}
	ix, err := Build(ctx, filepath.Join(t.TempDir(), "idx"), func(fn func(beir.Doc) error) error {
		for _, d := range pool[:3000] {
			live[d.ID] = d
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	}, Options{Quiet: true, BatchSize: 3000})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	searchAll(t, ix, queries, 10)
	read0 := segsRead(ix)
	rng := rand.New(rand.NewPCG(14, 14))
	var written, rebuildCost int64
	for op := 0; op < 40; op++ {
		if op%4 == 3 {
			ids := slices.Sorted(maps.Keys(live))
			del := []string{ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]}
			if err := ix.Delete(del); err != nil {
				t.Fatal(err)
			}
			for _, id := range del {
				delete(live, id)
			}
		} else {
			batch := slices.Clone(pool[3000+op*5 : 3000+op*5+5])
			batch[0].ID = pool[rng.IntN(3000)].ID // a replacement
			if _, dup := live[batch[0].ID]; !dup {
				batch = batch[1:]
			}
			if err := ix.Add(batch); err != nil {
				t.Fatal(err)
			}
			for _, d := range batch {
				live[d.ID] = d
			}
			written += int64(len(batch))
		}
		rebuildCost += int64(len(live))
	}
	read := segsRead(ix) - read0
	t.Logf("%d documents written; %d read from bleve by the writes' views; rebuilding each view would read %d", written, read, rebuildCost)
	if read > rebuildCost/20 {
		t.Errorf("incremental views read %d documents, rebuilding each would read %d", read, rebuildCost)
	}
	fresh, err := Build(ctx, filepath.Join(t.TempDir(), "fresh"), func(fn func(beir.Doc) error) error {
		for _, id := range slices.Sorted(maps.Keys(live)) {
			if err := fn(live[id]); err != nil {
				return err
			}
		}
		return nil
	}, Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	for _, k := range []int{10, 100} {
		got, want := searchAll(t, ix, queries, k), searchAll(t, fresh, queries, k)
		for i := range queries {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("k=%d query %q:\nincremental %v\nfresh       %v", k, queries[i], got[i], want[i])
			}
		}
	}
}

func segsRead(ix *Index) int64 {
	ix.segs.mu.Lock()
	defer ix.segs.mu.Unlock()
	return ix.segs.read
}

func statsEqual(a, b Stats) bool {
	return a.Params == b.Params && a.LuceneNorms == b.LuceneNorms && a.Docs == b.Docs && slices.Equal(a.Fields, b.Fields)
}

// TestViewFaultLeavesSearchesWorking: a failure at the "bm25.view" step
// (an error or a panic) leaves the write applied and the next search
// builds the view from scratch.
func TestViewFaultLeavesSearchesWorking(t *testing.T) {
	pool, queries := sciFactSample(t, 60, 5)
	for _, kind := range []string{"error", "panic"} {
		t.Run(kind, func(t *testing.T) {
			ix := build(t, pool[:40], Options{})
			searchAll(t, ix, queries, 10)
			ix.SetFaultHook(func(step string) error {
				if step != "bm25.view" {
					return nil
				}
				if kind == "panic" {
					panic("injected")
				}
				return errors.New("injected")
			})
			if err := ix.Add(pool[40:50]); err != nil {
				t.Fatalf("a failed view failed the write: %v", err)
			}
			ix.SetFaultHook(nil)
			if ix.Len() != 50 {
				t.Fatalf("Len %d, want 50", ix.Len())
			}
			got := searchAll(t, ix, queries, 10)
			fresh := build(t, pool[:50], Options{})
			want := searchAll(t, fresh, queries, 10)
			for i := range queries {
				if !slices.Equal(got[i], want[i]) {
					t.Fatalf("query %q:\nafter the fault %v\nfresh           %v", queries[i], got[i], want[i])
				}
			}
		})
	}
}
