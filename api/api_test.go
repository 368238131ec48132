package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contriever-go/contriever/engine/fusion"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	srv  *Server
	fake *fakeBackend
	ts   *httptest.Server
	logs *syncBuffer
}

// newEnvWith serves backend b with default options and a captured log.
func newEnvWith(t *testing.T, b Backend) *env {
	t.Helper()
	e := &env{logs: &syncBuffer{}}
	var err error
	if e.srv, err = New(b, Options{Logger: slog.New(slog.NewJSONHandler(e.logs, nil))}); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

func newEnv(t *testing.T, opts Options, docs ...Document) *env {
	t.Helper()
	if docs == nil {
		docs = corpus
	}
	e := &env{fake: newFake(docs...), logs: &syncBuffer{}}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(e.logs, nil))
	}
	var err error
	if e.srv, err = New(e.fake, opts); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// do sends a request and returns the status and body.
func (e *env) do(t *testing.T, method, path string, body string) (int, []byte) {
	t.Helper()
	code, b, err := e.try(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, b
}

// try is do without the testing.T, for goroutines other than the test's
// own (which must not call t.Fatal): it returns transport errors.
func (e *env) try(method, path string, body string) (int, []byte, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %T from %s: %v", v, b, err)
	}
	return v
}

func (e *env) search(t *testing.T, query string) SearchResponse {
	t.Helper()
	code, b := e.do(t, "GET", "/search?"+query, "")
	if code != 200 {
		t.Fatalf("GET /search?%s: %d %s", query, code, b)
	}
	return decode[SearchResponse](t, b)
}

func ids(rs []SearchResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestSearchBM25AndDense(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.search(t, "q=dogs+cats&mode=bm25&k=10")
	// Fake BM25 = matching word count: d2 has "dogs" twice, d3 "cats" and
	// "dogs", d1 "cats" once (and its title "Cats"): d1=2, d2=3, d3=2.
	if got := strings.Join(ids(r.Results), ","); got != "d2,d3,d1" {
		t.Fatalf("bm25 ids = %s", got)
	}
	if r.Results[0].Score != 3 || r.Results[1].Score != 2 || r.Mode != ModeBM25 || r.K != 10 || r.Fusion != "" || r.Alpha != nil {
		t.Fatalf("bm25 response = %+v", r)
	}
	if r.Results[0].Title != "Dogs" || r.Results[0].Snippet != corpus[1].Text || r.Results[0].Dense != nil || r.Results[0].BM25 != nil {
		t.Fatalf("bm25 result = %+v", r.Results[0])
	}
	r = e.search(t, "q=zebra+stripes&mode=dense&k=2")
	if len(r.Results) != 2 || r.Results[0].ID != "d5" || r.Mode != ModeDense {
		t.Fatalf("dense = %+v", r)
	}
	if !(r.Results[0].Score >= r.Results[1].Score) {
		t.Fatal("dense results not in score order")
	}
}

func TestSearchHybridMatchesFusion(t *testing.T) {
	e := newEnv(t, Options{HybridDepth: 5})
	lists, err := e.fake.Retrieve(context.Background(), Retrieval{Queries: []string{"small cats"}, K: 5, BM25: true, Dense: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		want  func() ([]fusion.Result, error)
	}{
		{"q=small+cats&mode=hybrid&k=3", func() ([]fusion.Result, error) {
			return fusion.Linear(lists.Dense[0], lists.BM25[0], fusion.DefaultAlpha, fusion.MinMax)
		}},
		{"q=small+cats&mode=hybrid&k=3&alpha=0.2&norm=zscore", func() ([]fusion.Result, error) {
			return fusion.Linear(lists.Dense[0], lists.BM25[0], 0.2, fusion.ZScore)
		}},
		{"q=small+cats&mode=hybrid&fusion=rrf&k=4", func() ([]fusion.Result, error) {
			return fusion.RRF(lists.Dense[0], lists.BM25[0], 60)
		}},
	} {
		r := e.search(t, tc.query)
		want, err := tc.want()
		if err != nil {
			t.Fatal(err)
		}
		want = want[:r.K]
		if len(r.Results) != len(want) {
			t.Fatalf("%s: %d results, want %d", tc.query, len(r.Results), len(want))
		}
		for i, w := range want {
			g := r.Results[i]
			if g.ID != w.ID || math.Abs(g.Score-w.Score) > 1e-12 {
				t.Fatalf("%s: result %d = %s %v, want %s %v", tc.query, i, g.ID, g.Score, w.ID, w.Score)
			}
			for _, m := range []struct {
				got  *MethodScore
				want fusion.Component
			}{{g.Dense, w.Dense}, {g.BM25, w.BM25}} {
				if (m.got != nil) != m.want.Found() || m.got != nil && (m.got.Rank != m.want.Rank || m.got.Score != m.want.Score || math.Abs(m.got.Fused-m.want.Fused) > 1e-12) {
					t.Fatalf("%s: result %d components %+v %+v, want %+v", tc.query, i, g.Dense, g.BM25, w)
				}
			}
		}
		if r.Mode != ModeHybrid {
			t.Fatalf("mode %q", r.Mode)
		}
		if strings.Contains(tc.query, "rrf") {
			if r.Fusion != FusionRRF || r.Alpha != nil || r.Norm != "" {
				t.Fatalf("rrf echo: %+v", r)
			}
		} else if r.Fusion != FusionLinear || r.Alpha == nil || r.Norm == "" {
			t.Fatalf("linear echo: %+v", r)
		}
	}
	// The default mode is hybrid linear with the label-free default alpha (fusion.DefaultAlpha).
	r := e.search(t, "q=small+cats")
	if r.Mode != ModeHybrid || r.Fusion != FusionLinear || *r.Alpha != fusion.DefaultAlpha || r.Norm != "minmax" || r.K != 10 {
		t.Fatalf("defaults: %+v", r)
	}
}

func TestSnippet(t *testing.T) {
	e := newEnv(t, Options{SnippetChars: 12})
	r := e.search(t, "q=lorem&mode=bm25")
	if len(r.Results) != 1 || r.Results[0].Snippet != "lorem ipsum…" {
		t.Fatalf("snippet = %q", r.Results[0].Snippet)
	}
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{{"héllo wörld", 5, "héllo…"}, {"héllo", 5, "héllo"}, {"abc", -1, "abc"}, {"abc", 0, "…"}, {"", 3, ""}} {
		if got := snippet(tc.in, tc.n); got != tc.want {
			t.Errorf("snippet(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestSearchPOST(t *testing.T) {
	e := newEnv(t, Options{})
	code, b := e.do(t, "POST", "/search", `{"query": "dogs cats", "mode": "bm25", "k": 2}`)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	single := decode[SearchResponse](t, b)
	if strings.Join(ids(single.Results), ",") != "d2,d1" {
		t.Fatalf("single = %+v", single)
	}
	queries := []string{"small cats", "quantum particles", "dogs bark"}
	body, _ := json.Marshal(map[string]any{"queries": queries, "mode": "hybrid", "fusion": "rrf", "k": 3})
	code, b = e.do(t, "POST", "/search", string(body))
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	batch := decode[BatchResponse](t, b)
	if len(batch.Responses) != len(queries) {
		t.Fatalf("%d responses", len(batch.Responses))
	}
	for i, q := range queries {
		one := e.search(t, "q="+url.QueryEscape(q)+"&mode=hybrid&fusion=rrf&k=3")
		got, _ := json.Marshal(batch.Responses[i])
		want, _ := json.Marshal(one)
		if !bytes.Equal(got, want) {
			t.Fatalf("batch response %d differs from GET:\n%s\n%s", i, got, want)
		}
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, Options{MaxK: 50, MaxBatch: 3, MaxBodyBytes: 2048, MaxDocsPut: 2})
	big := `{"query": "` + strings.Repeat("x", 3000) + `"}`
	for _, tc := range []struct {
		method, path, body, want string
	}{
		{"GET", "/search?q=cats&k=0", "", "k must be between 1 and 50"},
		{"GET", "/search?q=cats&k=-3", "", "k must be between"},
		{"GET", "/search?q=cats&k=51", "", "k must be between"},
		{"GET", "/search?q=cats&k=ten", "", "k must be an integer"},
		{"GET", "/search?q=cats&k=1.5", "", "k must be an integer"},
		{"GET", "/search?q=cats&mode=sparse", "", `unknown mode "sparse"`},
		{"GET", "/search?q=cats&fusion=max", "", `unknown fusion "max"`},
		{"GET", "/search?q=cats&alpha=1.5", "", "alpha must be between 0 and 1"},
		{"GET", "/search?q=cats&alpha=-0.1", "", "alpha must be between 0 and 1"},
		{"GET", "/search?q=cats&alpha=NaN", "", "alpha must be between 0 and 1"},
		{"GET", "/search?q=cats&alpha=half", "", "alpha must be a number"},
		{"GET", "/search?q=cats&norm=l2", "", `unknown norm "l2"`},
		{"GET", "/search", "", "empty query"},
		{"GET", "/search?q=", "", "empty query"},
		{"GET", "/search?q=+++", "", "empty query"},
		{"GET", "/search?q=cats&mdoe=bm25", "", `unknown parameter "mdoe"`},
		{"GET", "/search?q=cats&q=dogs", "", `parameter "q" given 2 times`},
		{"POST", "/search", `{"query": "cats"`, "malformed JSON"},
		{"POST", "/search", `not json`, "malformed JSON"},
		{"POST", "/search", `{"query": "cats"} {}`, "data after"},
		{"POST", "/search", `{"query": "cats", "kk": 3}`, `unknown field "kk"`},
		{"POST", "/search", `{"query": "cats", "k": "3"}`, "malformed JSON"},
		{"POST", "/search", `{"query": "cats", "k": 0}`, "k must be between"},
		{"POST", "/search", `{"query": "cats", "k": 51}`, "k must be between"},
		{"POST", "/search", `{"query": "cats", "mode": "x"}`, "unknown mode"},
		{"POST", "/search", `{"query": "cats", "fusion": "x"}`, "unknown fusion"},
		{"POST", "/search", `{"query": "cats", "alpha": 1.01}`, "alpha must be between"},
		{"POST", "/search", `{"query": "cats", "norm": "x"}`, "unknown norm"},
		{"POST", "/search", `{"query": ""}`, "empty query"},
		{"POST", "/search", `{"query": " \t"}`, "empty query"},
		{"POST", "/search", `{}`, "empty query"},
		{"POST", "/search", `{"queries": []}`, `"queries" is empty`},
		{"POST", "/search", `{"queries": ["a", ""]}`, `"queries"[1]`},
		{"POST", "/search", `{"queries": ["a", "b", "c", "d"]}`, "at most 3"},
		{"POST", "/search", `{"query": "a", "queries": ["b"]}`, "not both"},
		{"POST", "/search", ``, "empty request body"},
		{"POST", "/search", big, "request body exceeds 2048 bytes"},
		{"POST", "/docs", `[]`, "no documents"},
		{"POST", "/docs", `{"docs": []}`, "no documents"},
		{"POST", "/docs", `[{"id": "", "text": "x"}]`, "docs[0]: empty id"},
		{"POST", "/docs", `[{"id": "a"}, {"id": "a"}]`, `docs[1]: id "a" repeats docs[0]`},
		{"POST", "/docs", `[{"id": "a"}, {"id": "b"}, {"id": "c"}]`, "at most 2 allowed"},
		{"POST", "/docs", `[{"id": "a", "body": "x"}]`, `unknown field "body"`},
		{"POST", "/docs", `{"documents": []}`, `unknown field "documents"`},
		{"POST", "/docs", `[{"id": 7}]`, "malformed JSON"},
		{"POST", "/docs", `"a"`, "want an array of documents"},
		{"POST", "/docs", `[{"id": "a", "text": "` + strings.Repeat("y", 3000) + `"}]`, "exceeds 2048 bytes"},
		{"POST", "/docs", `[{"id": "a", "text": "reject me"}]`, "text refused"},
	} {
		code, b := e.do(t, tc.method, tc.path, tc.body)
		name := tc.method + " " + tc.path + " " + tc.body[:min(len(tc.body), 60)]
		if code != 400 {
			t.Errorf("%s: status %d (%s), want 400", name, code, b)
			continue
		}
		eb := decode[errorBody](t, b)
		if !strings.Contains(eb.Error, tc.want) {
			t.Errorf("%s: error %q does not mention %q", name, eb.Error, tc.want)
		}
	}
	// Nothing got stored by the rejected batches.
	if code, _ := e.do(t, "GET", "/docs/a", ""); code != 404 {
		t.Errorf("rejected document stored: %d", code)
	}
	if !strings.Contains(e.logs.String(), `"status":400`) {
		t.Error("400s not logged")
	}
}

func TestDenseUnavailable(t *testing.T) {
	e := newEnv(t, Options{DefaultMode: ModeBM25})
	e.fake.noDense = true
	for _, q := range []string{"q=cats&mode=dense", "q=cats&mode=hybrid"} {
		code, b := e.do(t, "GET", "/search?"+q, "")
		if code != 400 || !strings.Contains(string(b), "not available") {
			t.Errorf("%s: %d %s", q, code, b)
		}
	}
	if r := e.search(t, "q=cats"); r.Mode != ModeBM25 || len(r.Results) == 0 {
		t.Errorf("default bm25 mode: %+v", r)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	e := newEnv(t, Options{})
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/docs/nope", `document "nope" not found`},
		{"DELETE", "/docs/nope", `document "nope" not found`},
		{"GET", "/nowhere", "no route GET /nowhere"},
		{"GET", "/docs/", "no route"},
	} {
		code, b := e.do(t, tc.method, tc.path, "")
		if code != 404 || !strings.Contains(decode[errorBody](t, b).Error, tc.want) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, b)
		}
	}
	code, b := e.do(t, "POST", "/healthz", "")
	if code != 405 || !strings.Contains(decode[errorBody](t, b).Error, "not allowed") {
		t.Errorf("POST /healthz: %d %s", code, b)
	}
}

func TestDocsLifecycle(t *testing.T) {
	e := newEnv(t, Options{})
	code, b := e.do(t, "POST", "/docs", `[{"id": "n1", "title": "Narwhal", "text": "narwhals have tusks"}, {"id": "a/b", "title": "Slash", "text": "an id with a slash"}]`)
	if code != 200 || decode[map[string]int](t, b)["count"] != 2 {
		t.Fatalf("POST /docs: %d %s", code, b)
	}
	code, b = e.do(t, "POST", "/docs", `{"docs": [{"id": "n2", "title": "More", "text": "narwhals narwhals"}]}`)
	if code != 200 {
		t.Fatalf("POST /docs object form: %d %s", code, b)
	}
	code, b = e.do(t, "GET", "/docs/n1", "")
	if d := decode[Document](t, b); code != 200 || d != (Document{ID: "n1", Title: "Narwhal", Text: "narwhals have tusks"}) {
		t.Fatalf("GET /docs/n1: %d %s", code, b)
	}
	code, b = e.do(t, "GET", "/docs/a%2Fb", "")
	if d := decode[Document](t, b); code != 200 || d.ID != "a/b" {
		t.Fatalf("GET /docs/a%%2Fb: %d %s", code, b)
	}
	if r := e.search(t, "q=narwhals&mode=bm25"); strings.Join(ids(r.Results), ",") != "n2,n1" {
		t.Fatalf("search after add: %v", ids(r.Results))
	}
	// Replace.
	if code, b := e.do(t, "POST", "/docs", `[{"id": "n2", "title": "More", "text": "no longer"}]`); code != 200 {
		t.Fatalf("replace: %d %s", code, b)
	}
	if r := e.search(t, "q=narwhals&mode=bm25"); strings.Join(ids(r.Results), ",") != "n1" {
		t.Fatalf("search after replace: %v", ids(r.Results))
	}
	code, b = e.do(t, "DELETE", "/docs/n1", "")
	if code != 200 || decode[map[string]string](t, b)["deleted"] != "n1" {
		t.Fatalf("DELETE: %d %s", code, b)
	}
	if code, _ := e.do(t, "GET", "/docs/n1", ""); code != 404 {
		t.Fatalf("GET after DELETE: %d", code)
	}
	if code, _ := e.do(t, "DELETE", "/docs/n1", ""); code != 404 {
		t.Fatalf("second DELETE: %d", code)
	}
	if r := e.search(t, "q=narwhals&mode=bm25"); len(r.Results) != 0 || r.Results == nil {
		t.Fatalf("search after delete: %+v", r)
	}
	if code, _ := e.do(t, "DELETE", "/docs/a%2Fb", ""); code != 200 {
		t.Fatalf("DELETE escaped id: %d", code)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, Options{})
	e.fake.ready.Store(false)
	for _, p := range []string{"/readyz", "/search?q=cats", "/docs/d1"} {
		code, b := e.do(t, "GET", p, "")
		if code != 503 || decode[errorBody](t, b).Error == "" {
			t.Errorf("GET %s while loading: %d %s", p, code, b)
		}
	}
	if code, _ := e.do(t, "POST", "/docs", `[{"id":"x"}]`); code != 503 {
		t.Errorf("POST /docs while loading: %d", code)
	}
	if code, b := e.do(t, "GET", "/healthz", ""); code != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Errorf("healthz: %d %s", code, b)
	}
	e.fake.ready.Store(true)
	if code, b := e.do(t, "GET", "/readyz", ""); code != 200 || !strings.Contains(string(b), "ready") {
		t.Errorf("readyz: %d %s", code, b)
	}
}

func TestPanicRecovered(t *testing.T) {
	e := newEnv(t, Options{})
	code, b := e.do(t, "GET", "/search?q=panic!&mode=bm25", "")
	if code != 500 || decode[errorBody](t, b).Error != "internal error" {
		t.Fatalf("panic: %d %s", code, b)
	}
	if r := e.search(t, "q=cats&mode=bm25"); len(r.Results) == 0 {
		t.Fatal("server broken after panic")
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "fake backend bug") || !strings.Contains(logs, `"status":500`) || !strings.Contains(logs, "goroutine") {
		t.Fatalf("panic not logged with stack:\n%s", logs)
	}
}

func TestBackendFaults(t *testing.T) {
	e := newEnv(t, Options{RequestTimeout: 50 * time.Millisecond})
	code, b := e.do(t, "GET", "/search?q=timeout&mode=bm25", "")
	if code != 503 || !strings.Contains(string(b), "timed out") {
		t.Fatalf("timeout: %d %s", code, b)
	}
	code, b = e.do(t, "GET", "/search?q=nan&mode=dense", "")
	if code != 500 || !strings.Contains(string(b), "NaN") {
		t.Fatalf("NaN score: %d %s", code, b)
	}
}

func TestStructuredLog(t *testing.T) {
	e := newEnv(t, Options{})
	req, _ := http.NewRequest("GET", e.ts.URL+"/docs/d1", nil)
	req.Header.Set("X-Request-ID", "abc-123")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-ID") != "abc-123" {
		t.Fatalf("request id not echoed: %q", resp.Header.Get("X-Request-ID"))
	}
	var found bool
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["request_id"] == "abc-123" {
			found = rec["msg"] == "request" && rec["route"] == "/docs/:id" && rec["status"] == float64(200) &&
				rec["method"] == "GET" && rec["path"] == "/docs/d1" && rec["duration_ms"] != nil
		}
	}
	if !found {
		t.Fatalf("no complete log record for the request:\n%s", e.logs.String())
	}
}

func TestNewValidatesOptions(t *testing.T) {
	bad := -0.5
	for _, o := range []Options{
		{MaxK: -1},
		{DefaultK: 20, MaxK: 10},
		{DefaultAlpha: &bad},
		{DefaultMode: "x"},
		{DefaultFuse: "x"},
		{DefaultNorm: "x"},
		{RRFK: -1},
		{MaxBatch: -1},
	} {
		if _, err := New(newFake(), o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) accepted")
	}
	s, err := New(newFake(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o := s.Options(); o.DefaultK != 10 || o.MaxK != 1000 || o.RRFK != 60 || *o.DefaultAlpha != fusion.DefaultAlpha || o.WriteTimeout <= o.RequestTimeout {
		t.Fatalf("defaults: %+v", o)
	}
}

func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := e.ts.Client()
			for i := range 40 {
				var req *http.Request
				id := fmt.Sprintf("w%d-%d", w, i%5)
				switch i % 6 {
				case 0:
					req, _ = http.NewRequest("POST", e.ts.URL+"/docs", strings.NewReader(fmt.Sprintf(`[{"id":%q,"title":"t","text":"cats %d"}]`, id, i)))
				case 1:
					req, _ = http.NewRequest("DELETE", e.ts.URL+"/docs/"+id, nil)
				case 2:
					req, _ = http.NewRequest("GET", e.ts.URL+"/search?q=cats&mode=hybrid&k=5", nil)
				case 3:
					req, _ = http.NewRequest("POST", e.ts.URL+"/search", strings.NewReader(`{"queries":["cats","dogs"],"mode":"bm25"}`))
				case 4:
					req, _ = http.NewRequest("GET", e.ts.URL+"/docs/"+id, nil)
				case 5:
					req, _ = http.NewRequest("GET", e.ts.URL+"/metrics", nil)
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && resp.StatusCode != 404 {
					errs <- fmt.Errorf("%s %s: %d", req.Method, req.URL, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
