package statictune

import (
	"math"
	"math/rand/v2"

	"github.com/contriever-go/contriever/internal/blas32"
)

// Topical batches (Options.Group > 0): instead of drawing a batch's
// documents uniformly, the trainer draws groups of up to Group documents
// from one cluster of a spherical k-means over the documents' embeddings
// under the initial rows, so that each query meets keys of its own topic
// among its in-batch negatives (hard negatives, without a retriever in the
// loop). The clustering depends only on the initial rows, the documents and
// the seed, so a resumed trainer rebuilds it identically.

// Bounds on the clustering's cost: at most maxClusters centroids, trained
// on at most maxTrainDocs documents (then every document is assigned), for
// kmeansIters iterations. Documents are embedded from their first
// clusterTokens tokens.
const (
	maxClusters   = 4096
	maxTrainDocs  = 65536
	kmeansIters   = 8
	clusterTokens = 256
	assignChunk   = 1024
)

// buildClusters fills t.cluster (each document's cluster) and t.members
// (each cluster's documents, in document order).
func (t *Trainer) buildClusters() {
	N, d := len(t.docs), t.dim
	k := (N + t.o.Group - 1) / t.o.Group
	k = max(1, min(k, maxClusters))
	x := make([]float32, N*d)
	texts := make([][]int32, N)
	for i, doc := range t.docs {
		texts[i] = doc[:min(len(doc), clusterTokens)]
	}
	t.embed(texts, x)
	rng := rand.New(rand.NewPCG(t.o.Seed, 0xc1a55e5))
	// Training sample: every document, or a seeded subset.
	train := make([]int, N)
	for i := range train {
		train[i] = i
	}
	if N > maxTrainDocs {
		rng.Shuffle(N, func(i, j int) { train[i], train[j] = train[j], train[i] })
		train = train[:maxTrainDocs]
	}
	c := make([]float32, k*d)
	perm := rng.Perm(len(train))
	for j := 0; j < k; j++ {
		copy(c[j*d:(j+1)*d], x[train[perm[j%len(perm)]]*d:])
	}
	assign := func(rows []int, out []int32) {
		s := make([]float32, assignChunk*k)
		buf := make([]float32, assignChunk*d)
		for lo := 0; lo < len(rows); lo += assignChunk {
			hi := min(lo+assignChunk, len(rows))
			n := hi - lo
			for i := lo; i < hi; i++ {
				copy(buf[(i-lo)*d:(i-lo+1)*d], x[rows[i]*d:(rows[i]+1)*d])
			}
			blas32.Sgemm(false, true, n, k, d, 1, buf[:n*d], d, c, d, 0, s[:n*k], k)
			for i := 0; i < n; i++ {
				row := s[i*k : (i+1)*k]
				best := 0
				for j, v := range row {
					if v > row[best] {
						best = j
					}
				}
				out[lo+i] = int32(best)
			}
		}
	}
	lab := make([]int32, len(train))
	for it := 0; it < kmeansIters; it++ {
		assign(train, lab)
		clear(c)
		cnt := make([]int, k)
		for i, r := range train {
			blas32.Axpy(1, x[r*d:(r+1)*d], c[int(lab[i])*d:(int(lab[i])+1)*d])
			cnt[lab[i]]++
		}
		for j := 0; j < k; j++ {
			cj := c[j*d : (j+1)*d]
			if cnt[j] == 0 { // an empty cluster restarts at a random document
				copy(cj, x[train[rng.IntN(len(train))]*d:])
				continue
			}
			var ss float64
			for _, v := range cj {
				ss += float64(v) * float64(v)
			}
			if ss > 0 {
				blas32.Scale(float32(1/math.Sqrt(ss)), cj)
			}
		}
	}
	all := make([]int, N)
	for i := range all {
		all[i] = i
	}
	t.cluster = make([]int32, N)
	assign(all, t.cluster)
	t.members = make([][]int32, k)
	for i, j := range t.cluster {
		t.members[j] = append(t.members[j], int32(i))
	}
}

// sampleGrouped draws B distinct documents in groups: a uniform document,
// then up to Group−1 more drawn uniformly from its cluster.
func (t *Trainer) sampleGrouped(B int) []int {
	seen := make(map[int]bool, B)
	out := make([]int, 0, B)
	for len(out) < B {
		d := t.rng.IntN(len(t.docs))
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
		mem := t.members[t.cluster[d]]
		for tries := 0; tries < 2*t.o.Group && len(out) < B && len(out)%t.o.Group != 0; tries++ {
			e := int(mem[t.rng.IntN(len(mem))])
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out
}
