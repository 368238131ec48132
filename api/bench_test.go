package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkSearchHandler measures the server's own cost per GET /search
// (routing, middleware, validation, fusion, doc lookups, JSON) over the
// in-memory fake backend, whose scoring is part of the figure.
func BenchmarkSearchHandler(b *testing.B) {
	f := newFake(corpus...)
	f.plain = true
	s, err := New(f, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for _, mode := range []string{"bm25", "hybrid"} {
		b.Run(mode, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/search?q=small+cats&k=5&mode="+mode, nil)
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
