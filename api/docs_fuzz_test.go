package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/engine"
)

// FuzzPostDocsReal sends arbitrary bodies to POST /docs of a server over
// the real backend (an engine index folder with its document log and
// bleve BM25 index, in a temporary folder). No body yields a 5xx; after a
// 200 every document of the body can be fetched as sent and BM25 search
// answers; the folder reopens with every acknowledged document.
func FuzzPostDocsReal(f *testing.F) {
	for _, s := range []string{
		`[{"id": "x", "title": "t", "text": "cats purr"}]`,
		`{"docs": [{"id": "y", "text": "dogs bark"}, {"id": "z", "text": ""}]}`,
		`[{"id": "a", "text": "one"}, {"id": "a", "text": "two"}]`,
		`[{"id": "\u00e9t\u00e9", "title": "\u0000", "text": "\ud800"}]`,
		`[{"id": "", "text": "empty id"}]`,
		`[{"id": "w", "text": "zebra", "extra": 1}]`,
		`[]`, `{}`, `nul`, ``,
	} {
		f.Add([]byte(s))
	}
	dir := filepath.Join(f.TempDir(), "idx")
	ctx := context.Background()
	seed := []beir.Doc{{ID: "seed", Title: "Seed", Text: "the first document"}}
	if _, err := engine.Build(ctx, dir, func(fn func(beir.Doc) error) error {
		for _, d := range seed {
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	}, engine.BuildOptions{NoDense: true, Quiet: true}); err != nil {
		f.Fatal(err)
	}
	c, err := engine.Open(ctx, dir, engine.OpenOptions{})
	if err != nil {
		f.Fatal(err)
	}
	b, err := c.Backend()
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(b, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBodyBytes: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	acked := map[string]Document{}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/docs", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkAnswer(t, rec, "POST /docs")
		if rec.Code != http.StatusOK {
			return
		}
		var docs []Document
		if err := json.Unmarshal(body, &docs); err != nil {
			var wrapped struct{ Docs []Document }
			if json.Unmarshal(body, &wrapped) == nil {
				docs = wrapped.Docs
			}
		}
		last := map[string]Document{}
		for _, d := range docs {
			last[d.ID] = d
		}
		for id, d := range last {
			acked[id] = d
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/docs/"+url.PathEscape(id), nil))
			var got Document
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.Text != d.Text || got.Title != d.Title {
				t.Fatalf("GET %q after a 200: %d %s (want %+v)", id, rec.Code, rec.Body.Bytes(), d)
			}
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/search?mode=bm25&q=document", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("search after a write: %d %s", rec.Code, rec.Body.Bytes())
		}
	})
	if err := b.Flush(ctx); err != nil {
		f.Fatal(err)
	}
	b.Close()
	c, err = engine.Open(ctx, dir, engine.OpenOptions{})
	if err != nil {
		f.Fatalf("reopen after the fuzzed writes: %v", err)
	}
	defer c.Close()
	for id, d := range acked {
		got, ok := c.Store().Get(id)
		if !ok || got.Text != d.Text {
			f.Fatalf("acknowledged %q lost after reopen", id)
		}
	}
	if c.BM25().Len() != c.Store().Len() {
		f.Fatalf("bm25 holds %d documents, the log %d", c.BM25().Len(), c.Store().Len())
	}
}
