package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func fuzzServer(t testing.TB) *Server {
	f := newFake(corpus...)
	f.plain = true
	s, err := New(f, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBodyBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkAnswer asserts that bad input never yields a 5xx and that every
// answer is JSON (an error object on 4xx).
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	if rec.Code >= 500 {
		t.Fatalf("%s: status %d: %s", what, rec.Code, rec.Body.Bytes())
	}
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s: status %d, body not a JSON object: %q", what, rec.Code, rec.Body.Bytes())
	}
	if rec.Code >= 400 {
		if msg, _ := v["error"].(string); msg == "" {
			t.Fatalf("%s: status %d without an error message: %s", what, rec.Code, rec.Body.Bytes())
		}
	}
}

// FuzzSearchBody sends arbitrary bodies to POST /search and POST /docs.
func FuzzSearchBody(f *testing.F) {
	for _, s := range []string{
		`{"query": "cats", "k": 3, "mode": "hybrid", "fusion": "rrf"}`,
		`{"queries": ["cats", "dogs"], "mode": "bm25", "alpha": 0.3, "norm": "zscore"}`,
		`{"query": "cats", "k": 1e400}`,
		`[{"id": "x", "title": "t", "text": "cats"}]`,
		`{"docs": [{"id": "y"}]}`,
		`{"query": "\u0000", "k": -1}`,
		`nul`, `{}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	s := fuzzServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/search", "/docs"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(rec, req)
			checkAnswer(t, rec, "POST "+path)
		}
	})
}

// FuzzSearchQuery sends arbitrary query strings to GET /search and
// arbitrary ids to GET and DELETE /docs/{id}.
func FuzzSearchQuery(f *testing.F) {
	for _, s := range []string{
		"q=cats&k=5&mode=hybrid&fusion=linear&alpha=0.7&norm=minmax",
		"q=cats&mode=dense&k=1000",
		"q=%zz", "k=&q=", "q=a&alpha=1e-320", "q=dogs&k=99999999999999999999",
	} {
		f.Add(s)
	}
	s := fuzzServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, raw string) {
		// Requests are built by hand: the raw query may hold bytes a
		// request line cannot, which net/http's server would reject first.
		req := httptest.NewRequest(http.MethodGet, "/search", nil)
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, "GET /search?"+raw)
		for _, m := range []string{http.MethodGet, http.MethodDelete} {
			req := httptest.NewRequest(m, "/docs/x", nil)
			req.URL = &url.URL{Path: "/docs/" + raw}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect {
				continue // path cleaning redirects carry no JSON body
			}
			checkAnswer(t, rec, m+" /docs/"+raw)
		}
	})
}
