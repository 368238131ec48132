package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/fixture"
)

// The end-to-end tests run the real binary: `contriever index` builds an
// index folder from a small corpus with a tiny random model, and
// `contriever serve` serves it on a loopback port.

// e2eBinary builds the contriever binary into a temporary folder of t.
func e2eBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "contriever")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// e2eModel writes a tiny random BERT (1 layer, hidden 32, the project
// vocabulary) as an HF folder.
func e2eModel(t *testing.T) string {
	t.Helper()
	cfg, err := encoder.NamedConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize, cfg.NumHiddenLayers = 32, 2, 64, 1
	cfg.MaxPositionEmbeddings = 128
	m, err := encoder.NewRandom(cfg, 11, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := checkpoint.WriteHFDir(dir, cfg, m.Tensors(), checkpoint.F32, fixture.Repo(t, "data", "vocab", "vocab.txt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

var e2eCorpus = []map[string]string{
	{"_id": "cat", "title": "Cats", "text": "Cats purr, hunt mice and sleep most of the day in the sun."},
	{"_id": "dog", "title": "Dogs", "text": "Dogs bark at strangers and fetch sticks thrown in the park."},
	{"_id": "market", "title": "", "text": "The stock market fell sharply on Monday after the bank raised interest rates."},
	{"_id": "rain", "title": "Weather", "text": "Heavy rain flooded the valley town and closed the mountain roads."},
	{"_id": "protein", "title": "Proteins", "text": "Protein folding determines enzyme function in living cells."},
	{"_id": "stem", "title": "Stem cells", "text": "Stem cells divide and differentiate into many tissue types."},
	{"_id": "volcano", "title": "Volcanoes", "text": "Lava erupted from the volcano and ash covered the island."},
	{"_id": "chess", "title": "Chess", "text": "The grandmaster sacrificed a rook to checkmate the king."},
	{"_id": "bread", "title": "Baking", "text": "Knead the dough, let it rise, then bake the bread until golden."},
	{"_id": "orbit", "title": "Orbits", "text": "Satellites orbit the planet and relay radio signals to the ground."},
}

// e2eIndex builds an index folder (flat vectors) with the binary.
func e2eIndex(t *testing.T, bin string) string {
	t.Helper()
	tmp := t.TempDir()
	var buf bytes.Buffer
	for _, d := range e2eCorpus {
		b, _ := json.Marshal(d)
		buf.Write(append(b, '\n'))
	}
	corpus := filepath.Join(tmp, "corpus.jsonl")
	if err := os.WriteFile(corpus, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(tmp, "idx")
	out, err := exec.Command(bin, "index", "--corpus", corpus, "--model", e2eModel(t), "--out", idx, "--cache-dir", "off", "--quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("contriever index: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "10 documents") {
		t.Fatalf("index output: %s", out)
	}
	return idx
}

// e2eServer is a running `contriever serve`.
type e2eServer struct {
	cmd    *exec.Cmd
	base   string
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error    // receives Wait's result once
	exited chan struct{} // closed when the process has exited
}

var e2eServingAddr = regexp.MustCompile(`"msg":"serving","addr":"([^"]+)"`)

// e2eStart starts the server on a free loopback port and waits until
// /readyz answers 200.
func e2eStart(t *testing.T, bin, idx string, extra ...string) *e2eServer {
	t.Helper()
	args := append([]string{"serve", "--index", idx, "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "info"}, extra...)
	s := &e2eServer{cmd: exec.Command(bin, args...), done: make(chan error, 1), exited: make(chan struct{})}
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			if m := e2eServingAddr.FindStringSubmatch(line); m != nil && !sent {
				addr <- m[1]
				sent = true
			}
		}
		err := s.cmd.Wait()
		close(s.exited)
		s.done <- err
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	select {
	case a := <-addr:
		s.base = "http://" + a
	case err := <-s.done:
		t.Fatalf("serve exited: %v\n%s", err, s.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not listen\n%s", s.log())
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready\n%s", s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *e2eServer) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// stop sends sig and waits for the process to exit.
func (s *e2eServer) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit on %v\n%s", sig, s.log())
		return nil
	}
}

type e2eResult struct {
	ID    string          `json:"id"`
	Score float64         `json:"score"`
	Title string          `json:"title"`
	Dense json.RawMessage `json:"dense"`
	BM25  json.RawMessage `json:"bm25"`
}

type e2eResponse struct {
	Mode    string      `json:"mode"`
	K       int         `json:"k"`
	Results []e2eResult `json:"results"`
	Error   string      `json:"error"`
}

func (s *e2eServer) do(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *e2eServer) search(t *testing.T, q, mode string, k int) e2eResponse {
	t.Helper()
	code, b := s.do(t, "GET", "/search?"+url.Values{"q": {q}, "mode": {mode}, "k": {strconv.Itoa(k)}}.Encode(), nil)
	var r e2eResponse
	if err := json.Unmarshal(b, &r); err != nil || code != 200 {
		t.Fatalf("search %q %s: %d %s", q, mode, code, b)
	}
	return r
}

func resultIDs(r e2eResponse) []string {
	var ids []string
	for _, h := range r.Results {
		ids = append(ids, h.ID)
	}
	return ids
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := e2eBinary(t)
	idx := e2eIndex(t, bin)
	s := e2eStart(t, bin, idx, "--max-k", "50", "--max-body", "4096")

	// Search in the three modes.
	if r := s.search(t, "grandmaster rook checkmate", "bm25", 5); len(r.Results) == 0 || r.Results[0].ID != "chess" || r.Mode != "bm25" {
		t.Fatalf("bm25: %+v", r)
	}
	if r := s.search(t, "grandmaster rook checkmate", "dense", 5); len(r.Results) != 5 || r.Mode != "dense" {
		t.Fatalf("dense: %+v", r)
	}
	r := s.search(t, "grandmaster rook checkmate", "hybrid", 10)
	if len(r.Results) != 10 || r.Mode != "hybrid" {
		t.Fatalf("hybrid: %+v", r)
	}
	// The one BM25 match carries both methods' scores; the others only
	// the dense one.
	for _, h := range r.Results {
		if (h.ID == "chess") != (len(h.BM25) > 0) || len(h.Dense) == 0 {
			t.Fatalf("hybrid per-method scores: %+v", r.Results)
		}
	}
	if !contains(resultIDs(r), "chess") {
		t.Fatalf("hybrid lost the BM25 match: %+v", r)
	}
	// POST /search with a batch.
	code, b := s.do(t, "POST", "/search", []byte(`{"queries": ["lava ash island", "knead dough"], "k": 3, "mode": "bm25"}`))
	var batch struct{ Responses []e2eResponse }
	if json.Unmarshal(b, &batch); code != 200 || len(batch.Responses) != 2 || batch.Responses[0].Results[0].ID != "volcano" || batch.Responses[1].Results[0].ID != "bread" {
		t.Fatalf("batch: %d %s", code, b)
	}

	// Add, search, delete, search again.
	code, b = s.do(t, "POST", "/docs", []byte(`[{"id": "quokka", "title": "Quokkas", "text": "The quokka is a small marsupial of Rottnest Island."}, {"id": "keep", "title": "Kept", "text": "Zeppelins drift over fjords."}]`))
	if code != 200 {
		t.Fatalf("POST /docs: %d %s", code, b)
	}
	if r := s.search(t, "quokka marsupial", "bm25", 3); len(r.Results) == 0 || r.Results[0].ID != "quokka" {
		t.Fatalf("added doc not found by bm25: %+v", r)
	}
	if r := s.search(t, "quokka marsupial", "dense", 50); len(r.Results) != 12 || !contains(resultIDs(r), "quokka") {
		t.Fatalf("added doc not in dense results: %+v", r)
	}
	if r := s.search(t, "quokka marsupial", "hybrid", 50); len(r.Results) != 12 || !contains(resultIDs(r), "quokka") {
		t.Fatalf("added doc not in hybrid results: %+v", r)
	}
	if code, b := s.do(t, "GET", "/docs/quokka", nil); code != 200 || !strings.Contains(string(b), "Rottnest") {
		t.Fatalf("GET /docs/quokka: %d %s", code, b)
	}
	if code, b := s.do(t, "DELETE", "/docs/quokka", nil); code != 200 {
		t.Fatalf("DELETE: %d %s", code, b)
	}
	if r := s.search(t, "quokka marsupial", "bm25", 3); len(r.Results) != 0 {
		t.Fatalf("deleted doc still found: %+v", r)
	}
	if r := s.search(t, "quokka marsupial", "dense", 50); len(r.Results) != 11 || contains(resultIDs(r), "quokka") {
		t.Fatalf("deleted doc in dense results: %+v", r)
	}
	if code, _ := s.do(t, "GET", "/docs/quokka", nil); code != 404 {
		t.Fatalf("GET deleted doc: %d", code)
	}
	if code, _ := s.do(t, "DELETE", "/docs/quokka", nil); code != 404 {
		t.Fatalf("DELETE deleted doc: %d", code)
	}

	// Bad input: 400 with a JSON error.
	big := `{"query": "` + strings.Repeat("a", 5000) + `"}`
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/search?q=cats&k=0", ""},
		{"GET", "/search?q=cats&k=-3", ""},
		{"GET", "/search?q=cats&k=51", ""},
		{"GET", "/search?q=cats&k=ten", ""},
		{"GET", "/search?q=cats&mode=semantic", ""},
		{"GET", "/search?q=", ""},
		{"GET", "/search?q=%20%20", ""},
		{"GET", "/search", ""},
		{"POST", "/search", `{"query": ""}`},
		{"POST", "/search", `{"query": "cats", "k": 0}`},
		{"POST", "/search", `{"query": "cats", "mode": "nope"}`},
		{"POST", "/search", big},
		{"POST", "/docs", `[{"id": "x", "text": "` + strings.Repeat("b", 5000) + `"}]`},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		code, b := s.do(t, c.method, c.path, body)
		var e struct{ Error string }
		if code != 400 || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s %s: %d %.200s, want 400 with an error", c.method, c.path, code, b)
		}
	}

	// Graceful shutdown on SIGTERM flushes; a restart serves the same index.
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, s.log())
	}
	s = e2eStart(t, bin, idx)
	if !strings.Contains(s.log(), `"reindexed":0`) {
		t.Errorf("restart after a graceful shutdown re-indexed documents:\n%s", s.log())
	}
	if code, b := s.do(t, "GET", "/docs/keep", nil); code != 200 || !strings.Contains(string(b), "Zeppelins") {
		t.Fatalf("added doc lost across restart: %d %s", code, b)
	}
	if code, _ := s.do(t, "GET", "/docs/quokka", nil); code != 404 {
		t.Fatalf("deleted doc back after restart: %d", code)
	}
	if r := s.search(t, "zeppelins fjords", "bm25", 3); len(r.Results) != 1 || r.Results[0].ID != "keep" {
		t.Fatalf("bm25 after restart: %+v", r)
	}
	if r := s.search(t, "zeppelins", "dense", 50); len(r.Results) != 11 {
		t.Fatalf("dense after restart: %d results", len(r.Results))
	}
	e2eCheckMetrics(t, s, 11)
	if err := s.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("serve after SIGINT: %v", err)
	}
}

// e2eCheckMetrics checks that /metrics reports n documents, BM25 documents
// and vectors.
func e2eCheckMetrics(t *testing.T, s *e2eServer, n int) {
	t.Helper()
	code, b := s.do(t, "GET", "/metrics", nil)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, g := range []string{"contriever_index_documents", "contriever_index_bm25_documents", "contriever_index_vectors"} {
		if !strings.Contains(string(b), fmt.Sprintf("\n%s %d\n", g, n)) {
			t.Errorf("/metrics: want %s %d in\n%s", g, n, b)
		}
	}
}

// TestServeSIGKILL kills the server with SIGKILL right after a POST /docs is
// acknowledged, and during a stream of POSTs; after a restart every
// acknowledged document is there, in the store, BM25 and the vectors.
func TestServeSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := e2eBinary(t)
	idx := e2eIndex(t, bin)
	s := e2eStart(t, bin, idx, "--flush-interval", "0")
	code, b := s.do(t, "POST", "/docs", []byte(`{"docs": [{"id": "acked", "title": "Wombat", "text": "wombats dig burrows"}]}`))
	if code != 200 {
		t.Fatalf("POST: %d %s", code, b)
	}
	s.cmd.Process.Kill()
	<-s.done

	s = e2eStart(t, bin, idx, "--flush-interval", "0")
	if code, _ := s.do(t, "GET", "/docs/acked", nil); code != 200 {
		t.Fatalf("acknowledged doc lost after SIGKILL\n%s", s.log())
	}
	if r := s.search(t, "wombats burrows", "bm25", 3); len(r.Results) != 1 || r.Results[0].ID != "acked" {
		t.Fatalf("bm25 after SIGKILL: %+v", r)
	}
	e2eCheckMetrics(t, s, 11)

	// A stream of POSTs from 4 clients, killed in the middle.
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("s%d-%d", w, i)
				body := fmt.Sprintf(`[{"id": %q, "title": "stream", "text": "token%dx%d appears once"}]`, id, w, i)
				req, _ := http.NewRequestWithContext(ctx, "POST", s.base+"/docs", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}(w)
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.cmd.Process.Kill() // in the middle of the stream
	<-s.done
	cancel()
	wg.Wait()
	mu.Lock()
	got := append([]string(nil), acked...)
	mu.Unlock()

	s = e2eStart(t, bin, idx, "--flush-interval", "0")
	for _, id := range got {
		if code, _ := s.do(t, "GET", "/docs/"+id, nil); code != 200 {
			t.Errorf("acknowledged doc %s lost", id)
			continue
		}
		var w, i int
		fmt.Sscanf(id, "s%d-%d", &w, &i)
		if r := s.search(t, fmt.Sprintf("token%dx%d", w, i), "bm25", 3); len(r.Results) != 1 || r.Results[0].ID != id {
			t.Errorf("acknowledged doc %s not in bm25: %+v", id, r)
		}
	}
	// Store, BM25 and vectors agree (documents acknowledged or not, as long
	// as the store holds them, are indexed).
	code, b = s.do(t, "GET", "/metrics", nil)
	m := regexp.MustCompile(`\ncontriever_index_documents (\d+)\n`).FindSubmatch(b)
	if code != 200 || m == nil {
		t.Fatalf("/metrics: %d", code)
	}
	n, _ := strconv.Atoi(string(m[1]))
	if n < 11+len(got) {
		t.Fatalf("%d documents, want at least %d", n, 11+len(got))
	}
	e2eCheckMetrics(t, s, n)
	t.Logf("%d acknowledged documents before SIGKILL, %d in the store after restart", len(got), n-11)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// TestIndexUpdate adds and replaces documents of an index folder with
// `contriever index --update`; the result is flushed (nothing to catch up)
// and searchable.
func TestIndexUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := e2eBinary(t)
	idx := e2eIndex(t, bin)
	more := filepath.Join(t.TempDir(), "more.jsonl")
	os.WriteFile(more, []byte(`{"_id": "cat", "title": "Cats", "text": "Cats ignore laser pointers."}`+"\n"+`{"_id": "owl", "title": "Owls", "text": "Owls hunt voles at night."}`+"\n"), 0o644)
	out, err := exec.Command(bin, "index", "--update", "--corpus", more, "--out", idx, "--quiet").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2 documents added or replaced, 11 in all") {
		t.Fatalf("index --update: %v\n%s", err, out)
	}
	c, err := engine.Open(context.Background(), idx, engine.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.CaughtUp != 0 || c.Store().Len() != 11 || c.Vectors().Len() != 11 || c.BM25().Len() != 11 {
		t.Fatalf("after update: caught up %d, store %d, vectors %d, bm25 %d", c.CaughtUp, c.Store().Len(), c.Vectors().Len(), c.BM25().Len())
	}
	for q, want := range map[string]string{"laser pointers": "cat", "voles night": "owl"} {
		hits, err := c.BM25().Search(context.Background(), q, 3)
		if err != nil || len(hits) != 1 || hits[0].DocID != want {
			t.Fatalf("%q: %v %v", q, hits, err)
		}
	}
	if hits, _ := c.BM25().Search(context.Background(), "purr mice", 3); len(hits) != 0 {
		t.Fatalf("replaced text still indexed: %v", hits)
	}
}

// TestIndexEval runs the quickstart form, `index --eval test`, on a small
// BEIR folder: three rows and α chosen on train.
func TestIndexEval(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := e2eBinary(t)
	data := retrieverDataset(t, true)
	out, err := exec.Command(bin, "index", "--corpus", data, "--model", e2eModel(t), "--out", filepath.Join(t.TempDir(), "idx"), "--eval", "test", "--cache-dir", "off", "--quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("index --eval: %v\n%s", err, out)
	}
	s := string(out)
	// BM25 ranks each test query's document first (see retrieverDataset).
	if !regexp.MustCompile(`\n +bm25 +1\.0000 +1\.0000 +1\.0000 `).MatchString(s) || !strings.Contains(s, "dense") ||
		!regexp.MustCompile(`\n +hybrid +[01]\.\d{4} `).MatchString(s) || !strings.Contains(s, "chosen on train (3 queries, nDCG@10 1.0000)") {
		t.Fatalf("index --eval output:\n%s", s)
	}
	if out, err := exec.Command(bin, "index", "--corpus", filepath.Join(data, "corpus.jsonl"), "--no-dense", "--out", filepath.Join(t.TempDir(), "i2"), "--eval", "test").CombinedOutput(); err == nil {
		t.Fatalf("--eval with a corpus file accepted:\n%s", out)
	}
}

// TestIndexKilled kills `contriever index` with SIGKILL in the middle of a
// build: nothing loads from the destination, and the next build succeeds
// and removes the abandoned temporary folder.
func TestIndexKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := e2eBinary(t)
	model := e2eModel(t)
	tmp := t.TempDir()
	var buf bytes.Buffer
	for i := 0; i < 4000; i++ {
		fmt.Fprintf(&buf, `{"_id": "d%d", "title": "doc %d", "text": "word%d and word%d share the text of document %d"}`+"\n", i, i, i, i%97, i)
	}
	corpus := filepath.Join(tmp, "corpus.jsonl")
	os.WriteFile(corpus, buf.Bytes(), 0o644)
	out := filepath.Join(tmp, "idx")
	cmd := exec.Command(bin, "index", "--corpus", corpus, "--model", model, "--out", out, "--cache-dir", "off", "--quiet")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once the build's temporary folder holds the BM25 index.
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(tmp, ".idx.building-*", "bm25"))
		if len(m) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(out); err == nil {
		t.Skip("the build finished before it was killed")
	}
	if _, err := engine.Open(context.Background(), out, engine.OpenOptions{}); err == nil {
		t.Fatal("a killed build loads")
	}
	if b, err := exec.Command(bin, "serve", "--index", out, "--addr", "127.0.0.1:0").CombinedOutput(); err == nil {
		t.Fatalf("serve of a killed build started:\n%s", b)
	}
	if b, err := exec.Command(bin, "index", "--corpus", corpus, "--model", model, "--out", out, "--cache-dir", "off", "--quiet").CombinedOutput(); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, b)
	}
	if m, _ := filepath.Glob(filepath.Join(tmp, ".idx.building-*")); len(m) != 0 {
		t.Fatalf("abandoned build folders left: %v", m)
	}
	c, err := engine.Open(context.Background(), out, engine.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Store().Len() != 4000 || c.Vectors().Len() != 4000 || c.BM25().Len() != 4000 {
		t.Fatalf("rebuilt index: %d docs, %d vectors, %d bm25", c.Store().Len(), c.Vectors().Len(), c.BM25().Len())
	}
}
