package nn

// EmbeddingForward sets out[t] = table[ids[t]] for every position t, each
// row C wide: out is [len(ids), C], table is [rows, C]. If accumulate is
// true the rows are added to out instead (BERT sums its word, token-type
// and position embeddings this way). An id outside the table panics: the
// caller validates ids against the vocabulary.
func EmbeddingForward(out []float32, ids []int32, table []float32, C int, accumulate bool) {
	for t, id := range ids {
		row := table[int(id)*C : int(id)*C+C]
		o := out[t*C : t*C+C]
		if accumulate {
			for i, v := range row {
				o[i] += v
			}
		} else {
			copy(o, row)
		}
	}
}

// EmbeddingBackward scatter-adds dout[t] into dtable[ids[t]]: only the rows
// that were looked up are touched (a sparse gradient). Use UsedRows to
// learn which rows those are.
func EmbeddingBackward(dtable, dout []float32, ids []int32, C int) {
	for t, id := range ids {
		d := dtable[int(id)*C : int(id)*C+C]
		g := dout[t*C : t*C+C]
		for i, v := range g {
			d[i] += v
		}
	}
}

// PositionEmbeddingForward adds table[t] to out[b, t] for every batch row b
// and position t < T (absolute positions 0..T-1, as HF's default
// position_ids): out is [B, T, C].
func PositionEmbeddingForward(out, table []float32, B, T, C int) {
	for b := 0; b < B; b++ {
		for t := 0; t < T; t++ {
			o := out[(b*T+t)*C : (b*T+t)*C+C]
			row := table[t*C : t*C+C]
			for i, v := range row {
				o[i] += v
			}
		}
	}
}

// PositionEmbeddingBackward adds the sum over the batch of dout[b, t] into
// dtable[t] for t < T.
func PositionEmbeddingBackward(dtable, dout []float32, B, T, C int) {
	for b := 0; b < B; b++ {
		for t := 0; t < T; t++ {
			g := dout[(b*T+t)*C : (b*T+t)*C+C]
			d := dtable[t*C : t*C+C]
			for i, v := range g {
				d[i] += v
			}
		}
	}
}

// UsedRows returns the distinct ids in ascending order: the rows of an
// embedding table that EmbeddingBackward touched, for sparse optimiser
// updates or zeroing.
func UsedRows(ids []int32) []int32 {
	if len(ids) == 0 {
		return nil
	}
	maxID := int32(0)
	for _, id := range ids {
		maxID = max(maxID, id)
	}
	seen := make([]bool, int(maxID)+1)
	for _, id := range ids {
		seen[id] = true
	}
	var rows []int32
	for id, s := range seen {
		if s {
			rows = append(rows, int32(id))
		}
	}
	return rows
}
