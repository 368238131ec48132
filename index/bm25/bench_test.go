package bm25

import (
	"context"
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
