package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sample is one parsed exposition line.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	helpRe   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$`)
	typeRe   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
	sampleRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
	labelRe  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)`)
)

// parseExposition parses Prometheus text format 0.0.4 strictly: every sample
// belongs to a family declared by HELP and TYPE lines before it, each family
// is declared once, and label syntax and values are well formed.
func parseExposition(t *testing.T, text string) (map[string]string, []sample) {
	t.Helper()
	types := map[string]string{}
	var samples []sample
	if !strings.HasSuffix(text, "\n") {
		t.Fatal("exposition does not end with a newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			if !helpRe.MatchString(line) {
				t.Fatalf("line %d: bad HELP %q", i+1, line)
			}
		case strings.HasPrefix(line, "# TYPE "):
			m := typeRe.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: bad TYPE %q", i+1, line)
			}
			if _, dup := types[m[1]]; dup {
				t.Fatalf("line %d: family %s declared twice", i+1, m[1])
			}
			types[m[1]] = m[2]
		default:
			m := sampleRe.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: bad sample %q", i+1, line)
			}
			s := sample{name: m[1], labels: map[string]string{}}
			for rest := m[3]; rest != ""; {
				lm := labelRe.FindStringSubmatch(rest)
				if lm == nil {
					t.Fatalf("line %d: bad labels %q", i+1, m[3])
				}
				s.labels[lm[1]] = lm[2]
				rest = rest[len(lm[0]):]
			}
			v, err := strconv.ParseFloat(m[4], 64)
			if err != nil {
				t.Fatalf("line %d: bad value %q", i+1, m[4])
			}
			s.value = v
			family := s.name
			if types[family] == "" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(s.name, suf); ok && types[b] == "histogram" {
						family = b
					}
				}
			}
			if types[family] == "" {
				t.Fatalf("line %d: sample %s before its TYPE", i+1, s.name)
			}
			samples = append(samples, s)
		}
	}
	return types, samples
}

func find(samples []sample, name string, labels map[string]string) (float64, bool) {
	for _, s := range samples {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range labels {
			ok = ok && s.labels[k] == v
		}
		if ok {
			return s.value, true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, Options{})
	for range 3 {
		e.search(t, "q=cats&mode=bm25")
	}
	e.do(t, "POST", "/search", `{"queries": ["a", "b"], "mode": "dense"}`)
	e.do(t, "GET", "/search?q=cats&k=0", "")
	e.do(t, "GET", "/docs/nope", "")
	e.do(t, "GET", "/nowhere", "")
	code, b := e.do(t, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	types, samples := parseExposition(t, string(b))
	for name, typ := range map[string]string{
		"contriever_http_requests_total":           "counter",
		"contriever_http_request_duration_seconds": "histogram",
		"contriever_search_queries_total":          "counter",
		"contriever_http_requests_in_flight":       "gauge",
		"contriever_index_documents":               "gauge",
		"contriever_index_bm25_documents":          "gauge",
		"contriever_index_vectors":                 "gauge",
		"contriever_index_disk_bytes":              "gauge",
		"contriever_ready":                         "gauge",
	} {
		if types[name] != typ {
			t.Errorf("family %s has type %q, want %s", name, types[name], typ)
		}
	}
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"method": "GET", "route": "/search", "code": "200"}, 3},
		{map[string]string{"method": "GET", "route": "/search", "code": "400"}, 1},
		{map[string]string{"method": "POST", "route": "/search", "code": "200"}, 1},
		{map[string]string{"method": "GET", "route": "/docs/:id", "code": "404"}, 1},
		{map[string]string{"method": "GET", "route": "unmatched", "code": "404"}, 1},
	} {
		if v, ok := find(samples, "contriever_http_requests_total", c.labels); !ok || v != c.want {
			t.Errorf("requests_total%v = %v (found %v), want %v", c.labels, v, ok, c.want)
		}
	}
	for mode, want := range map[string]float64{"bm25": 3, "dense": 2, "hybrid": 0} {
		if v, _ := find(samples, "contriever_search_queries_total", map[string]string{"mode": mode}); v != want {
			t.Errorf("queries_total{mode=%s} = %v, want %v", mode, v, want)
		}
	}
	// The histogram of GET /search: cumulative, ends at +Inf = count = 4.
	lbl := map[string]string{"method": "GET", "route": "/search"}
	var prev float64
	var les []string
	for _, s := range samples {
		if s.name == "contriever_http_request_duration_seconds_bucket" && s.labels["route"] == "/search" && s.labels["method"] == "GET" {
			if s.value < prev {
				t.Fatalf("bucket le=%s decreases", s.labels["le"])
			}
			prev = s.value
			les = append(les, s.labels["le"])
		}
	}
	if len(les) != len(latencyBuckets)+1 || les[len(les)-1] != "+Inf" || prev != 4 {
		t.Fatalf("buckets %v, last %v", les, prev)
	}
	if n, _ := find(samples, "contriever_http_request_duration_seconds_count", lbl); n != 4 {
		t.Fatalf("count = %v", n)
	}
	if sum, ok := find(samples, "contriever_http_request_duration_seconds_sum", lbl); !ok || sum <= 0 {
		t.Fatalf("sum = %v", sum)
	}
	if v, _ := find(samples, "contriever_index_documents", nil); v != float64(len(corpus)) {
		t.Fatalf("index_documents = %v", v)
	}
	if v, _ := find(samples, "contriever_index_disk_bytes", nil); v != 1234 {
		t.Fatalf("disk bytes = %v", v)
	}
	if v, _ := find(samples, "contriever_ready", nil); v != 1 {
		t.Fatalf("ready = %v", v)
	}
	if v, _ := find(samples, "contriever_http_requests_in_flight", nil); v != 1 {
		t.Fatalf("in flight = %v (the /metrics request itself)", v)
	}
}

func TestMetricsEscaping(t *testing.T) {
	m := newMetrics()
	m.observe("BREW", "a\"b\\c\nd", 418, time.Millisecond)
	var sb strings.Builder
	if err := m.write(&sb, Stats{}, false); err != nil {
		t.Fatal(err)
	}
	_, samples := parseExposition(t, sb.String())
	v, ok := find(samples, "contriever_http_requests_total", map[string]string{"method": "other", "route": `a\"b\\c\nd`, "code": "418"})
	if !ok || v != 1 {
		t.Fatalf("escaped series not found:\n%s", sb.String())
	}
}

func TestOpenAPI(t *testing.T) {
	e := newEnv(t, Options{})
	code, b := e.do(t, "GET", "/openapi.json", "")
	if code != 200 {
		t.Fatalf("GET /openapi.json: %d", code)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi version %q", v)
	}
	paths := doc["paths"].(map[string]any)
	// Every route the server has is documented, and nothing else.
	documented := map[string]bool{}
	for p, ops := range paths {
		for m := range ops.(map[string]any) {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	for _, r := range e.srv.engine.Routes() {
		key := r.Method + " " + regexp.MustCompile(`:(\w+)`).ReplaceAllString(r.Path, "{$1}")
		if !documented[key] {
			t.Errorf("route %s not in openapi.json", key)
		}
		delete(documented, key)
	}
	for k := range documented {
		t.Errorf("openapi.json documents %s, which the server lacks", k)
	}
	// Every operation has responses and an operationId; every $ref resolves.
	for p, ops := range paths {
		for m, op := range ops.(map[string]any) {
			o := op.(map[string]any)
			if o["operationId"] == nil || o["responses"] == nil {
				t.Errorf("%s %s lacks operationId or responses", m, p)
			}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "$ref" {
					ref := c.(string)
					var cur any = doc
					for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
						m, _ := cur.(map[string]any)
						cur = m[part]
					}
					if cur == nil {
						t.Errorf("unresolved $ref %s", ref)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	// The GET /search parameters are exactly the ones the handler accepts.
	var names []string
	for _, p := range paths["/search"].(map[string]any)["get"].(map[string]any)["parameters"].([]any) {
		ref := p.(map[string]any)["$ref"].(string)
		names = append(names, ref[strings.LastIndex(ref, "/")+1:])
	}
	if want := slices.Clone(searchQueryParams); !slices.Equal(names, want) {
		t.Errorf("documented GET /search parameters %v, handler accepts %v", names, want)
	}
	// The SearchBody schema lists exactly the JSON fields of SearchBody.
	props := doc["components"].(map[string]any)["schemas"].(map[string]any)["SearchBody"].(map[string]any)["properties"].(map[string]any)
	body, _ := json.Marshal(SearchBody{Query: new(string), Queries: []string{"x"}, K: new(int), Mode: new(string), Fusion: new(string), Alpha: new(float64), Norm: new(string)})
	var fields map[string]any
	json.Unmarshal(body, &fields)
	if len(fields) != len(props) {
		t.Errorf("SearchBody has fields %v, schema %v", fields, props)
	}
	for f := range fields {
		if props[f] == nil {
			t.Errorf("SearchBody field %q not in schema", f)
		}
	}
}

// startServer runs Serve on a loopback port; it returns the base URL, the
// cancel function and a channel that receives Serve's result.
func startServer(t *testing.T, e *env) (string, context.CancelFunc, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return "http://" + ln.Addr().String(), cancel, done
}

func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t, Options{ShutdownGrace: 10 * time.Second})
	base, cancel, done := startServer(t, e)
	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz before shutdown: %v %v", resp, err)
	}
	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/search?q=slow&mode=bm25")
		if err != nil {
			slow <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-e.fake.entered // the slow request is inside the backend
	cancel()
	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !e.srv.shutting.Load() || e.srv.isReady() {
		t.Fatal("server still reports ready while shutting down")
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) before the in-flight request finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	if e.fake.closed.Load() != 0 {
		t.Fatal("backend closed while a request was in flight")
	}
	close(e.fake.release)
	r := <-slow
	if r.err != nil || r.code != 200 || !strings.Contains(r.body, `"query":"slow"`) {
		t.Fatalf("in-flight request: %+v", r)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if got := strings.Join(e.fake.closeLog, " "); got != "flush(slowDone=true) close(slowDone=true)" {
		t.Fatalf("backend shutdown sequence: %s", got)
	}
}

func TestShutdownGraceExpires(t *testing.T) {
	e := newEnv(t, Options{ShutdownGrace: 200 * time.Millisecond, RequestTimeout: time.Minute})
	base, cancel, done := startServer(t, e)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(base + "/search?q=slow&mode=bm25")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-e.fake.entered
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not give up after the grace period")
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("Serve returned after %v, before the grace period", d)
	}
	if e.fake.closed.Load() != 1 || e.fake.flushed.Load() != 1 {
		t.Fatal("backend not flushed and closed")
	}
	if err := <-errc; err == nil {
		t.Log("the stuck request was answered") // its connection was closed; either outcome is acceptable
	}
	close(e.fake.release)
}

func TestRunBadAddress(t *testing.T) {
	e := newEnv(t, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	err := e.srv.Run(context.Background(), "256.0.0.1:bad")
	if err == nil {
		t.Fatal("Run on a bad address succeeded")
	}
	if e.fake.closed.Load() != 1 {
		t.Fatal("backend not closed after Run failed")
	}
	var ne *net.OpError
	if !errors.As(err, &ne) && !strings.Contains(err.Error(), "address") {
		t.Fatalf("unexpected error %v", err)
	}
}

func TestServeFailure(t *testing.T) {
	e := newEnv(t, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := e.srv.Serve(context.Background(), ln); err == nil {
		t.Fatal("Serve on a closed listener returned nil")
	}
	if e.fake.closed.Load() != 1 || e.srv.isReady() {
		t.Fatal("backend not closed, or server still ready, after Serve failed")
	}
}
