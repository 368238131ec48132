package beir

import (
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string, gz bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if gz {
		zw := gzip.NewWriter(f)
		if _, err := zw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func collect(t *testing.T, path string) ([]Doc, error) {
	t.Helper()
	var docs []Doc
	err := ReadCorpus(path, func(d Doc) error {
		docs = append(docs, d)
		return nil
	})
	return docs, err
}

const corpusText = `{"_id": "d1", "title": "Alpha", "text": "first text"}
{"_id": "d2", "text": "no title here", "metadata": {}}

{"_id": 3, "title": null, "text": "numeric id, null title"}
{"_id": "d4", "title": "Only title"}
`

func TestReadCorpusPlainAndGzip(t *testing.T) {
	want := []Doc{
		{ID: "d1", Title: "Alpha", Text: "first text"},
		{ID: "d2", Text: "no title here"},
		{ID: "3", Text: "numeric id, null title"},
		{ID: "d4", Title: "Only title"},
	}
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "corpus.jsonl")
		if gz {
			path += ".gz"
		}
		writeFile(t, path, corpusText, gz)
		docs, err := collect(t, path)
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if len(docs) != len(want) {
			t.Fatalf("gz=%v: got %d docs, want %d", gz, len(docs), len(want))
		}
		for i := range want {
			if docs[i] != want[i] {
				t.Errorf("gz=%v: doc %d = %+v, want %+v", gz, i, docs[i], want[i])
			}
		}
		n, err := CountLines(path)
		if err != nil || n != 4 {
			t.Errorf("gz=%v: CountLines = %d, %v; want 4", gz, n, err)
		}
	}
}

func TestPassage(t *testing.T) {
	if got := (Doc{Title: "T", Text: "body"}).Passage(); got != "T body" {
		t.Errorf("Passage with title = %q", got)
	}
	if got := (Doc{Text: "body"}).Passage(); got != "body" {
		t.Errorf("Passage without title = %q", got)
	}
}

func TestReadCorpusErrors(t *testing.T) {
	cases := []struct {
		name, content string
		line          int
		sentinel      error
	}{
		{"bad json", "{\"_id\": \"a\", \"text\": \"x\"}\n{\"_id\": \"b\", \"text\": \n", 2, ErrMalformed},
		{"missing id", "{\"text\": \"x\"}\n", 1, ErrMalformed},
		{"empty id", "{\"_id\": \"\", \"text\": \"x\"}\n", 1, ErrMalformed},
		{"bool id", "{\"_id\": true, \"text\": \"x\"}\n", 1, ErrMalformed},
		{"text not string", "{\"_id\": \"a\", \"text\": 5}\n", 1, ErrMalformed},
		{"duplicate", "{\"_id\": \"a\"}\n\n{\"_id\": \"b\"}\n{\"_id\": \"a\"}\n", 4, ErrDuplicate},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "corpus.jsonl")
		writeFile(t, path, c.content, false)
		_, err := collect(t, path)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		var le *LineError
		if !errors.As(err, &le) || le.Line != c.line || le.Path != path {
			t.Errorf("%s: error %v does not name %s line %d", c.name, err, path, c.line)
		}
		if !errors.Is(err, c.sentinel) {
			t.Errorf("%s: error %v is not %v", c.name, err, c.sentinel)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: message %q lacks the path", c.name, err)
		}
	}
}

func TestReadCorpusCallbackErrorAndLongLine(t *testing.T) {
	long := strings.Repeat("word ", 60000) // 300 kB line, beyond the reader's buffer
	path := filepath.Join(t.TempDir(), "corpus.jsonl")
	writeFile(t, path, `{"_id":"long","text":"`+long+`"}`+"\n"+`{"_id":"x","text":"y"}`, false)
	docs, err := collect(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Text != long || docs[1].ID != "x" {
		t.Fatalf("long line misread: %d docs", len(docs))
	}
	stop := errors.New("stop")
	n := 0
	err = ReadCorpus(path, func(Doc) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("callback error: got %v after %d docs, want the callback's error after 1", err, n)
	}
}

func TestReadQrels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.tsv")
	writeFile(t, path, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\r\nq2\td1\t2\n\nq3\t0\td3\t-1\n", false)
	q, err := ReadQrels(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Qrels{"q1": {"d1": 1, "d2": 0}, "q2": {"d1": 2}, "q3": {"d3": -1}}
	if len(q) != len(want) {
		t.Fatalf("got %v, want %v", q, want)
	}
	for qid, m := range want {
		for did, g := range m {
			if got, ok := q[qid][did]; !ok || got != g {
				t.Errorf("qrels[%s][%s] = %d, %v; want %d", qid, did, got, ok, g)
			}
		}
		if len(q[qid]) != len(m) {
			t.Errorf("qrels[%s] = %v, want %v", qid, q[qid], m)
		}
	}
	// TREC layout, space separated, no header.
	writeFile(t, path, "1 0 doc1 1\n1 0 doc2 0\n", false)
	q, err = ReadQrels(path)
	if err != nil || q["1"]["doc1"] != 1 || len(q["1"]) != 2 {
		t.Errorf("TREC qrels: %v, %v", q, err)
	}
	for _, bad := range []struct {
		content string
		line    int
		want    error
	}{
		{"q1\td1\t1\nq1\td1\t2\n", 2, ErrDuplicate},
		{"q1\td1\t1\nq1\td2\tx\n", 2, ErrMalformed},
		{"q1\td1\n", 1, ErrMalformed},
		{"h\th\th\nq1\td1\t1\t2\t3\n", 2, ErrMalformed},
	} {
		writeFile(t, path, bad.content, false)
		_, err := ReadQrels(path)
		var le *LineError
		if !errors.Is(err, bad.want) || !errors.As(err, &le) || le.Line != bad.line {
			t.Errorf("qrels %q: error %v, want %v at line %d", bad.content, err, bad.want, bad.line)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "corpus.jsonl.gz"), corpusText, true)
	writeFile(t, filepath.Join(dir, "queries.jsonl"),
		`{"_id": "q1", "text": "first"}
{"_id": "q2", "text": "unjudged"}
{"_id": "q3", "text": "third", "metadata": {"x": 1}}
`, false)
	writeFile(t, filepath.Join(dir, "qrels", "test.tsv"), "query-id\tcorpus-id\tscore\nq3\td1\t1\nq1\td2\t0\n", false)
	ds, err := Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Queries) != 2 || ds.Queries[0] != (Query{"q1", "first"}) || ds.Queries[1] != (Query{"q3", "third"}) {
		t.Errorf("queries = %v, want q1 and q3 in file order", ds.Queries)
	}
	if g, ok := ds.Qrels["q1"]["d2"]; !ok || g != 0 {
		t.Errorf("0-grade judgement dropped: %v", ds.Qrels)
	}
	n := 0
	if err := ds.Corpus(func(Doc) error { n++; return nil }); err != nil || n != 4 {
		t.Errorf("corpus: %d docs, %v", n, err)
	}
	if _, err := Load(dir, "dev"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing split: %v", err)
	}
	writeFile(t, filepath.Join(dir, "qrels", "test.tsv"), "q9\td1\t1\n", false)
	if _, err := Load(dir, "test"); err == nil || !strings.Contains(err.Error(), `"q9"`) {
		t.Errorf("judged query missing from queries.jsonl: %v", err)
	}
	writeFile(t, filepath.Join(dir, "queries.jsonl"), `{"_id": "q1", "text": "a"}`+"\n"+`{"_id": "q1", "text": "b"}`+"\n", false)
	if _, err := Load(dir, "test"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate query: %v", err)
	}
}
