//go:build ignore

// writer posts batches of BEIR documents to a running `contriever serve`
// back to back and appends the id of every acknowledged document (HTTP
// 200) to a file; with -verify it checks that every id of that file can be
// fetched. Used by mixed.sh:
//
//	go run writer.go -addr http://127.0.0.1:8080 -corpus corpus.jsonl.gz -acked acked.txt -for 30s
//	go run writer.go -addr http://127.0.0.1:8080 -acked acked.txt -verify
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

type doc struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

func main() {
	addr := flag.String("addr", "http://127.0.0.1:8080", "server")
	corpus := flag.String("corpus", "", "BEIR corpus.jsonl(.gz)")
	ackedPath := flag.String("acked", "acked.txt", "file of acknowledged ids")
	batch := flag.Int("batch", 32, "documents per POST")
	dur := flag.Duration("for", 30*time.Second, "how long to write")
	prefix := flag.String("prefix", "lt-", "prefix of the new ids")
	verify := flag.Bool("verify", false, "check that every acknowledged id can be fetched")
	flag.Parse()
	if *verify {
		os.Exit(doVerify(*addr, *ackedPath))
	}
	f, err := os.Open(*corpus)
	must(err)
	var r io.Reader = f
	if strings.HasSuffix(*corpus, ".gz") {
		zr, err := gzip.NewReader(f)
		must(err)
		r = zr
	}
	var docs []doc
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var d struct{ ID, Title, Text string }
		var raw map[string]any
		must(json.Unmarshal(sc.Bytes(), &raw))
		d.ID, _ = raw["_id"].(string)
		d.Title, _ = raw["title"].(string)
		d.Text, _ = raw["text"].(string)
		docs = append(docs, doc{ID: d.ID, Title: d.Title, Text: d.Text})
	}
	out, err := os.OpenFile(*ackedPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(err)
	defer out.Close()
	start := time.Now()
	n, acked, fails := 0, 0, map[int]int{}
	client := &http.Client{Timeout: 60 * time.Second}
	for time.Since(start) < *dur {
		b := make([]doc, *batch)
		for i := range b {
			d := docs[(n+i)%len(docs)]
			d.ID = fmt.Sprintf("%s%d-%s", *prefix, n+i, d.ID)
			b[i] = d
		}
		n += *batch
		body, _ := json.Marshal(b)
		resp, err := client.Post(*addr+"/docs", "application/json", bytes.NewReader(body))
		if err != nil {
			fails[0]++
			time.Sleep(50 * time.Millisecond)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fails[resp.StatusCode]++
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
				// Back off as the server asks (document-embedding slots full).
				wait := 100 * time.Millisecond
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
					wait = time.Duration(s) * time.Second
				}
				time.Sleep(wait)
			}
			continue
		}
		for _, d := range b {
			fmt.Fprintln(out, d.ID)
		}
		acked += len(b)
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("writer: %d documents acknowledged in %.1f s (%.0f docs/s), failed requests by status: %v\n", acked, secs, float64(acked)/secs, fails)
}

func doVerify(addr, path string) int {
	b, err := os.ReadFile(path)
	must(err)
	ids := strings.Fields(string(b))
	missing := 0
	for _, id := range ids {
		resp, err := http.Get(addr + "/docs/" + url.PathEscape(id))
		if err != nil || resp.StatusCode != http.StatusOK {
			missing++
			if missing <= 5 {
				fmt.Fprintf(os.Stderr, "missing %s: %v %v\n", id, err, resp)
			}
		}
		if resp != nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	fmt.Printf("verify: %d acknowledged documents, %d missing after the SIGKILL\n", len(ids), missing)
	if missing > 0 {
		return 1
	}
	return 0
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
