package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const (
	testReadKey  = "r-0123456789abcdef"
	testWriteKey = "w-0123456789abcdefXYZ"
)

func testKeys(t *testing.T) *Keys {
	t.Helper()
	k, err := ParseKeys("# test keys\nread:"+testReadKey+"\n\nwrite:"+testWriteKey+"\n", "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// req sends a request with the given headers ("Host" sets the Host).
func (e *env) req(t *testing.T, method, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestContentType(t *testing.T) {
	e := newEnv(t, Options{})
	doc := `[{"id": "new", "text": "cats"}]`
	for _, c := range []struct {
		ct   string
		code int
	}{
		{"application/json", 200},
		{"application/json; charset=utf-8", 200},
		{"Application/JSON; charset=UTF-8", 200},
		{"text/plain", 415}, // what a cross-site form or fetch without preflight sends
		{"application/x-www-form-urlencoded", 415},
		{"multipart/form-data; boundary=x", 415},
		{"application/json; charset=latin1", 415},
		{"application/json; foo=bar", 415},
		{"application/jsonx", 415},
		{"", 415},
	} {
		for _, path := range []string{"/docs", "/search"} {
			body := doc
			if path == "/search" {
				body = `{"query": "cats"}`
			}
			resp, b := e.req(t, "POST", path, body, "Content-Type", c.ct)
			if resp.StatusCode != c.code {
				t.Errorf("POST %s with Content-Type %q: %d %s, want %d", path, c.ct, resp.StatusCode, b, c.code)
			}
			if c.code == 415 && !strings.Contains(b, "application/json") {
				t.Errorf("415 body %s does not say what is wanted", b)
			}
		}
	}
}

func TestOriginAndCORS(t *testing.T) {
	e := newEnv(t, Options{})
	resp, b := e.req(t, "POST", "/docs", `[{"id":"x","text":"t"}]`, "Content-Type", "application/json", "Origin", "https://evil.example")
	if resp.StatusCode != 403 || !strings.Contains(b, "cross-origin") {
		t.Fatalf("cross-origin POST: %d %s", resp.StatusCode, b)
	}
	resp, b = e.req(t, "GET", "/search?q=cats", "", "Origin", "https://evil.example")
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("cross-origin GET: %d %s", resp.StatusCode, b)
	}
	resp, _ = e.req(t, "OPTIONS", "/docs", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if resp.StatusCode != 403 {
		t.Fatalf("preflight from a foreign origin: %d", resp.StatusCode)
	}
	// Configured origins get CORS headers, and their preflight passes.
	e = newEnv(t, Options{Guard: Guard{CORSOrigins: []string{"https://app.example.org"}}})
	resp, b = e.req(t, "GET", "/search?q=cats&mode=bm25", "", "Origin", "https://app.example.org")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.org" {
		t.Fatalf("allowed origin: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	resp, _ = e.req(t, "OPTIONS", "/docs", "", "Origin", "https://app.example.org", "Access-Control-Request-Method", "POST")
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Content-Type") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := e.req(t, "GET", "/search?q=cats", "", "Origin", "https://other.example.org"); resp.StatusCode != 403 {
		t.Fatalf("an origin not listed: %d", resp.StatusCode)
	}
	// No Origin (curl, server-side clients): no CORS headers, served.
	if resp, _ := e.req(t, "GET", "/search?q=cats&mode=bm25", ""); resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("no origin: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestHostAllowList(t *testing.T) {
	e := newEnv(t, Options{}) // httptest listens on 127.0.0.1: the loopback rules apply
	for _, c := range []struct {
		host string
		code int
	}{
		{"127.0.0.1:8080", 200}, {"localhost:8080", 200}, {"LOCALHOST", 200}, {"[::1]:80", 200},
		{"127.1.2.3", 200}, {"api.localhost:9", 200},
		{"evil.example:8080", 403}, // a DNS-rebinding page
		{"evil.example", 403}, {"127.0.0.1.evil.example", 403}, {"10.0.0.1", 403},
	} {
		resp, b := e.req(t, "GET", "/search?q=cats&mode=bm25", "", "Host", c.host)
		if resp.StatusCode != c.code {
			t.Errorf("Host %q: %d %s, want %d", c.host, resp.StatusCode, b, c.code)
		}
	}
	e = newEnv(t, Options{Guard: Guard{AllowedHosts: []string{"search.internal"}}})
	for host, code := range map[string]int{"search.internal:8080": 200, "Search.Internal": 200, "localhost": 200, "evil.example": 403} {
		if resp, b := e.req(t, "GET", "/healthz", "", "Host", host); resp.StatusCode != code {
			t.Errorf("allowed hosts: Host %q: %d %s, want %d", host, resp.StatusCode, b, code)
		}
	}
}

func TestKeysAndRoles(t *testing.T) {
	e := newEnv(t, Options{Guard: Guard{Keys: testKeys(t)}})
	put := `[{"id": "k1", "text": "cats"}]`
	ct := "application/json"
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		code                     int
	}{
		{"no key search", "GET", "/search?q=cats", "", nil, 401},
		{"no key doc", "GET", "/docs/d1", "", nil, 401},
		{"no key metrics", "GET", "/metrics", "", nil, 401},
		{"no key put", "POST", "/docs", put, []string{"Content-Type", ct}, 401},
		{"no key unknown route", "GET", "/nope", "", nil, 401},
		{"healthz is public", "GET", "/healthz", "", nil, 200},
		{"readyz is public", "GET", "/readyz", "", nil, 200},
		{"openapi is public", "GET", "/openapi.json", "", nil, 200},
		{"wrong key", "GET", "/search?q=cats", "", []string{"Authorization", "Bearer " + testReadKey + "x"}, 401},
		{"prefix of a key", "GET", "/search?q=cats", "", []string{"Authorization", "Bearer " + testReadKey[:10]}, 401},
		{"basic auth", "GET", "/search?q=cats", "", []string{"Authorization", "Basic " + testReadKey}, 401},
		{"read search", "GET", "/search?q=cats&mode=bm25", "", []string{"Authorization", "Bearer " + testReadKey}, 200},
		{"read search header", "GET", "/search?q=cats&mode=bm25", "", []string{"X-API-Key", testReadKey}, 200},
		{"read search post", "POST", "/search", `{"query": "cats"}`, []string{"X-API-Key", testReadKey, "Content-Type", ct}, 200},
		{"read doc", "GET", "/docs/d1", "", []string{"Authorization", "bearer " + testReadKey}, 200},
		{"read metrics", "GET", "/metrics", "", []string{"X-API-Key", testReadKey}, 200},
		{"read put", "POST", "/docs", put, []string{"X-API-Key", testReadKey, "Content-Type", ct}, 403},
		{"read delete", "DELETE", "/docs/d1", "", []string{"X-API-Key", testReadKey}, 403},
		{"write search", "GET", "/search?q=cats&mode=bm25", "", []string{"X-API-Key", testWriteKey}, 200},
		{"write put", "POST", "/docs", put, []string{"Authorization", "Bearer " + testWriteKey, "Content-Type", ct}, 200},
		{"write delete", "DELETE", "/docs/k1", "", []string{"X-API-Key", testWriteKey}, 200},
	}
	for _, c := range cases {
		resp, b := e.req(t, c.method, c.path, c.body, c.hdr...)
		if resp.StatusCode != c.code {
			t.Errorf("%s: %s %s: %d %s, want %d", c.name, c.method, c.path, resp.StatusCode, b, c.code)
		}
		if c.code == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
		if strings.Contains(b, testReadKey) || strings.Contains(b, testWriteKey) {
			t.Errorf("%s: the answer echoes a key: %s", c.name, b)
		}
	}
	if strings.Contains(e.logs.String(), testReadKey) || strings.Contains(e.logs.String(), testWriteKey) {
		t.Error("a key was logged")
	}
}

func TestReadOnly(t *testing.T) {
	e := newEnv(t, Options{Guard: Guard{ReadOnly: true, Keys: testKeys(t)}})
	w := []string{"X-API-Key", testWriteKey, "Content-Type", "application/json"}
	if resp, b := e.req(t, "POST", "/docs", `[{"id":"x","text":"t"}]`, w...); resp.StatusCode != 403 || !strings.Contains(b, "read-only") {
		t.Fatalf("put on a read-only server: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.req(t, "DELETE", "/docs/d1", "", w...); resp.StatusCode != 403 {
		t.Fatalf("delete on a read-only server: %d", resp.StatusCode)
	}
	if resp, _ := e.req(t, "POST", "/search", `{"query":"cats"}`, w...); resp.StatusCode != 200 {
		t.Fatalf("search on a read-only server: %d", resp.StatusCode)
	}
	if _, err := e.fake.Doc(t.Context(), "d1"); err != nil {
		t.Fatal("the read-only server deleted d1")
	}
}

func TestDocIDLimits(t *testing.T) {
	e := newEnv(t, Options{})
	for _, c := range []struct {
		id   string
		code int
	}{
		{strings.Repeat("a", 512), 200},
		{strings.Repeat("é", 256), 200},
		{strings.Repeat("a", 513), 400},
		{strings.Repeat("é", 256) + "a", 400},
		{"a\u0001b", 400}, {"a\nb", 400}, {"tab\there", 400}, {"del\u007f", 400}, {"c1\u0085", 400},
		{"  ", 400}, {"ok id/with slash", 200},
	} {
		body := fmt.Sprintf(`[{"id": %q, "text": "x"}]`, c.id)
		if code, b := e.do(t, "POST", "/docs", body); code != c.code {
			t.Errorf("POST id %q (%d bytes): %d %s, want %d", c.id, len(c.id), code, b, c.code)
		}
	}
	for _, m := range []string{"GET", "DELETE"} {
		if code, b := e.do(t, m, "/docs/"+strings.Repeat("a", 600), ""); code != 400 || !strings.Contains(string(b), "at most 512") {
			t.Errorf("%s a 600-byte id: %d %s", m, code, b)
		}
		if code, b := e.do(t, m, "/docs/a%FFb", ""); code != 400 || !strings.Contains(string(b), "UTF-8") {
			t.Errorf("%s an id of invalid UTF-8: %d %s", m, code, b)
		}
		if code, _ := e.do(t, m, "/docs/a%01b", ""); code != 400 {
			t.Errorf("%s an id with a control character: %d", m, code)
		}
	}
	if code, _ := e.do(t, "GET", "/docs/"+strings.Repeat("a", 512), ""); code != 200 {
		t.Errorf("GET the 512-byte id: %d", code)
	}
}

func TestStrictJSONKeys(t *testing.T) {
	e := newEnv(t, Options{})
	for _, c := range []struct{ path, body, want string }{
		{"/search", `{"query": "cats", "query": "dogs"}`, `duplicate key "query"`},
		{"/search", `{"Query": "cats"}`, `unknown field "Query"`},
		{"/search", `{"query": "cats", "K": 3}`, "case-sensitive"},
		{"/search", `{"queries": ["a"], "mode": "bm25", "mode": "dense"}`, `duplicate key "mode"`},
		{"/docs", `[{"id": "a", "text": "x", "text": "y"}]`, `duplicate key "text" in [0]`},
		{"/docs", `[{"id": "a", "ID": "b"}]`, `unknown field "ID"`},
		{"/docs", `{"docs": [{"id": "a"}], "docs": [{"id": "b"}]}`, `duplicate key "docs"`},
		{"/docs", `{"Docs": [{"id": "a"}]}`, `unknown field "Docs"`},
		{"/docs", `{"docs": [{"id": "a"}, {"Id": "b"}]}`, `docs[1]`},
		{"/docs", `[` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `]`, `nested`},
	} {
		code, b := e.do(t, "POST", c.path, c.body)
		if code != 400 || !strings.Contains(decode[errorBody](t, b).Error, c.want) {
			t.Errorf("POST %s %s: %d %s, want 400 naming %q", c.path, c.body, code, b, c.want)
		}
	}
	if _, err := e.fake.Doc(t.Context(), "a"); err == nil {
		t.Error("a document of a refused body was stored")
	}
}

func TestResponseCap(t *testing.T) {
	e := newEnv(t, Options{MaxBatch: 128, MaxK: 1000})
	qs := make([]string, 128)
	for i := range qs {
		qs[i] = fmt.Sprintf("%q", "panic!") // would crash the fake if it ran
	}
	body := `{"queries": [` + strings.Join(qs, ",") + `], "k": 1000, "mode": "hybrid"}`
	code, b := e.do(t, "POST", "/search", body)
	if code != 400 || !strings.Contains(string(b), "max-response-bytes") {
		t.Fatalf("128 queries × k 1000: %d %s", code, b)
	}
	// Within the estimate but over a small cap once built.
	e = newEnv(t, Options{Guard: Guard{MaxResponseBytes: 4000}}, append([]Document{{ID: "big", Title: strings.Repeat("lorem ", 1000), Text: "lorem"}}, corpus...)...)
	code, b = e.do(t, "GET", "/search?q=lorem&mode=dense&k=3", "")
	if code != 400 || !strings.Contains(string(b), "exceeds 4000 bytes") {
		t.Fatalf("response over the cap: %d %s", code, b)
	}
	if code, b := e.do(t, "GET", "/search?q=cats&mode=bm25&k=1", ""); code != 200 {
		t.Fatalf("small response: %d %s", code, b)
	}
}

func TestCheckExposure(t *testing.T) {
	keys := testKeys(t)
	for _, c := range []struct {
		addr     string
		keys     *Keys
		insecure bool
		ok       bool
	}{
		{"127.0.0.1:8080", nil, false, true},
		{"localhost:0", nil, false, true},
		{"[::1]:8080", nil, false, true},
		{"0.0.0.0:8080", nil, false, false},
		{":8080", nil, false, false},
		{"[::]:8080", nil, false, false},
		{"192.168.1.5:8080", nil, false, false},
		{"search.example.org:80", nil, false, false},
		{"0.0.0.0:8080", keys, false, true},
		{"0.0.0.0:8080", nil, true, true},
	} {
		err := CheckExposure(c.addr, c.keys, c.insecure)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInsecure)) {
			t.Errorf("CheckExposure(%q, %d keys, insecure %v): %v", c.addr, c.keys.Len(), c.insecure, err)
		}
	}
}

func TestParseKeys(t *testing.T) {
	k := testKeys(t)
	for key, want := range map[string]Role{testReadKey: RoleRead, testWriteKey: RoleWrite, "": RoleNone, "nope-0123456789abcdef": RoleNone, testReadKey + " ": RoleNone} {
		if got := k.Role(key); got != want {
			t.Errorf("Role(%q) = %v, want %v", key, got, want)
		}
	}
	for _, bad := range []string{
		"", "# only a comment\n", "read:short", "admin:0123456789abcdef", "0123456789abcdef",
		"read:0123456789abcdef\nwrite:0123456789abcdef", "read:0123456789 abcdef", "read:0123456789abcdef#x",
	} {
		if _, err := ParseKeys(bad, "keys.txt"); !errors.Is(err, ErrBadKeys) || !strings.Contains(err.Error(), "keys.txt") {
			t.Errorf("ParseKeys(%q): %v", bad, err)
		} else if strings.Contains(err.Error(), "0123456789") {
			t.Errorf("ParseKeys(%q): the error shows the key: %v", bad, err)
		}
	}
	t.Setenv(EnvAPIKeys, "read:env-0123456789abcdef, write:env-w-0123456789abcdef")
	k, err := LoadKeys("")
	if err != nil || k.Len() != 2 || k.Role("env-w-0123456789abcdef") != RoleWrite {
		t.Fatalf("keys from the environment: %v, %d keys", err, k.Len())
	}
	t.Setenv(EnvAPIKeys, "")
	if k, err := LoadKeys(""); k != nil || err != nil {
		t.Fatalf("no keys: %v %v", k, err)
	}
}

// TestOpenAPIDocumentsRoles: every operation of openapi.json names the
// role routeRole enforces, and the security schemes exist.
func TestOpenAPIDocumentsRoles(t *testing.T) {
	var doc struct {
		Security   []map[string]any                     `json:"security"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			SecuritySchemes map[string]any `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Security) != 2 || doc.Components.SecuritySchemes["bearerAuth"] == nil || doc.Components.SecuritySchemes["apiKeyHeader"] == nil {
		t.Fatalf("security %v, schemes %v", doc.Security, doc.Components.SecuritySchemes)
	}
	for path, ops := range doc.Paths {
		route := strings.ReplaceAll(path, "{id}", ":id")
		for method, op := range ops {
			want := routeRole(strings.ToUpper(method), route).String()
			if got, _ := op["x-required-role"].(string); got != want {
				t.Errorf("%s %s: x-required-role %q, the server enforces %q", method, path, got, want)
			}
			resps, _ := op["responses"].(map[string]any)
			if want != "none" && (resps["401"] == nil || resps["403"] == nil) {
				t.Errorf("%s %s: 401 and 403 not documented", method, path)
			}
			if sec, ok := op["security"].([]any); (want == "none") != (ok && len(sec) == 0) {
				t.Errorf("%s %s: public %v, security %v", method, path, want == "none", op["security"])
			}
			if method == "post" && resps["415"] == nil {
				t.Errorf("%s %s: 415 not documented", method, path)
			}
		}
	}
}

// A full document-embedding pool answers 429 with Retry-After; a write
// whose indexing was deferred answers 503 with Retry-After, saying the
// documents are durable, without internal details.
func TestBusyAndDeferredWrites(t *testing.T) {
	e := newEnv(t, Options{})
	resp, body := e.req(t, "POST", "/docs", `[{"id": "b", "text": "busy"}]`, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("busy: %d %q, Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	resp, body = e.req(t, "POST", "/docs", `[{"id": "d", "text": "defer me"}]`, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "durabl") || strings.Contains(body, "/secret") {
		t.Fatalf("deferred: %d %q", resp.StatusCode, body)
	}
}
