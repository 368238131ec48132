package bm25

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/contriever-go/contriever/beir"
)

// A bleve batch that fails after bleve applied it (as an ENOSPC during
// persistence did) must not leave the statistics behind the postings:
// Len, the metadata and every search agree afterwards, and so after a
// reopen.
func TestFailedBatchKeepsStatisticsConsistent(t *testing.T) {
	for _, step := range []string{"bm25.batch", "bm25.batched"} {
		for _, kind := range []string{"enospc", "panic"} {
			t.Run(step+"/"+kind, func(t *testing.T) {
				ix := build(t, smallCorpus, Options{})
				before := ix.Len()
				ix.SetFaultHook(func(s string) error {
					if s != step {
						return nil
					}
					if kind == "panic" {
						panic("injected")
					}
					return syscall.ENOSPC
				})
				err := ix.Add([]beir.Doc{{ID: "new1", Text: "zebra crossing"}})
				if err == nil {
					t.Fatal("Add succeeded despite the fault")
				}
				ix.SetFaultHook(nil)
				if err := ix.Check(); err != nil {
					t.Fatalf("index inconsistent after the failed batch: %v", err)
				}
				hits, err := ix.Search(context.Background(), "zebra", 10)
				if err != nil {
					t.Fatal(err)
				}
				want := before
				if step == "bm25.batched" {
					want++ // bleve applied it: rolled forward
					if len(hits) != 1 {
						t.Fatalf("applied document not searchable: %v", hits)
					}
				} else if len(hits) != 0 {
					t.Fatalf("document of a batch that never ran is visible: %v", hits)
				}
				if ix.Len() != want {
					t.Fatalf("Len %d, want %d", ix.Len(), want)
				}
				// Deleting after a failed delete is consistent too.
				ix.SetFaultHook(func(s string) error {
					if s == step {
						return syscall.EIO
					}
					return nil
				})
				if err := ix.Delete([]string{smallCorpus[0].ID}); err == nil {
					t.Fatal("Delete succeeded despite the fault")
				}
				ix.SetFaultHook(nil)
				if err := ix.Check(); err != nil {
					t.Fatalf("index inconsistent after the failed delete: %v", err)
				}
				dir := ix.Dir()
				if err := ix.Close(); err != nil {
					t.Fatal(err)
				}
				re, err := Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer re.Close()
				if err := re.Check(); err != nil {
					t.Fatalf("reopened index inconsistent: %v", err)
				}
			})
		}
	}
}

// Verify finds a flipped byte in a zap segment.
func TestVerifyFindsDamagedSegment(t *testing.T) {
	ix := build(t, smallCorpus, Options{})
	dir := ix.Dir()
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir); err != nil {
		t.Fatalf("intact index: %v", err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "store", "*.zap"))
	if len(segs) == 0 {
		t.Fatal("no segment files")
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x5a
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify = %v, want ErrCorrupt", err)
	}
}

// A search is not held up by a write in flight: while a batch is being
// applied (held at the "bm25.batch" step), searches answer from the
// previous view, and the write's documents appear once it returns.
func TestSearchDuringWrite(t *testing.T) {
	ix := build(t, smallCorpus, Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	ix.SetFaultHook(func(s string) error {
		if s == "bm25.batch" {
			close(entered)
			<-release
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- ix.Add([]beir.Doc{{ID: "late", Text: "zebra crossing"}}) }()
	<-entered
	hits, err := ix.Search(context.Background(), "zebra", 5)
	if err != nil || len(hits) != 0 {
		t.Fatalf("search during the write: %v %v", hits, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ix.SetFaultHook(nil)
	if hits, err := ix.Search(context.Background(), "zebra", 5); err != nil || len(hits) != 1 {
		t.Fatalf("after the write: %v %v", hits, err)
	}
}
