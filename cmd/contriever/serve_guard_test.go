package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/contriever-go/contriever/api"
)

// TestServeRefusesOpenNetwork: serve on a non-loopback address without a
// key exits 1 before opening anything; a malformed keys file too.
func TestServeRefusesOpenNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := e2eBinary(t)
	t.Setenv(api.EnvAPIKeys, "")
	bad := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(bad, []byte("read:short\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, "refusing to serve without API keys"},
		{[]string{"--addr", ":0"}, "--insecure"},
		{[]string{"--addr", "127.0.0.1:0", "--api-keys", bad}, "line 1"},
		{[]string{"--addr", "127.0.0.1:0", "--api-keys", filepath.Join(t.TempDir(), "missing")}, "no such file"},
	} {
		cmd := exec.Command(bin, append([]string{"serve", "--index", filepath.Join(t.TempDir(), "none")}, c.args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), c.want) {
			t.Errorf("serve %v: %v, output %q; want exit 1 naming %q", c.args, err, out, c.want)
		}
	}
}

// TestServeKeysEndToEnd serves a real index with a read key from a file
// and a write key from the environment.
func TestServeKeysEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := e2eBinary(t)
	idx := e2eIndex(t, bin)
	const readKey, writeKey = "read-key-0123456789", "write-key-0123456789"
	keys := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(keys, []byte("# readers\nread:"+readKey+"\n"), 0o600)
	t.Setenv(api.EnvAPIKeys, "write:"+writeKey)
	s := e2eStart(t, bin, idx, "--api-keys", keys)
	defer s.stop(t, syscall.SIGTERM)
	send := func(method, path, key, ct, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, s.base+path, bytes.NewReader([]byte(body)))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	doc := `[{"id": "new", "title": "Owls", "text": "Owls hunt at night."}]`
	for _, c := range []struct {
		method, path, key, ct, body string
		code                        int
	}{
		{"GET", "/search?q=cats&mode=bm25", "", "", "", 401},
		{"GET", "/search?q=cats&mode=bm25", readKey, "", "", 200},
		{"GET", "/readyz", "", "", "", 200},
		{"POST", "/docs", readKey, "application/json", doc, 403},
		{"POST", "/docs", writeKey, "text/plain", doc, 415},
		{"POST", "/docs", writeKey, "application/json", doc, 200},
		{"GET", "/docs/new", readKey, "", "", 200},
		{"DELETE", "/docs/new", readKey, "", "", 403},
		{"DELETE", "/docs/new", writeKey, "", "", 200},
	} {
		if got := send(c.method, c.path, c.key, c.ct, c.body); got != c.code {
			t.Errorf("%s %s (key %q, Content-Type %q): %d, want %d", c.method, c.path, c.key, c.ct, got, c.code)
		}
	}
	if strings.Contains(s.log(), readKey) || strings.Contains(s.log(), writeKey) {
		t.Error("a key appears in the log")
	}
}
