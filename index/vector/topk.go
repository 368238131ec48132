package vector

import (
	"math"
	"sort"
)

var negInf = float32(math.Inf(-1))

// entry is one candidate of a top-k selection.
type entry struct {
	score float32
	id    string
}

// worse reports whether a ranks below b: lower score, or equal score and
// smaller id (ties break by id descending, the trec_eval order of
// document.Compare, the rule of every ranked list of the project).
func worse(a, b entry) bool {
	return a.score < b.score || (a.score == b.score && a.id < b.id)
}

// topK keeps the best k entries seen in a min-heap whose root is the worst
// kept entry. Its result does not depend on the order of offers.
type topK struct {
	k int
	e []entry
	// thr is the score a candidate must reach to be considered: -Inf while
	// the heap is not full, else the root's score.
	thr float32
}

func newTopK(k int, buf []entry) topK {
	return topK{k: k, e: buf[:0], thr: negInf}
}

func (h *topK) reset() {
	h.e = h.e[:0]
	h.thr = negInf
}

// offer considers (score, id). Callers may skip scores below h.thr; scores
// equal to h.thr are decided by id here.
func (h *topK) offer(score float32, id string) {
	c := entry{score, id}
	if h.k <= 0 {
		return
	}
	if len(h.e) < h.k {
		h.e = append(h.e, c)
		// sift up
		i := len(h.e) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !worse(h.e[i], h.e[p]) {
				break
			}
			h.e[i], h.e[p] = h.e[p], h.e[i]
			i = p
		}
		if len(h.e) == h.k {
			h.thr = h.e[0].score
		}
		return
	}
	if !worse(h.e[0], c) {
		return
	}
	h.e[0] = c
	// sift down
	n := len(h.e)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && worse(h.e[r], h.e[l]) {
			m = r
		}
		if !worse(h.e[m], h.e[i]) {
			break
		}
		h.e[i], h.e[m] = h.e[m], h.e[i]
		i = m
	}
	h.thr = h.e[0].score
}

// scan offers every score of row (scores of the vectors with ids[j]).
func (h *topK) scan(row []float32, ids []string) {
	thr := h.thr
	for j, s := range row {
		if s >= thr {
			h.offer(s, ids[j])
			thr = h.thr
		}
	}
}

// results returns the kept entries sorted by score descending, then id
// descending.
func (h *topK) results() []Result {
	out := make([]Result, len(h.e))
	es := h.e
	sort.Slice(es, func(i, j int) bool { return worse(es[j], es[i]) })
	for i, e := range es {
		out[i] = Result{ID: e.id, Score: e.score}
	}
	return out
}
