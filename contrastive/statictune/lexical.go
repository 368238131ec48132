package statictune

import (
	"slices"

	"github.com/contriever-go/contriever/contrastive/ppmi"
)

// Residual training against BM25 (Options.Lexical > 0), after CLEAR (Gao
// et al., 2021, "Complement Lexical Retrieval Model with Semantic Residual
// Embeddings"): the logit of query crop i against key crop j becomes
//
//	cos(qᵢ, kⱼ)/τ + λ·bm25(qᵢ, kⱼ)/maxⱼ bm25(qᵢ, kⱼ)
//
// so the softmax already knows what BM25 knows. Pairs that BM25 ranks
// right cost little, keys that BM25 wrongly ranks high weigh more as
// negatives, and the dense model learns what BM25 misses: the part that
// helps when the two are fused (the fused score is the same kind of sum,
// min-max normalised). BM25 here is computed over the batch's key crops
// with the corpus's document frequencies (Lucene's idf, k1 0.9, b 0.4,
// lengths relative to the batch's mean key length); the term is a
// constant of the logits, so the gradient's form does not change.

// BM25's parameters for the crops (Pyserini's defaults).
const (
	lexK1 = 0.9
	lexB  = 0.4
)

// buildIDF computes Lucene's idf (ppmi.IDF) of every token over the
// training documents.
func (t *Trainer) buildIDF() {
	V := len(t.w) / t.dim
	df := make([]int32, V)
	last := make([]int32, V)
	for i := range last {
		last[i] = -1
	}
	for i, d := range t.docs {
		for _, id := range d {
			if last[id] != int32(i) {
				last[id] = int32(i)
				df[id]++
			}
		}
	}
	N := float64(len(t.docs))
	t.idf = make([]float32, V)
	for id, n := range df {
		if n > 0 {
			t.idf[id] = float32(ppmi.IDF(N, float64(n)))
		}
	}
}

// lexical returns the B×B matrix of BM25 scores of each query crop
// against each key crop, each row divided by its maximum (a row whose
// scores are all zero stays zero).
func (t *Trainer) lexical(queries, keys [][]int32) []float32 {
	B := len(keys)
	// Postings of the key crops: for every token, the keys that hold it
	// and how often.
	type posting struct {
		key int32
		tf  float32
	}
	var avg float64
	for _, k := range keys {
		avg += float64(len(k))
	}
	avg /= float64(B)
	head := make(map[int32][]posting, 4*B)
	sorted := make([]int32, 0, 256)
	for j, k := range keys {
		norm := lexK1 * (1 - lexB + lexB*float64(len(k))/avg)
		sorted = termCounts(sorted, k, func(id int32, n int) {
			tf := float64(n)
			head[id] = append(head[id], posting{int32(j), float32(tf * (lexK1 + 1) / (tf + norm))})
		})
	}
	out := make([]float32, B*B)
	for i, q := range queries {
		row := out[i*B : (i+1)*B]
		sorted = termCounts(sorted, q, func(id int32, n int) {
			w := t.idf[id] * float32(n)
			for _, p := range head[id] {
				row[p.key] += w * p.tf
			}
		})
		mx := slices.Max(row)
		if mx > 0 {
			for j := range row {
				row[j] /= mx
			}
		}
	}
	return out
}

// termCounts calls f with every distinct token of text and its count, in
// increasing token order, sorting a copy of text in buf (returned for
// reuse).
func termCounts(buf, text []int32, f func(id int32, n int)) []int32 {
	buf = append(buf[:0], text...)
	slices.Sort(buf)
	for a := 0; a < len(buf); {
		b := a + 1
		for b < len(buf) && buf[b] == buf[a] {
			b++
		}
		f(buf[a], b-a)
		a = b
	}
	return buf
}
