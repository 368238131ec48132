package finetune

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/msmarco from the generator")

// topics are small vocabularies of whole-word BERT tokens: passages of one
// topic share words, so a query drawn from a passage retrieves it and its
// topic's other passages are natural hard negatives.
var topics = [][]string{
	{"heart", "blood", "cell", "virus", "gene", "protein", "cancer", "brain"},
	{"ocean", "river", "rain", "cloud", "storm", "snow", "wind", "ice"},
	{"music", "piano", "guitar", "song", "drum", "violin", "choir", "opera"},
	{"king", "queen", "castle", "army", "war", "crown", "empire", "battle"},
	{"train", "station", "railway", "engine", "track", "ticket", "bridge", "tunnel"},
	{"bread", "cheese", "apple", "soup", "kitchen", "sugar", "butter", "rice"},
	{"football", "goal", "team", "match", "coach", "league", "player", "season"},
	{"planet", "star", "moon", "orbit", "galaxy", "telescope", "comet", "solar"},
	{"court", "judge", "law", "trial", "crime", "prison", "lawyer", "police"},
	{"forest", "tree", "wolf", "bird", "leaf", "flower", "garden", "seed"},
}

// fixtureFiles returns the MS MARCO-format fixture: 60 passages of 10
// topics, 30 training queries (a few words of their positive passage; some
// with two positives, some with a judged non-relevant passage), 10 dev
// queries, and 30 text triples.
func fixtureFiles() map[string]string {
	r := rand.New(rand.NewPCG(2021, 12))
	var coll, qtrain, qrtrain, qdev, qrdev, triples strings.Builder
	var texts []string
	for i := 0; i < 60; i++ {
		t := topics[i%len(topics)]
		words := make([]string, 12+r.IntN(10))
		for j := range words {
			words[j] = t[r.IntN(len(t))]
		}
		texts = append(texts, strings.Join(words, " "))
		fmt.Fprintf(&coll, "%d\t%s\n", 1000+i, texts[i])
	}
	query := func(p int) string {
		w := strings.Fields(texts[p])
		r.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
		return strings.Join(w[:4], " ") + "?"
	}
	for q := 0; q < 40; q++ {
		p := r.IntN(60)
		qt, qr := &qtrain, &qrtrain
		if q >= 30 {
			qt, qr = &qdev, &qrdev
		}
		fmt.Fprintf(qt, "%d\t%s\n", q, query(p))
		fmt.Fprintf(qr, "%d\t0\t%d\t1\n", q, 1000+p)
		if q%7 == 3 { // a second positive of the same topic
			fmt.Fprintf(qr, "%d 0 %d 1\n", q, 1000+(p+10)%60)
		}
		if q%5 == 1 { // a judged non-relevant passage
			fmt.Fprintf(qr, "%d 0 %d 0\n", q, 1000+(p+1)%60)
		}
		if q < 30 {
			n := (p + 10*(1+r.IntN(5))) % 60 // same topic
			fmt.Fprintf(&triples, "%s\t%s\t%s\n", query(p), texts[p], texts[n])
		}
	}
	return map[string]string{
		"collection.tsv":          coll.String(),
		"queries.train.tsv":       qtrain.String(),
		"qrels.train.tsv":         qrtrain.String(),
		"queries.dev.tsv":         qdev.String(),
		"qrels.dev.tsv":           qrdev.String(),
		"triples.train.small.tsv": triples.String(),
	}
}

// writeFixture writes the fixture into dir.
func writeFixture(t testing.TB, dir string) {
	t.Helper()
	for name, content := range fixtureFiles() {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFixtureUpToDate: testdata/msmarco is what the generator makes (go
// test -run TestFixtureUpToDate -update rewrites it).
func TestFixtureUpToDate(t *testing.T) {
	dir := filepath.Join("testdata", "msmarco")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFixture(t, dir)
	}
	for name, want := range fixtureFiles() {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (run go test -run TestFixtureUpToDate -update)", err)
		}
		if string(got) != want {
			t.Fatalf("testdata/msmarco/%s differs from the generator's output (run with -update)", name)
		}
	}
}
