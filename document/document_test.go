package document

import (
	"slices"
	"testing"
)

func TestPassage(t *testing.T) {
	for _, c := range []struct{ title, text, want string }{
		{"", "body", "body"},
		{"Title", "body", "Title body"},
		{"Title", "", "Title "},
	} {
		if got := (Doc{Title: c.title, Text: c.text}).Passage(); got != c.want {
			t.Errorf("Passage(%q, %q) = %q, want %q", c.title, c.text, got, c.want)
		}
	}
}

func TestCompareHitsTrecEvalOrder(t *testing.T) {
	hits := []Hit{{"a", 1}, {"c", 2}, {"b", 1}, {"d", 0.5}, {"ab", 1}}
	slices.SortFunc(hits, CompareHits)
	want := []Hit{{"c", 2}, {"b", 1}, {"ab", 1}, {"a", 1}, {"d", 0.5}}
	if !slices.Equal(hits, want) {
		t.Fatalf("got %v, want %v", hits, want)
	}
}
