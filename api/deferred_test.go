package api

import (
	"context"
	"errors"
	"testing"
)

func TestDeferred(t *testing.T) {
	d := &Deferred{}
	e := newEnvWith(t, d)
	if code, _ := e.do(t, "GET", "/healthz", ""); code != 200 {
		t.Fatal("healthz while loading")
	}
	for _, p := range []string{"/readyz", "/search?q=cats", "/docs/d1"} {
		if code, _ := e.do(t, "GET", p, ""); code != 503 {
			t.Fatalf("GET %s while loading: %d", p, code)
		}
	}
	if _, err := d.Retrieve(context.Background(), Retrieval{}); !errors.Is(err, ErrNotReady) {
		t.Fatal(err)
	}
	if err := d.PutDocs(context.Background(), nil); !errors.Is(err, ErrNotReady) {
		t.Fatal(err)
	}
	if err := d.DeleteDoc(context.Background(), "x"); !errors.Is(err, ErrNotReady) {
		t.Fatal(err)
	}
	if _, err := d.Doc(context.Background(), "x"); !errors.Is(err, ErrNotReady) {
		t.Fatal(err)
	}
	f := newFake(corpus...)
	if err := d.Set(f); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.do(t, "GET", "/readyz", ""); code != 200 {
		t.Fatal("not ready after Set")
	}
	if r := e.search(t, "q=cats&mode=bm25"); len(r.Results) == 0 {
		t.Fatal("no results after Set")
	}
	if d.Stats().Documents != int64(len(corpus)) {
		t.Fatal("stats not passed on")
	}
	d.Flush(context.Background())
	d.Close()
	if f.flushed.Load() != 1 || f.closed.Load() != 1 {
		t.Fatal("Flush/Close not passed on")
	}

	// Shutdown while loading: the backend set later is closed at once.
	d2 := &Deferred{}
	d2.Close()
	f2 := newFake()
	d2.Set(f2)
	if f2.closed.Load() != 1 || d2.Ready() {
		t.Fatal("backend set after Close not closed")
	}
}
