package finetune

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/internal/fixture"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMSMarco(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "msmarco"), "train")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Passages) != 60 || len(s.Examples) != 30 || s.Skipped != 0 {
		t.Fatalf("%d passages, %d examples, %d skipped; want 60, 30, 0", len(s.Passages), len(s.Examples), s.Skipped)
	}
	// Every judgement with grade ≥ 1 is a positive, nothing else.
	qr, err := beir.ReadQrels(filepath.Join("testdata", "msmarco", "qrels.train.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	queries, _ := ReadQueriesTSV(filepath.Join("testdata", "msmarco", "queries.train.tsv"))
	for i, ex := range s.Examples {
		if ex.QID != queries[i].ID || ex.Query != queries[i].Text {
			t.Fatalf("example %d is %q %q, want query %v", i, ex.QID, ex.Query, queries[i])
		}
		var want []string
		for _, pid := range sortedKeys(qr[ex.QID]) {
			if qr[ex.QID][pid] >= 1 {
				want = append(want, pid)
			}
		}
		var got []string
		for _, p := range ex.Positives {
			got = append(got, s.Passages[p].ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("query %s: positives %v, want %v", ex.QID, got, want)
		}
	}
	if s.Passages[0].ID != "1000" || !strings.HasPrefix(s.Passages[0].Text, "gene brain") {
		t.Fatalf("first passage %+v", s.Passages[0])
	}
	dev, err := LoadMSMarcoDir(filepath.Join("testdata", "msmarco"), "dev")
	if err != nil || len(dev.Examples) != 10 {
		t.Fatalf("dev split: %v", err)
	}
}

func TestLoadTriples(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "msmarco", "triples.train.small.tsv"), "")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(fixtureFiles()["triples.train.small.tsv"]), "\n")
	if len(s.Examples) == 0 || len(s.Examples) > len(lines) {
		t.Fatalf("%d examples from %d lines", len(s.Examples), len(lines))
	}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		found := false
		for _, ex := range s.Examples {
			if ex.Query != f[0] {
				continue
			}
			found = true
			has := func(l []int32, text string) bool {
				for _, i := range l {
					if s.Passages[i].Text == text {
						return true
					}
				}
				return false
			}
			if !has(ex.Positives, f[1]) || (f[1] != f[2] && !has(ex.HardNegatives, f[2])) {
				t.Fatalf("triple %q: not in example %+v", f[0], ex)
			}
		}
		if !found {
			t.Fatalf("query %q missing", f[0])
		}
	}
}

func TestLoadBEIRTrain(t *testing.T) {
	s, err := Load(fixture.Repo(t, "data", "scifact"), "train")
	if err != nil {
		t.Fatal(err)
	}
	// SciFact: 5,183 documents, 809 training queries, 919 judgements.
	st := s.Stats()
	if st.Passages != 5183 || st.Examples != 809 || st.Positives != 919 {
		t.Fatalf("SciFact train: %v", st)
	}
}

func TestLoadDPR(t *testing.T) {
	dir := t.TempDir()
	array := `[
  {
    "question": "who wrote it?",
    "answers": ["x"],
    "positive_ctxs": [{"title": "Book", "text": "she wrote it", "passage_id": "7", "score": 3}],
    "negative_ctxs": [{"title": "", "text": "random text", "passage_id": 8}],
    "hard_negative_ctxs": [{"title": "Book", "text": "he read it", "id": "9"}, {"title": "x", "text": "no id"}]
  },
  {"question": "no positives", "positive_ctxs": [], "hard_negative_ctxs": []},
  {"question": "again?", "positive_ctxs": [{"title": "Other", "text": "changed text", "passage_id": "7"}, {"text": "no id"}, {"title": "x", "text": "no id"}]}
]`
	jsonl := ""
	for _, l := range []string{
		`{"question": "who wrote it?", "positive_ctxs": [{"title": "Book", "text": "she wrote it", "passage_id": "7"}], "negative_ctxs": [{"text": "random text", "passage_id": 8}], "hard_negative_ctxs": [{"title": "Book", "text": "he read it", "id": "9"}, {"title": "x", "text": "no id"}]}`,
		``,
		`{"question": "no positives"}`,
		`{"question": "again?", "positive_ctxs": [{"title": "Other", "text": "changed text", "passage_id": "7"}, {"text": "no id"}, {"title": "x", "text": "no id"}]}`,
	} {
		jsonl += l + "\n"
	}
	for _, name := range []string{"train.json", "train.jsonl"} {
		content := array
		if name == "train.jsonl" {
			content = jsonl
		}
		s, err := Load(write(t, dir, name, content), "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(s.Examples) != 2 || s.Skipped != 1 {
			t.Fatalf("%s: %d examples, %d skipped", name, len(s.Examples), s.Skipped)
		}
		// Passages: 7, 8, 9, "x/no id", "/no id"; id 7 deduplicated (first text wins).
		if len(s.Passages) != 5 {
			t.Fatalf("%s: passages %+v", name, s.Passages)
		}
		a, b := s.Examples[0], s.Examples[1]
		if a.Query != "who wrote it?" || len(a.Positives) != 1 || len(a.Negatives) != 1 || len(a.HardNegatives) != 2 {
			t.Fatalf("%s: first example %+v", name, a)
		}
		if p := s.Passages[a.Positives[0]]; p != (Passage{ID: "7", Title: "Book", Text: "she wrote it"}) || p.Passage() != "Book she wrote it" {
			t.Fatalf("%s: positive %+v", name, p)
		}
		if p := s.Passages[a.Negatives[0]]; p.ID != "8" || p.Passage() != "random text" {
			t.Fatalf("%s: numeric id: %+v", name, p)
		}
		if b.Positives[0] != a.Positives[0] || b.Positives[2] != a.HardNegatives[1] || len(b.Positives) != 3 {
			t.Fatalf("%s: deduplication: %+v / %+v", name, a, b)
		}
		// Round trip through WriteDPR.
		var sb strings.Builder
		if err := s.WriteDPR(&sb); err != nil {
			t.Fatal(err)
		}
		s2, err := LoadDPR(write(t, dir, "round.jsonl", sb.String()))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s2.Passages, s.Passages) || !reflect.DeepEqual(s2.Examples, s.Examples) {
			t.Fatalf("%s: round trip differs", name)
		}
	}
}

// TestLoadErrors: bad input is an error naming the file and the line.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content string
		load          func(path string) error
		want          string
	}{
		{"collection.tsv", "1\tok\n2 no tab\n", func(p string) error { _, err := (&Set{}).AddCollection(p); return err }, "collection.tsv:2"},
		{"collection.tsv", "1\tok\n\t empty id\n", func(p string) error { _, err := (&Set{}).AddCollection(p); return err }, "collection.tsv:2"},
		{"collection.tsv", "1\tok\n\n1\tagain\n", func(p string) error { _, err := (&Set{}).AddCollection(p); return err }, "collection.tsv:3"},
		{"queries.tsv", "1\tq\n\n\nno tab\n", func(p string) error { _, err := ReadQueriesTSV(p); return err }, "queries.tsv:4"},
		{"queries.tsv", "1\tq\n1\tq\n", func(p string) error { _, err := ReadQueriesTSV(p); return err }, "queries.tsv:2"},
		{"triples.tsv", "q\tp\tn\nq\tp\n", func(p string) error { _, err := LoadTriples(p); return err }, "triples.tsv:2"},
		{"d.jsonl", `{"question":"q","positive_ctxs":[{"text":"t"}]}` + "\n" + `{"question":"q","positive_ctxs":[{"title":"t"}]}` + "\n", func(p string) error { _, err := LoadDPR(p); return err }, "d.jsonl:2"},
		{"d.jsonl", `{"question":"q","positive_ctxs":[{"text":"t"}]}` + "\n\n" + `{"positive_ctxs":[{"text":"t"}]}` + "\n", func(p string) error { _, err := LoadDPR(p); return err }, "d.jsonl:3"},
		{"d.jsonl", `{"question":"q","positive_ctxs":[{"text":"t"}]` + "\n", func(p string) error { _, err := LoadDPR(p); return err }, "d.jsonl:1"},
		{"d.json", "[\n {\"question\": \"q\", \"positive_ctxs\": [{\"text\": \"t\"}]},\n {\"question\": \"q\",\n  \"positive_ctxs\": [{\"text\": 5}]}\n]\n", func(p string) error { _, err := LoadDPR(p); return err }, "d.json:4"},
		{"d.json", "[\n {\"question\": \"q\", \"positive_ctxs\": [{\"text\": \"t\"}]},\n {\"question\": 3}\n]\n", func(p string) error { _, err := LoadDPR(p); return err }, "d.json:3"},
		{"d.json", "[\n {\"question\": \"q\", \"positive_ctxs\": [{\"text\": \"t\"}]}\n] x\n", func(p string) error { _, err := LoadDPR(p); return err }, "d.json:3"},
		{"d.json", "", func(p string) error { _, err := LoadDPR(p); return err }, "d.json:1"},
		{"d.json", `{"question": "q", "positive_ctxs": []}`, func(p string) error { _, err := LoadDPR(p); return err }, "no training example"},
	}
	for i, c := range cases {
		p := write(t, dir, c.name, c.content)
		err := c.load(p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): error %v, want one naming %q", i, c.name, err, c.want)
		}
	}
	// A judgement naming an unknown passage or query.
	ms := t.TempDir()
	write(t, ms, "collection.tsv", "1\ta\n2\tb\n")
	write(t, ms, "queries.train.tsv", "q1\tx\n")
	write(t, ms, "qrels.train.tsv", "q1 0 3 1\n")
	if _, err := LoadMSMarcoDir(ms, "train"); !errors.Is(err, ErrUnknownPassage) || !strings.Contains(err.Error(), "qrels.train.tsv") {
		t.Errorf("unknown passage: %v", err)
	}
	write(t, ms, "qrels.train.tsv", "q2 0 1 1\n")
	if _, err := LoadMSMarcoDir(ms, "train"); !errors.Is(err, ErrUnknownQuery) {
		t.Errorf("unknown query: %v", err)
	}
	if _, err := Load(write(t, dir, "x.csv", "a"), "train"); !errors.Is(err, ErrFormat) {
		t.Errorf("unknown format: %v", err)
	}
}
