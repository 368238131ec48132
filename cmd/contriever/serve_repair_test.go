package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A flipped byte in a BM25 segment used to crash `serve` at every start
// (a panic in bleve's loader goroutine). The segment's checksum now fails
// at start, BM25 is rebuilt from the document log, the log says so, and
// every search mode answers.
func TestServeRepairsCorruptSegment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := e2eBinary(t)
	idx := e2eIndex(t, bin)
	segs, _ := filepath.Glob(filepath.Join(idx, "bm25", "store", "*.zap"))
	if len(segs) == 0 {
		t.Fatal("no zap segment")
	}
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/3] ^= 0x24
		if err := os.WriteFile(seg, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := e2eStart(t, bin, idx)
	for _, mode := range []string{"bm25", "dense", "hybrid"} {
		r := s.search(t, "cats purr", mode, 3)
		if mode != "dense" && (len(r.Results) == 0 || r.Results[0].ID != "cat") {
			t.Fatalf("%s after repair: %+v", mode, r.Results)
		}
	}
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.log())
	}
	if l := s.log(); !strings.Contains(l, "rebuilding from the document log") || !strings.Contains(l, "checksum") {
		t.Fatalf("the repair is not logged:\n%s", l)
	}
}

// `index --force` over a folder that `serve` holds is refused; the server
// keeps serving, and what it acknowledged survives its restart.
func TestIndexForceOnServedFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := e2eBinary(t)
	idx := e2eIndex(t, bin)
	s := e2eStart(t, bin, idx)
	corpus := filepath.Join(filepath.Dir(idx), "corpus.jsonl")
	out, err := exec.Command(bin, "index", "--corpus", corpus, "--model", e2eModel(t), "--out", idx, "--force", "--cache-dir", "off", "--quiet").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("index --force on a served folder: %v\n%s", err, out)
	}
	if code, b := s.do(t, "POST", "/docs", []byte(`[{"id":"walrus","text":"Walruses bask on floating ice."}]`)); code != 200 {
		t.Fatalf("POST /docs: %d %s", code, b)
	}
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.log())
	}
	s = e2eStart(t, bin, idx)
	if r := s.search(t, "walruses ice", "bm25", 3); len(r.Results) == 0 || r.Results[0].ID != "walrus" {
		t.Fatalf("acknowledged document lost: %+v", r.Results)
	}
	// Once the server is gone, the rebuild replaces the folder.
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.log())
	}
	if out, err := exec.Command(bin, "index", "--corpus", corpus, "--model", e2eModel(t), "--out", idx, "--force", "--cache-dir", "off", "--quiet").CombinedOutput(); err != nil {
		t.Fatalf("index --force once the server stopped: %v\n%s", err, out)
	}
}
