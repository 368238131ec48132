package statictune

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// topics returns documents drawn from nTopics disjoint token ranges of a
// V-token vocabulary whose rows are topic directions plus noise, so that
// the documents' embeddings cluster by topic.
func topics(V, dim, nTopics, perTopic int) ([]float32, [][]int32, []int) {
	r := rand.New(rand.NewPCG(9, 1))
	w := make([]float32, V*dim)
	span := V / nTopics
	for id := 0; id < V; id++ {
		t := min(id/span, nTopics-1)
		for j := 0; j < dim; j++ {
			w[id*dim+j] = 0.1 * float32(r.NormFloat64())
		}
		w[id*dim+t%dim] += 1
	}
	var docs [][]int32
	var topic []int
	for t := 0; t < nTopics; t++ {
		for i := 0; i < perTopic; i++ {
			var d []int32
			for j := 0; j < 10+r.IntN(20); j++ {
				d = append(d, int32(t*span+r.IntN(span)))
			}
			docs = append(docs, d)
			topic = append(topic, t)
		}
	}
	return w, docs, topic
}

// TestGroupedBatches checks topical batches: k-means finds the topics, each
// group of a batch holds documents of one cluster, the documents of a batch
// are distinct, and a trainer restored from a state draws the same next
// batch as the one that saved it (the clusters come from the initial rows,
// not the trained ones).
func TestGroupedBatches(t *testing.T) {
	const V, dim, G = 64, 8, 4
	w, docs, topic := topics(V, dim, 4, 24)
	init := slices.Clone(w)
	o := Options{Batch: 16, Temperature: 0.1, QueryMin: 2, QueryMax: 4, KeyMin: 4, KeyMax: 12, Group: G, Seed: 3}
	tr, err := New(w, dim, docs, o)
	if err != nil {
		t.Fatal(err)
	}
	// Clusters are pure: every document of a cluster has the same topic.
	for c, mem := range tr.members {
		for _, d := range mem {
			if topic[d] != topic[mem[0]] {
				t.Fatalf("cluster %d mixes topics %d and %d", c, topic[mem[0]], topic[d])
			}
		}
	}
	for s := 0; s < 3; s++ {
		ds := tr.sampleGrouped(o.Batch)
		if len(ds) != o.Batch {
			t.Fatalf("batch of %d, want %d", len(ds), o.Batch)
		}
		u := slices.Clone(ds)
		slices.Sort(u)
		if len(slices.Compact(u)) != len(ds) {
			t.Fatalf("repeated documents in %v", ds)
		}
		// Groups are drawn from one cluster: most neighbours in the batch
		// share a cluster (uniform draws over 24 clusters would give 1/24).
		same := 0
		for i := 1; i < len(ds); i++ {
			if tr.cluster[ds[i]] == tr.cluster[ds[i-1]] {
				same++
			}
		}
		if same < len(ds)/2 {
			t.Fatalf("only %d of %d neighbours share a cluster: %v", same, len(ds)-1, ds)
		}
		tr.Step(0.1)
	}
	st, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	w2 := slices.Clone(init)
	tr2, err := New(w2, dim, docs, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr2.UnmarshalBinary(st); err != nil {
		t.Fatal(err)
	}
	if a, b := tr.Sample(), tr2.Sample(); !slices.EqualFunc(a.Queries, b.Queries, slices.Equal) || !slices.EqualFunc(a.Keys, b.Keys, slices.Equal) {
		t.Fatal("a restored trainer draws another batch")
	}
	if _, err := New(slices.Clone(init), dim, docs, Options{Batch: 16, Group: 17}); err == nil {
		t.Fatal("a group larger than the batch was accepted")
	}
}
