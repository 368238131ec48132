package bm25

import (
	"context"
	"fmt"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/internal/fixture"
)

func loadSciFact(b *testing.B) *beir.Dataset {
	ds, err := beir.Load(fixture.Repo(b, "data", "scifact"), "test")
	if err != nil {
		b.Fatal(err)
	}
	return ds
}

// BenchmarkBuildSciFact indexes the 5,183 SciFact documents on disk.
func BenchmarkBuildSciFact(b *testing.B) {
	ds := loadSciFact(b)
	for i := 0; i < b.N; i++ {
		ix, err := Build(context.Background(), filepath.Join(b.TempDir(), "idx"), ds.Corpus, Options{Quiet: true})
		if err != nil {
			b.Fatal(err)
		}
		ix.Close()
	}
	b.ReportMetric(float64(5183*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkRetrieveSciFact answers the 300 SciFact test queries (top
// 1000) on all cores.
func BenchmarkRetrieveSciFact(b *testing.B) {
	ds := loadSciFact(b)
	ix, err := Build(context.Background(), filepath.Join(b.TempDir(), "idx"), ds.Corpus, Options{Quiet: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	if _, err := (runner{ix}).Retrieve(context.Background(), ds.Queries, 1000); err != nil { // builds the view
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := (runner{ix}).Retrieve(context.Background(), ds.Queries, 1000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ds.Queries)*b.N)/b.Elapsed().Seconds(), "queries/s")
}

// BenchmarkSearchSciFactK10 answers the 300 SciFact test queries one at a
// time (top 10), with MaxScore pruning and exhaustively.
func BenchmarkSearchSciFactK10(b *testing.B) {
	ds := loadSciFact(b)
	ix, err := Build(context.Background(), filepath.Join(b.TempDir(), "idx"), ds.Corpus, Options{Quiet: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	for _, mode := range []struct {
		name       string
		exhaustive bool
	}{{"maxscore", false}, {"exhaustive", true}} {
		b.Run(mode.name, func(b *testing.B) {
			ix.SetExhaustive(mode.exhaustive)
			for _, q := range ds.Queries { // view and cached bounds
				ix.Search(context.Background(), q.Text, 10)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, q := range ds.Queries {
					if _, err := ix.Search(context.Background(), q.Text, 10); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(ds.Queries)*b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
	ix.SetExhaustive(false)
}

// sciFactIndex builds the BM25 index of the SciFact corpus in a
// temporary folder and returns the dataset, the index and the corpus's
// documents in order.
func sciFactIndex(b *testing.B) (*beir.Dataset, *Index, []beir.Doc) {
	ds := loadSciFact(b)
	ix, err := Build(context.Background(), filepath.Join(b.TempDir(), "idx"), ds.Corpus, Options{Quiet: true})
	if err != nil {
		b.Fatal(err)
	}
	var docs []beir.Doc
	ds.Corpus(func(d beir.Doc) error { docs = append(docs, d); return nil })
	return ds, ix, docs
}

// writeBatch returns the i-th write of 32 new documents: copies of the
// corpus's documents in turn, under ids of their own.
func writeBatch(docs []beir.Doc, i int) []beir.Doc {
	batch := make([]beir.Doc, 32)
	for j := range batch {
		batch[j] = docs[(i*32+j)%len(docs)]
		batch[j].ID = fmt.Sprintf("w%d-%s", i, batch[j].ID)
	}
	return batch
}

// BenchmarkAdd32SciFact times one write of 32 new documents to the
// SciFact index (5,183 documents, growing), view update included: what
// each POST /docs of the mixed load costs BM25.
func BenchmarkAdd32SciFact(b *testing.B) {
	_, ix, docs := sciFactIndex(b)
	defer ix.Close()
	ix.Search(context.Background(), "cell", 10) // the first view
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ix.Add(writeBatch(docs, i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkViewSciFact times building the search view of the SciFact
// index after a write of 32 documents: from scratch (every document's id
// and lengths read from bleve, as every write did before views were
// incremental) and incrementally (only the write's segment read).
func BenchmarkViewSciFact(b *testing.B) {
	_, ix, docs := sciFactIndex(b)
	defer ix.Close()
	ix.Search(context.Background(), "cell", 10)
	batch := make([]beir.Doc, 32)
	for j := range batch {
		batch[j] = docs[j]
		batch[j].ID = "new-" + batch[j].ID
	}
	if err := ix.Add(batch); err != nil {
		b.Fatal(err)
	}
	for _, full := range []bool{true, false} {
		name := "incremental"
		if full {
			name = "scratch"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if full {
					ix.segs.clear()
				} else {
					// The cache as the write left it: every segment but
					// the newest.
					ix.segs.mu.Lock()
					delete(ix.segs.segs, newestSegment(ix))
					ix.segs.mu.Unlock()
				}
				v, err := ix.newView(ix.meta)
				if err != nil {
					b.Fatal(err)
				}
				v.unref()
			}
		})
	}
}

// newestSegment returns the id of the newest segment of the current view.
func newestSegment(ix *Index) uint64 {
	var newest uint64
	for id := range ix.segs.segs {
		newest = max(newest, id)
	}
	return newest
}

// BenchmarkSearchAfterWrites answers the SciFact test queries (top 10)
// after 100 writes of 32 documents each, as the mixed load leaves the
// index: many small segments beside the first one, merged by bleve in the
// background.
func BenchmarkSearchAfterWrites(b *testing.B) {
	ds, ix, docs := sciFactIndex(b)
	defer ix.Close()
	for i := 0; i < 100; i++ {
		if err := ix.Add(writeBatch(docs, i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range ds.Queries {
		ix.Search(context.Background(), q.Text, 10)
	}
	if adv, err := ix.bi.Advanced(); err == nil {
		if r, err := adv.Reader(); err == nil {
			if snap, ok := r.(*scorch.IndexSnapshot); ok {
				b.Logf("segments in the snapshot: %d", len(snap.Segments()))
			}
			r.Close()
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, q := range ds.Queries {
			if _, err := ix.Search(context.Background(), q.Text, 10); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(ds.Queries)*b.N)/b.Elapsed().Seconds(), "queries/s")
}
