package beir

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRoundTrip(t *testing.T) {
	run := Run{
		"q2": {{DocID: "d1", Score: 0.1}, {DocID: "d2", Score: 1.0 / 3}, {DocID: "d3", Score: 1.0 / 3}},
		"q1": {{DocID: "x", Score: 12.5}, {DocID: "y", Score: -1e-300}, {DocID: "z", Score: math.MaxFloat64}},
	}
	var buf bytes.Buffer
	if err := WriteRun(&buf, run, ""); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	wantFirst := []string{"q1", "Q0", "z", "1"}
	if got := strings.Fields(lines[0]); len(got) != 6 || strings.Join(got[:4], " ") != strings.Join(wantFirst, " ") || got[5] != "contriever" {
		t.Errorf("first line %q", lines[0])
	}
	// q2: tie d2/d3 at 1/3 ranks d3 first (doc id descending).
	if got := strings.Fields(lines[3]); got[2] != "d3" || got[3] != "1" {
		t.Errorf("tie order: line %q", lines[3])
	}
	path := filepath.Join(t.TempDir(), "run.trec")
	if err := WriteRunFile(path, run, "tag1"); err != nil {
		t.Fatal(err)
	}
	back, err := ReadRun(path)
	if err != nil {
		t.Fatal(err)
	}
	for qid, hits := range run {
		want := append([]Hit(nil), hits...)
		SortHits(want)
		got := back[qid]
		if len(got) != len(want) {
			t.Fatalf("%s: %d hits back, want %d", qid, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] { // scores round-trip exactly
				t.Errorf("%s[%d] = %v, want %v", qid, i, got[i], want[i])
			}
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestWriteRunRejectsSpaces(t *testing.T) {
	var buf bytes.Buffer
	for _, r := range []Run{{"q 1": {{DocID: "d", Score: 1}}}, {"q": {{DocID: "d 1", Score: 1}}}, {"q": {{DocID: "", Score: 1}}}} {
		if err := WriteRun(&buf, r, "t"); err == nil {
			t.Errorf("run %v written", r)
		}
	}
	if err := WriteRun(&buf, Run{}, "a b"); err == nil {
		t.Error("tag with a space accepted")
	}
}

func TestReadRunErrors(t *testing.T) {
	for _, c := range []struct {
		content string
		line    int
		want    error
	}{
		{"q Q0 d 1 1.5 t\nq Q0 d2 2 1.0\n", 2, ErrMalformed},
		{"q Q0 d 1 abc t\n", 1, ErrMalformed},
		{"q Q0 d 1 NaN t\n", 1, ErrMalformed},
		{"q Q0 d one 1 t\n", 1, ErrMalformed},
		{"\nq Q0 d 1 1 t\nq Q0 d 2 0.5 t\n", 3, ErrDuplicate},
	} {
		path := filepath.Join(t.TempDir(), "run")
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadRun(path)
		var le *LineError
		if !errors.Is(err, c.want) || !errors.As(err, &le) || le.Line != c.line || le.Path != path {
			t.Errorf("%q: error %v, want %v at %s:%d", c.content, err, c.want, path, c.line)
		}
	}
}
