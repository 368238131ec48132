package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/index/docstore"
)

// wordIndex is a TextIndex scoring by matching word count (like fakeBM25).
// Searches may run while a write is indexed (engine.TextIndex), hence mu.
type wordIndex struct {
	mu   sync.RWMutex
	docs map[string]Document
	fail bool
}

func (w *wordIndex) Search(ctx context.Context, qs []string, k int) ([][]fusion.Hit, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([][]fusion.Hit, len(qs))
	for i, q := range qs {
		var hits []fusion.Hit
		for id, d := range w.docs {
			if s := fakeBM25(q, d); s > 0 {
				hits = append(hits, fusion.Hit{ID: id, Score: s})
			}
		}
		out[i] = topK(hits, k)
	}
	return out, nil
}

func (w *wordIndex) Index(docs []Document) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail {
		return errors.New("disk full")
	}
	for _, d := range docs {
		w.docs[d.ID] = d
	}
	return nil
}

func (w *wordIndex) Delete(ids []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		delete(w.docs, id)
	}
	return nil
}

func (w *wordIndex) Len() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.docs)
}

// letterEncoder embeds a text as its unit letter-frequency vector; block,
// when set, makes document encoding wait (queries are never blocked).
type letterEncoder struct {
	block   chan struct{}
	entered chan struct{}
}

func (e *letterEncoder) Encode(ctx context.Context, texts []string) ([]float32, error) {
	if e.block != nil && len(texts) > 0 && strings.HasPrefix(texts[0], "BLOCK") {
		e.entered <- struct{}{}
		<-e.block
	}
	out := make([]float32, 26*len(texts))
	for i, t := range texts {
		v := letters(t)
		var n float64
		for _, x := range v {
			n += x * x
		}
		for j, x := range v {
			if n > 0 {
				out[26*i+j] = float32(x / math.Sqrt(n))
			}
		}
	}
	return out, nil
}

func (e *letterEncoder) Dim() int { return 26 }

// flatIndex is a brute-force VectorIndex that, like vector.Index, refuses
// to add an id it holds.
type flatIndex struct{ vecs map[string][]float32 }

func (f *flatIndex) Add(ids []string, v []float32) error {
	for _, id := range ids {
		if _, dup := f.vecs[id]; dup {
			return fmt.Errorf("duplicate id %q", id)
		}
	}
	for i, id := range ids {
		f.vecs[id] = v[26*i : 26*i+26]
	}
	return nil
}

func (f *flatIndex) Remove(ids []string) (int, error) {
	n := 0
	for _, id := range ids {
		if _, ok := f.vecs[id]; ok {
			n++
			delete(f.vecs, id)
		}
	}
	return n, nil
}

func (f *flatIndex) Search(flat []float32, k int) ([][]fusion.Hit, error) {
	out := make([][]fusion.Hit, len(flat)/26)
	for i := range out {
		q := flat[26*i : 26*i+26]
		var hits []fusion.Hit
		for id, v := range f.vecs {
			var s float32
			for j := range q {
				s += q[j] * v[j]
			}
			hits = append(hits, fusion.Hit{ID: id, Score: float64(s)})
		}
		out[i] = topK(hits, k)
	}
	return out, nil
}

func (f *flatIndex) Len() int { return len(f.vecs) }

type compositeEnv struct {
	env
	store *docstore.Store
	text  *wordIndex
	enc   *letterEncoder
	vec   *flatIndex
	comp  *engine.Composite
	log   []string
}

func newCompositeEnv(t *testing.T, dir string, bm25, dense bool) *compositeEnv {
	t.Helper()
	ce := &compositeEnv{}
	var err error
	if ce.store, err = docstore.Open(filepath.Join(dir, docstore.DefaultFileName)); err != nil {
		t.Fatal(err)
	}
	p := engine.Parts{Docs: ce.store,
		Flush: func(context.Context) error { ce.log = append(ce.log, "flush"); return nil },
		Close: func() error { ce.log = append(ce.log, "close"); return ce.store.Close() },
	}
	// The indexes are rebuilt from the store, as a real index folder would
	// catch up from Since(seq).
	if bm25 {
		ce.text = &wordIndex{docs: map[string]Document{}}
		p.BM25 = ce.text
	}
	if dense {
		ce.enc, ce.vec = &letterEncoder{}, &flatIndex{vecs: map[string][]float32{}}
		p.Encoder, p.Vectors = ce.enc, ce.vec
	}
	var docs []Document
	for _, d := range ce.store.Since(0) {
		docs = append(docs, d)
	}
	if len(docs) > 0 {
		if ce.text != nil {
			ce.text.Index(docs)
		}
		if ce.vec != nil {
			texts := make([]string, len(docs))
			ids := make([]string, len(docs))
			for i, d := range docs {
				texts[i], ids[i] = d.Passage(), d.ID
			}
			v, _ := ce.enc.Encode(context.Background(), texts)
			ce.vec.Add(ids, v)
		}
	}
	if ce.comp, err = engine.NewComposite(p); err != nil {
		t.Fatal(err)
	}
	ce.logs = &syncBuffer{}
	if ce.srv, err = New(ce.comp, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	ce.ts = httptest.NewServer(ce.srv.Handler())
	t.Cleanup(func() { ce.ts.Close(); ce.comp.Close() })
	return ce
}

func TestCompositeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	ce := newCompositeEnv(t, dir, true, true)
	body := `[` + strings.Join(func() []string {
		var out []string
		for _, d := range corpus {
			out = append(out, fmt.Sprintf(`{"id":%q,"title":%q,"text":%q}`, d.ID, d.Title, d.Text))
		}
		return out
	}(), ",") + `]`
	if code, b := ce.do(t, "POST", "/docs", body); code != 200 {
		t.Fatalf("POST /docs: %d %s", code, b)
	}
	if st := ce.comp.Stats(); st.Documents != 6 || st.BM25Documents != 6 || st.Vectors != 6 {
		t.Fatalf("stats %+v", st)
	}
	if r := ce.search(t, "q=dogs+cats&mode=bm25&k=3"); strings.Join(ids(r.Results), ",") != "d2,d3,d1" {
		t.Fatalf("bm25: %v", ids(r.Results))
	}
	if r := ce.search(t, "q=zebras+stripes&mode=dense&k=1"); strings.Join(ids(r.Results), ",") != "d5" {
		t.Fatalf("dense: %v", ids(r.Results))
	}
	r := ce.search(t, "q=quantum+particles&mode=hybrid&k=3")
	if r.Results[0].ID != "d4" || r.Results[0].BM25 == nil || r.Results[0].Dense == nil || r.Results[0].BM25.Rank != 1 {
		t.Fatalf("hybrid: %+v", r.Results)
	}
	// The passage embedded is title + " " + text.
	v := ce.vec.vecs["d5"]
	want, _ := ce.enc.Encode(context.Background(), []string{"Zebra zebras have stripes"})
	for i := range v {
		if v[i] != want[i] {
			t.Fatal("document not embedded from its passage text")
		}
	}
	// Replacing a document replaces its vector and its BM25 entry.
	if code, b := ce.do(t, "POST", "/docs", `[{"id":"d5","title":"Horse","text":"horses gallop"}]`); code != 200 {
		t.Fatalf("replace: %d %s", code, b)
	}
	if r := ce.search(t, "q=horses+gallop&mode=hybrid&k=1"); r.Results[0].ID != "d5" || r.Results[0].BM25 == nil || r.Results[0].Dense.Rank != 1 {
		t.Fatalf("after replace: %+v", r.Results)
	}
	if r := ce.search(t, "q=zebras&mode=bm25"); len(r.Results) != 0 {
		t.Fatalf("old text still indexed: %+v", r.Results)
	}
	ce.do(t, "POST", "/docs", `[{"id":"d5","title":"Zebra","text":"zebras have stripes"}]`)
	if code, _ := ce.do(t, "DELETE", "/docs/d4", ""); code != 200 {
		t.Fatal("delete failed")
	}
	r = ce.search(t, "q=quantum+particles&mode=hybrid&k=3")
	for _, x := range r.Results {
		if x.ID == "d4" {
			t.Fatal("deleted doc still found")
		}
	}
	if st := ce.comp.Stats(); st.Documents != 5 || st.BM25Documents != 5 || st.Vectors != 5 {
		t.Fatalf("stats after delete %+v", st)
	}
	if code, _ := ce.do(t, "DELETE", "/docs/d4", ""); code != 404 {
		t.Fatal("second delete not 404")
	}
	// Restart: the store keeps everything acknowledged.
	ce.comp.Close()
	ce.ts.Close()
	ce2 := newCompositeEnv(t, dir, true, true)
	if st := ce2.comp.Stats(); st.Documents != 5 || st.Vectors != 5 {
		t.Fatalf("after restart %+v", st)
	}
	if code, b := ce2.do(t, "GET", "/docs/d5", ""); code != 200 || !strings.Contains(string(b), "stripes") {
		t.Fatalf("GET after restart: %d %s", code, b)
	}
	if got := strings.Join(ce.log, " "); got != "close" {
		t.Fatalf("parts lifecycle: %q", got)
	}
	ce2.comp.Flush(context.Background())
	if ce2.log[0] != "flush" {
		t.Fatal("Flush not passed to the parts")
	}
}

func TestCompositeMissingParts(t *testing.T) {
	ce := newCompositeEnv(t, t.TempDir(), false, true)
	ce.do(t, "POST", "/docs", `[{"id":"a","text":"some text"}]`)
	for _, mode := range []string{"bm25", "hybrid"} {
		if code, b := ce.do(t, "GET", "/search?q=text&mode="+mode, ""); code != 400 || !strings.Contains(string(b), "without BM25") {
			t.Errorf("mode %s without BM25: %d %s", mode, code, b)
		}
	}
	if r := ce.search(t, "q=text&mode=dense"); len(r.Results) != 1 {
		t.Errorf("dense: %+v", r)
	}
	ce2 := newCompositeEnv(t, t.TempDir(), true, false)
	if code, b := ce2.do(t, "GET", "/search?q=text&mode=dense", ""); code != 400 || !strings.Contains(string(b), "without vectors") {
		t.Errorf("dense without vectors: %d %s", code, b)
	}
	if _, err := engine.NewComposite(engine.Parts{}); err == nil {
		t.Error("composite without a store accepted")
	}
	if _, err := engine.NewComposite(engine.Parts{Docs: ce.store, Encoder: &letterEncoder{}}); err == nil {
		t.Error("encoder without vector index accepted")
	}
}

func TestCompositeIndexFailureKeepsStore(t *testing.T) {
	ce := newCompositeEnv(t, t.TempDir(), true, false)
	ce.text.fail = true
	code, b := ce.do(t, "POST", "/docs", `[{"id":"a","text":"x"}]`)
	// A lasting index failure: the documents are durable, indexing is
	// deferred (503 with Retry-After, details in the log only), and
	// searches do not show them until the index catches up.
	if code != 503 || !strings.Contains(string(b), "request_id") || !strings.Contains(string(b), "durabl") {
		t.Fatalf("index failure: %d %s", code, b)
	}
	if _, ok := ce.store.Get("a"); !ok {
		t.Fatal("document not in the store after an index failure")
	}
	ce.text.fail = false
	if code, b := ce.do(t, "POST", "/docs", `[{"id":"b","text":"x"}]`); code != 200 {
		t.Fatalf("write after the failure ended: %d %s", code, b)
	}
	if r := ce.search(t, "q=x&mode=bm25"); len(r.Results) != 2 {
		t.Fatalf("caught-up documents: %+v", r.Results)
	}
}

// TestCompositeEncodingOutsideLock checks that a slow document embedding
// does not block searches or lookups.
func TestCompositeEncodingOutsideLock(t *testing.T) {
	ce := newCompositeEnv(t, t.TempDir(), true, true)
	ce.do(t, "POST", "/docs", `[{"id":"a","text":"alpha"}]`)
	ce.enc.block, ce.enc.entered = make(chan struct{}), make(chan struct{}, 1)
	done := make(chan int)
	go func() {
		code, _, err := ce.try("POST", "/docs", `[{"id":"b","title":"BLOCK","text":"beta"}]`)
		if err != nil {
			t.Error(err)
		}
		done <- code
	}()
	select {
	case <-ce.enc.entered:
	case code := <-done:
		t.Fatalf("put returned %d before embedding", code)
	}
	if r := ce.search(t, "q=alpha&mode=hybrid"); len(r.Results) != 1 {
		t.Fatalf("search while a put is embedding: %+v", r)
	}
	if code, _ := ce.do(t, "GET", "/docs/a", ""); code != 200 {
		t.Fatal("lookup blocked")
	}
	close(ce.enc.block)
	if code := <-done; code != 200 {
		t.Fatalf("put: %d", code)
	}
}

func TestCompositeConcurrent(t *testing.T) {
	ce := newCompositeEnv(t, t.TempDir(), true, true)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				id := fmt.Sprintf("w%d-%d", w, i%4)
				var code int
				var b []byte
				var err error
				switch i % 3 {
				case 0:
					code, b, err = ce.try("POST", "/docs", fmt.Sprintf(`[{"id":%q,"text":"cats and dogs %d"}]`, id, i))
				case 1:
					code, b, err = ce.try("GET", "/search?q=cats+dogs&mode=hybrid&k=5", "")
				case 2:
					code, b, err = ce.try("DELETE", "/docs/"+id, "")
				}
				if err != nil {
					t.Error(err)
					return
				}
				if code != 200 && code != 404 {
					t.Errorf("status %d: %s", code, b)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := ce.comp.Stats(); st.Documents != st.BM25Documents || st.Documents != st.Vectors {
		t.Fatalf("store and indexes diverged: %+v", st)
	}
}
