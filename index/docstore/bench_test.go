package docstore

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkPut measures one durable Put (one record, one fsync) of a batch
// of SciFact-sized documents (~1.5 KB each).
func BenchmarkPut(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), DefaultFileName))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			text := strings.Repeat("word ", 300)
			docs := make([]Doc, batch)
			b.SetBytes(int64(batch * (len(text) + 20)))
			for i := 0; b.Loop(); i++ {
				for j := range docs {
					docs[j] = Doc{ID: fmt.Sprintf("doc-%d-%d", i, j), Title: "title", Text: text}
				}
				if err := s.Put(docs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen measures replaying a 5,000-document log (SciFact's size).
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), DefaultFileName)
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("word ", 300)
	for i := range 50 {
		docs := make([]Doc, 100)
		for j := range docs {
			docs[j] = Doc{ID: fmt.Sprintf("doc-%d-%d", i, j), Title: "title", Text: text}
		}
		if err := s.Put(docs); err != nil {
			b.Fatal(err)
		}
	}
	size := s.Stats().LogBytes
	s.Close()
	b.SetBytes(size)
	for b.Loop() {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
