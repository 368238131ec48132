package statictune

import (
	"math"
	"slices"
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

// buildIDF computes Lucene's idf, log(1 + (N − df + ½)/(df + ½)), of
// every token over the training documents.
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
			t.idf[id] = float32(math.Log(1 + (N-float64(n)+0.5)/(float64(n)+0.5)))
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
		sorted = append(sorted[:0], k...)
		slices.Sort(sorted)
		norm := lexK1 * (1 - lexB + lexB*float64(len(k))/avg)
		for a := 0; a < len(sorted); {
			b := a + 1
			for b < len(sorted) && sorted[b] == sorted[a] {
				b++
			}
			tf := float64(b - a)
			head[sorted[a]] = append(head[sorted[a]], posting{int32(j), float32(tf * (lexK1 + 1) / (tf + norm))})
			a = b
		}
	}
	out := make([]float32, B*B)
	for i, q := range queries {
		row := out[i*B : (i+1)*B]
		sorted = append(sorted[:0], q...)
		slices.Sort(sorted)
		for a := 0; a < len(sorted); {
			b := a + 1
			for b < len(sorted) && sorted[b] == sorted[a] {
				b++
			}
			w := t.idf[sorted[a]] * float32(b-a)
			for _, p := range head[sorted[a]] {
				row[p.key] += w * p.tf
			}
			a = b
		}
		mx := slices.Max(row)
		if mx > 0 {
			for j := range row {
				row[j] /= mx
			}
		}
	}
	return out
}
