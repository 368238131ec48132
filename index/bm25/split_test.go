package bm25

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
)

// TestSplitPoints: the cuts of a split query start at 0, end at the view's
// size, increase strictly, and move to a segment boundary when that costs
// less than walking from the start of the segment a cut falls in.
func TestSplitPoints(t *testing.T) {
	mk := func(sizes ...uint64) *view {
		v := &view{}
		for _, n := range sizes {
			v.segs = append(v.segs, segRef{base: v.size, end: v.size + n, d: &segData{count: n}})
			v.size += n
		}
		return v
	}
	for _, c := range []struct {
		sizes []uint64
		w     int
		want  []uint64
	}{
		{[]uint64{1000}, 2, []uint64{0, 500, 1000}},                         // one segment: the even cut
		{[]uint64{100, 450, 450}, 2, []uint64{0, 550, 1000}},                // boundary 50 away, walk 450
		{[]uint64{10, 980, 10}, 2, []uint64{0, 500, 1000}},                  // boundaries 490 away, walk 490: even
		{[]uint64{250, 250, 250, 250}, 4, []uint64{0, 250, 500, 750, 1000}}, // aligned
		{[]uint64{53, 95, 95, 95, 95, 95, 95, 95, 95, 95, 95, 10, 10, 10}, 2, []uint64{0, 528, 1033}},
		{[]uint64{3}, 4, []uint64{0, 1, 2, 3}}, // fewer documents than ranges: no empty range
	} {
		v := mk(c.sizes...)
		got := v.splitPoints(c.w)
		if !slices.Equal(got, c.want) {
			t.Errorf("segments %v, %d ranges: cuts %v, want %v", c.sizes, c.w, got, c.want)
		}
	}
}

// TestSegmentCap: an index keeps no segment above maxSegmentDocs (bleve's
// merger is configured so, and the configuration is stored with the
// index), so a large index has several segments for a split query to cut
// at; the split searches still equal the exhaustive ones.
func TestSegmentCap(t *testing.T) {
	old, oldSplit := maxSegmentDocs, splitMinDocs
	maxSegmentDocs, splitMinDocs = 64, 0
	t.Cleanup(func() { maxSegmentDocs, splitMinDocs = old, oldSplit })
	words := strings.Fields("cell growth protein bone vitamin neuron tumour signal receptor density loss study factor")
	var docs []beir.Doc
	for i := 0; i < 1200; i++ {
		docs = append(docs, beir.Doc{ID: fmt.Sprintf("d%04d", i),
			Text: fmt.Sprintf("%s %s %s", words[i%len(words)], words[(i*7)%len(words)], words[(i*i)%len(words)])})
	}
	ix := build(t, docs, Options{})
	raw, err := os.ReadFile(filepath.Join(ix.Dir(), "index_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"MaxSegmentSize":64`) {
		t.Fatalf("index_meta.json does not store the segment cap: %s", raw)
	}
	v, release, err := ix.acquire()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.segs) < 2 {
		t.Errorf("%d documents in %d segment(s)", v.size, len(v.segs))
	}
	for _, s := range v.segs {
		if s.end-s.base > uint64(maxSegmentDocs) {
			t.Errorf("segment of %d documents, cap %d", s.end-s.base, maxSegmentDocs)
		}
	}
	release()
	comparePruned(t, ix, []string{"cell growth", "bone density loss study", "tumour", "signal signal receptor factor neuron"}, []int{1, 10, 40})
	if hits, err := ix.Search(context.Background(), "cell", 3); err != nil || len(hits) != 3 {
		t.Fatalf("search: %v %v", hits, err)
	}
}
