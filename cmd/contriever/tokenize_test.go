package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/fixture"
)

func repoTokenizer(t *testing.T) *wordpiece.Tokenizer {
	t.Helper()
	tok, err := wordpiece.Load(fixture.Repo(t, "data", "vocab", "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestTokenizeJSONL checks the command's core on singles and pairs (ids
// known from HF bert-base-uncased) in input order, with truncation.
func TestTokenizeJSONL(t *testing.T) {
	tok := repoTokenizer(t)
	in := `{"text": "café"}

{"text": "naïve [MASK] test", "text_pair": "Hello, world!"}
{"text": "a b c d e f", "text_pair": "g h i j"}
`
	var out bytes.Buffer
	n, err := tokenizeJSONL(tok, strings.NewReader(in), "in.jsonl", &out, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("wrote %d lines, want 3", n)
	}
	type line struct {
		IDs     []int32 `json:"ids"`
		TypeIDs []int32 `json:"type_ids"`
	}
	var got []line
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		got = append(got, v)
	}
	want := []line{
		{[]int32{101, 7668, 102}, []int32{0, 0, 0}},
		// naive [MASK] test | hello , world ! (3 and 4 pieces) cut to 8 by
		// longest_first: budget 5, the shorter side 3 > 5-3, so 2 and 3.
		{[]int32{101, 15743, 103, 102, 7592, 1010, 2088, 102}, []int32{0, 0, 0, 0, 1, 1, 1, 1}},
		{[]int32{101, 1037, 1038, 1039, 102, 1043, 1044, 102}, []int32{0, 0, 0, 0, 0, 1, 1, 1}},
	}
	for i := range want {
		if !slices.Equal(got[i].IDs, want[i].IDs) || !slices.Equal(got[i].TypeIDs, want[i].TypeIDs) {
			t.Errorf("line %d: got %v %v, want %v %v", i+1, got[i].IDs, got[i].TypeIDs, want[i].IDs, want[i].TypeIDs)
		}
	}
	// Same as the library, untruncated, on many lines across batches.
	var sb strings.Builder
	var texts []string
	for i := 0; i < 5000; i++ {
		s := strings.Repeat("word ", i%7) + "Ünïcödé tokenisation #" + strings.Repeat("x", i%13)
		texts = append(texts, s)
		b, _ := json.Marshal(map[string]string{"text": s})
		sb.Write(b)
		sb.WriteByte('\n')
	}
	out.Reset()
	if _, err := tokenizeJSONL(tok, strings.NewReader(sb.String()), "big.jsonl", &out, 0, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%d output lines, want %d", len(lines), len(texts))
	}
	for i, l := range lines {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if e := tok.Encode(texts[i], 0); !slices.Equal(v.IDs, e.IDs) {
			t.Fatalf("line %d: %v, want %v", i+1, v.IDs, e.IDs)
		}
	}
}

// TestTokenizeJSONLErrors checks that bad input names the line.
func TestTokenizeJSONLErrors(t *testing.T) {
	tok := repoTokenizer(t)
	cases := []struct{ name, in, want string }{
		{"bad json", "{\"text\": \"a\"}\n{\"text\": \n", "in.jsonl:2: bad JSON"},
		{"missing text", "{\"text\": \"a\"}\n\n{\"title\": \"b\"}\n", "in.jsonl:3: missing field \"text\""},
		{"wrong type", "{\"text\": 5}\n", "in.jsonl:1: bad JSON"},
		{"empty", "", "in.jsonl: no input lines"},
		{"blank only", "\n  \n", "in.jsonl: no input lines"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		_, err := tokenizeJSONL(tok, strings.NewReader(c.in), "in.jsonl", &out, 0, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to contain %q", c.name, err, c.want)
		}
	}
	_, err := tokenizeJSONL(tok, strings.NewReader(""), "in.jsonl", &bytes.Buffer{}, 0, nil)
	if !errors.Is(err, errNoRecords) {
		t.Errorf("empty input: %v, want errNoRecords", err)
	}
}

// TestRunTokenize runs the subcommand end to end and checks that a failing
// run leaves no output file behind.
func TestRunTokenize(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	out := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(in, []byte("{\"text\": \"Hello [CLS] world\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	if err := runTokenize([]string{"--model", vocab, "--input", in, "--out", out, "--quiet"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"ids\":[101,7592,101,2088,102],\"type_ids\":[0,0,0,0,0]}\n"; string(got) != want {
		t.Errorf("output %q, want %q", got, want)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	out2 := filepath.Join(dir, "out2.jsonl")
	os.WriteFile(bad, []byte("{\"text\": \"a\"}\nnot json\n"), 0o644)
	err = runTokenize([]string{"--model", vocab, "--input", bad, "--out", out2, "--quiet"})
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Errorf("bad input: %v", err)
	}
	if _, serr := os.Stat(out2); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("failed run left %s behind (%v)", out2, serr)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestReadCorpusTexts reads the bundled SciFact corpus as the tokenizer
// benchmark does: 5183 documents, each title + " " + text.
func TestReadCorpusTexts(t *testing.T) {
	docs, err := readCorpusTexts(fixture.Repo(t, "data", "scifact", "corpus.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 5183 {
		t.Fatalf("%d documents, want 5183", len(docs))
	}
	if !strings.HasPrefix(docs[0], "Microstructural development of human newborn cerebral white matter assessed in vivo by diffusion tensor magnetic resonance imaging. Alterations of the architecture") {
		t.Errorf("first document %q", docs[0][:120])
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "corpus.jsonl")
	os.WriteFile(bad, []byte("{\"_id\": \"1\", \"text\": \"a\"}\n{\"_id\": \"2\", \"title\": \"b\"\n"), 0o644)
	if _, err := readCorpusTexts(bad); err == nil || !strings.Contains(err.Error(), "corpus.jsonl:2: ") {
		t.Errorf("malformed line: %v", err)
	}
}
