package wordpiece

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/contriever-go/contriever/internal/fixture"
)

// record is one line of ../shared/fixtures/tokenizer/scifact.jsonl.gz.
type record struct {
	Kind         string   `json:"kind"`
	ID           string   `json:"id"`
	Text         string   `json:"text"`
	TextPair     string   `json:"text_pair"`
	IDs          []int32  `json:"ids"`
	IDs512       []int32  `json:"ids_512"`
	Tokens       []string `json:"tokens"`
	Offsets      [][2]int `json:"offsets"`
	TypeIDs      []int32  `json:"token_type_ids"`
	IDsClassic   []int32  `json:"ids_longest_first_classic"`
	TypesClassic []int32  `json:"token_type_ids_longest_first_classic"`
	LenA         int      `json:"len_a"`
	LenB         int      `json:"len_b"`
}

var (
	fixtureOnce sync.Once
	fixtureRecs []record
	fixtureErr  error
)

// fixtureCounts are the records per kind of the whole fixture
// (../shared/fixtures/tokenizer/scifact.jsonl.gz) and of the sample kept in
// the repository (testdata/shared/fixtures/tokenizer/scifact-sample.jsonl.gz:
// every edge case, pair and query, and every 20th document), which the tests
// use when ../shared is absent.
var fixtureCounts = map[string]map[string]int{
	"scifact.jsonl.gz":        {"doc": 5183, "query": 1109, "edge": 70, "pair": 321},
	"scifact-sample.jsonl.gz": {"doc": 260, "query": 1109, "edge": 70, "pair": 321},
}

// fixturePath is the whole fixture when ../shared has it, else the sample.
func fixturePath(tb testing.TB) string {
	tb.Helper()
	if p, err := fixture.SharedPath("fixtures", "tokenizer", "scifact.jsonl.gz"); err == nil {
		return p
	}
	return fixture.Shared(tb, "fixtures", "tokenizer", "scifact-sample.jsonl.gz")
}

// loadFixture reads the HF reference encodings once per test binary.
func loadFixture(tb testing.TB) []record {
	tb.Helper()
	path := fixturePath(tb)
	fixtureOnce.Do(func() {
		f, err := os.Open(path)
		if err != nil {
			fixtureErr = err
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			fixtureErr = err
			return
		}
		dec := json.NewDecoder(bufio.NewReaderSize(zr, 1<<20))
		for dec.More() {
			var r record
			if err := dec.Decode(&r); err != nil {
				fixtureErr = fmt.Errorf("record %d: %w", len(fixtureRecs)+1, err)
				return
			}
			fixtureRecs = append(fixtureRecs, r)
		}
	})
	if fixtureErr != nil {
		tb.Fatalf("read %s: %v", path, fixtureErr)
	}
	return fixtureRecs
}

func hfTokenizer(tb testing.TB, classic bool) *Tokenizer {
	tb.Helper()
	tok, err := LoadWith(fixture.Shared(tb, "data", "vocab", "bert-base-uncased-tokenizer.json"), LoadConfig{ClassicTruncation: classic})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestFixtureHF checks every record of the HF fixture: ids, ids at 512,
// tokens and offsets of single sequences, ids and type ids of pairs (the
// 0.23 rule, and the classic rule where the fixture gives it).
func TestFixtureHF(t *testing.T) {
	recs := loadFixture(t)
	tok := hfTokenizer(t, false)
	classic := hfTokenizer(t, true)
	vocabTok, err := Load(fixture.Shared(t, "data", "vocab", "bert-base-uncased-vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	bad := map[string]int{}
	for _, r := range recs {
		counts[r.Kind]++
		var errs []string
		check := func(what string, got, want any) {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				errs = append(errs, fmt.Sprintf("%s:\n got  %v\n want %v", what, got, want))
			}
		}
		switch r.Kind {
		case "doc", "query", "edge":
			e := tok.Encode(r.Text, 0)
			if !slices.Equal(e.IDs, r.IDs) {
				check("ids", e.IDs, r.IDs)
			}
			if !slices.Equal(e.Tokens, r.Tokens) {
				check("tokens", e.Tokens, r.Tokens)
			}
			if !slices.Equal(e.Offsets, r.Offsets) {
				check("offsets", e.Offsets, r.Offsets)
			}
			if e512 := tok.Encode(r.Text, 512); !slices.Equal(e512.IDs, r.IDs512) {
				check("ids_512", e512.IDs, r.IDs512)
			}
			if v := vocabTok.Encode(r.Text, 0); !slices.Equal(v.IDs, r.IDs) {
				check("ids (vocab.txt tokenizer)", v.IDs, r.IDs)
			}
			if ids := tok.AppendEncodeIDs([]int32{-1}, r.Text, 512); !slices.Equal(ids[1:], r.IDs512) || ids[0] != -1 {
				check("AppendEncodeIDs 512", ids, r.IDs512)
			}
			if ids := tok.EncodeIDs(r.Text, 0); !slices.Equal(ids, r.IDs) {
				check("EncodeIDs", ids, r.IDs)
			}
			if p := tok.Tokenize(r.Text); !slices.Equal(p, r.IDs[1:len(r.IDs)-1]) {
				check("Tokenize", p, r.IDs[1:len(r.IDs)-1])
			}
		case "pair":
			e := tok.EncodePair(r.Text, r.TextPair, 128)
			if !slices.Equal(e.IDs, r.IDs) {
				check("pair ids", e.IDs, r.IDs)
			}
			if !slices.Equal(e.TypeIDs, r.TypeIDs) {
				check("pair type ids", e.TypeIDs, r.TypeIDs)
			}
			if !slices.Equal(e.Tokens, r.Tokens) {
				check("pair tokens", e.Tokens, r.Tokens)
			}
			if la, lb := len(tok.Tokenize(r.Text)), len(tok.Tokenize(r.TextPair)); la != r.LenA || lb != r.LenB {
				check("len_a/len_b", [2]int{la, lb}, [2]int{r.LenA, r.LenB})
			}
			wantIDs, wantTypes := r.IDs, r.TypeIDs
			if r.IDsClassic != nil {
				wantIDs, wantTypes = r.IDsClassic, r.TypesClassic
			}
			c := classic.EncodePair(r.Text, r.TextPair, 128)
			if !slices.Equal(c.IDs, wantIDs) || !slices.Equal(c.TypeIDs, wantTypes) {
				check("classic pair ids", c.IDs, wantIDs)
				check("classic pair type ids", c.TypeIDs, wantTypes)
			}
		default:
			t.Fatalf("unknown kind %q in %s", r.Kind, r.ID)
		}
		if len(errs) > 0 {
			bad[r.Kind]++
			if bad[r.Kind] <= 5 {
				t.Errorf("%s %q (%+q):", r.Kind, r.ID, truncate(r.Text, 200))
				for _, e := range errs {
					t.Log(truncate(e, 2000))
				}
			}
		}
	}
	for _, k := range []string{"doc", "query", "edge", "pair"} {
		t.Logf("%-5s %5d records, %d mismatched", k, counts[k], bad[k])
	}
	want := fixtureCounts[filepath.Base(fixturePath(t))]
	if !maps.Equal(counts, want) {
		t.Errorf("fixture record counts %v, want %v", counts, want)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TestFixtureNormalizedPath runs the single-sequence records through the
// step-by-step normaliser (the path taken when a tokenizer has normalized
// added tokens; here one that never matches), which must agree with HF too.
func TestFixtureNormalizedPath(t *testing.T) {
	recs := loadFixture(t)
	base := hfTokenizer(t, false)
	opts := base.Options()
	opts.AddedTokens = append(base.AddedTokens(), AddedToken{Content: "QQQ never ZZZ", ID: 1, Normalized: true})
	tok, err := newTokenizer(base.Vocab(), base.word, opts)
	if err != nil {
		t.Fatal(err)
	}
	if tok.normAdded == nil {
		t.Fatal("normalized added token not registered")
	}
	bad := 0
	for i, r := range recs {
		if r.Kind == "pair" || (r.Kind == "doc" && i%4 != 0) {
			continue
		}
		e := tok.Encode(r.Text, 0)
		if !slices.Equal(e.IDs, r.IDs) || !slices.Equal(e.Offsets, r.Offsets) {
			bad++
			if bad <= 3 {
				t.Errorf("%s %s: ids/offsets differ:\n got  %v %v\n want %v %v", r.Kind, r.ID, truncate(fmt.Sprint(e.IDs), 500), truncate(fmt.Sprint(e.Offsets), 500), truncate(fmt.Sprint(r.IDs), 500), truncate(fmt.Sprint(r.Offsets), 500))
			}
		}
		if e512 := tok.Encode(r.Text, 512); !slices.Equal(e512.IDs, r.IDs512) {
			t.Errorf("%s %s: ids_512 differ", r.Kind, r.ID)
		}
	}
}
