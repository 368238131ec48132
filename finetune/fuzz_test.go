package finetune

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/beir"
)

// fuzzFile writes data to a file named name in a temporary folder.
func fuzzFile(t *testing.T, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkErr: a parse error is a *beir.LineError (file and line) or a
// set-level error; nothing panics.
func checkErr(t *testing.T, err error) {
	var le *beir.LineError
	if err != nil && !errors.As(err, &le) && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error without a line: %v", err)
	}
	if le != nil && le.Line < 1 {
		t.Fatalf("line %d", le.Line)
	}
}

func FuzzCollection(f *testing.F) {
	f.Add([]byte("1\tok\n2\ttitle\ttext\n"))
	f.Add([]byte("\xef\xbb\xbf1\ta\r\n\n1\tb"))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &Set{}
		n, err := s.AddCollection(fuzzFile(t, "collection.tsv", data))
		checkErr(t, err)
		if err == nil && n != len(s.Passages) {
			t.Fatalf("%d read, %d passages", n, len(s.Passages))
		}
		_, err = ReadQueriesTSV(fuzzFile(t, "queries.tsv", data))
		checkErr(t, err)
	})
}

func FuzzTriples(f *testing.F) {
	f.Add([]byte("q\tp\tn\nq\tp2\tn\n"))
	f.Add([]byte("q\tp\tp\n"))
	f.Add([]byte("\t\t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := LoadTriples(fuzzFile(t, "triples.tsv", data))
		checkErr(t, err)
		if err == nil {
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzDPR(f *testing.F) {
	f.Add([]byte(`{"question":"q","positive_ctxs":[{"title":"t","text":"x","passage_id":3}],"hard_negative_ctxs":[{"text":"y"}]}` + "\n"))
	f.Add([]byte("[\n" + `{"question":"q","positive_ctxs":[{"text":"x","id":"a"}],"negative_ctxs":[{"text":"z","_id":"b"}]}` + "\n]"))
	f.Add([]byte(`[{"question":"q","positive_ctxs":[{"text":1}]}]`))
	f.Add([]byte("  \n[]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"d.jsonl", "d.json"} {
			s, err := LoadDPR(fuzzFile(t, name, data))
			checkErr(t, err)
			if err == nil {
				if err := s.Validate(); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// FuzzQueriesTSV: any bytes as an MS MARCO queries.tsv are read or refused
// with an error naming the line; ids stay unique and non-empty.
func FuzzQueriesTSV(f *testing.F) {
	f.Add([]byte("1\twhat is a cat\n2\tdogs\n"))
	f.Add([]byte("1\ta\n1\tb\n"))
	f.Add([]byte("\xef\xbb\xbf\t\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		qs, err := ReadQueriesTSV(fuzzFile(t, "queries.tsv", data))
		checkErr(t, err)
		seen := map[string]bool{}
		for _, q := range qs {
			if q.ID == "" || seen[q.ID] {
				t.Fatalf("query id %q empty or repeated", q.ID)
			}
			seen[q.ID] = true
		}
	})
}
