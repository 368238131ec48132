package wordpiece

import (
	"testing"
)

func sciFactDocs(b *testing.B) []string {
	b.Helper()
	var docs []string
	for _, r := range loadFixture(b) {
		if r.Kind == "doc" {
			docs = append(docs, r.Text)
		}
	}
	return docs
}

// BenchmarkEncodeSciFactDocs encodes all 5183 SciFact documents untruncated
// with EncodeBatch (serial under -cpu 1, all cores otherwise), the workload
// of HF's encodeBatch figure in the fixture README (≈455k tokens/s on one
// core of this VM). It reports tokens/s.
func BenchmarkEncodeSciFactDocs(b *testing.B) {
	tok := hfTokenizer(b, false)
	docs := sciFactDocs(b)
	b.ResetTimer()
	tokens := 0
	for i := 0; i < b.N; i++ {
		for _, e := range tok.EncodeBatch(docs, 0) {
			tokens += len(e.IDs)
		}
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkEncodeSciFactDocsLoop is BenchmarkEncodeSciFactDocs with one
// Encode call per document on the calling goroutine.
func BenchmarkEncodeSciFactDocsLoop(b *testing.B) {
	tok := hfTokenizer(b, false)
	docs := sciFactDocs(b)
	b.ResetTimer()
	tokens := 0
	for i := 0; i < b.N; i++ {
		for _, d := range docs {
			tokens += len(tok.Encode(d, 0).IDs)
		}
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkTokenizeSciFactDocs measures Tokenize (ids only, no offsets or
// specials: the training id stream) on the SciFact documents.
func BenchmarkTokenizeSciFactDocs(b *testing.B) {
	tok := hfTokenizer(b, false)
	docs := sciFactDocs(b)
	b.ResetTimer()
	tokens := 0
	var buf []int32
	for i := 0; i < b.N; i++ {
		for _, d := range docs {
			buf = tok.AppendTokenize(buf[:0], d)
			tokens += len(buf)
		}
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkEncodeIDsSciFactDocs512 measures AppendEncodeIDs at 512 tokens
// (the embedding workload: ids only, early exit at the budget). tokens/s
// counts the ids produced.
func BenchmarkEncodeIDsSciFactDocs512(b *testing.B) {
	tok := hfTokenizer(b, false)
	docs := sciFactDocs(b)
	b.ResetTimer()
	tokens := 0
	var buf []int32
	for i := 0; i < b.N; i++ {
		for _, d := range docs {
			buf = tok.AppendEncodeIDs(buf[:0], d, 512)
			tokens += len(buf)
		}
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}
