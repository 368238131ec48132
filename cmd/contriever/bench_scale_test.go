package main

import (
	"reflect"
	"slices"
	"testing"

	"github.com/contriever-go/contriever/beir"
)

func TestSplitSentences(t *testing.T) {
	got := splitSentences("Cells grow. They divide, e.g. often. 3 of 4 die! Why? unknown. End")
	want := []string{"Cells grow.", "They divide, e.g. often.", "3 of 4 die!", "Why? unknown.", "End"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestScaleCorpusDeterministic: the same seed gives the same passages and
// queries, another seed others; passages are made of source sentences.
func TestScaleCorpusDeterministic(t *testing.T) {
	sents := []string{"A one.", "B two.", "C three.", "D four.", "E five six seven eight nine ten eleven."}
	collect := func(seed uint64) ([]beir.Doc, []string) {
		c := scaleCorpus{titles: []string{"T1", "T2"}, sents: sents, n: 50, seed: seed}
		var docs []beir.Doc
		if err := c.each(func(d beir.Doc) error { docs = append(docs, d); return nil }); err != nil {
			t.Fatal(err)
		}
		return docs, c.queries(20)
	}
	a, qa := collect(1)
	b, qb := collect(1)
	c, _ := collect(2)
	if !reflect.DeepEqual(a, b) || !slices.Equal(qa, qb) {
		t.Fatal("same seed, different corpus")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same corpus")
	}
	for _, d := range a {
		n := len(splitSentences(d.Text))
		if n < 2 || n > 4 {
			t.Fatalf("passage %s has %d sentences: %q", d.ID, n, d.Text)
		}
	}
}
