// Package statictune trains a static embedding model (encoder/static: a
// text is the normalised sum of its tokens' vectors) with a contrastive
// objective on the corpus alone, starting from the training-free PPMI/SVD
// model of package contrastive/ppmi, so that step 0 is exactly that
// model.
//
// Each step draws Batch distinct documents; from each it cuts a short
// query crop and a longer key crop (optionally with token deletion), embeds both
// as the normalised sum of the crop's token rows, and minimises InfoNCE
// over the batch (each query's negatives are the other documents' keys;
// optionally also each key against the queries). The forward pass is a
// sum of rows and the backward pass a scatter-add into the touched rows,
// so batches of thousands of pairs are cheap on a CPU. The rows are
// updated by a lazy (sparse) Adam: only rows touched in the step move.
// An optional pull towards the initial rows (Anchor) keeps the model near
// its start.
//
// Options also hold components that were measured on SciFact train
// queries and not adopted (the project README's "Against the hybrid
// ceiling"): residual training against BM25, BM25 as a teacher, titles as
// queries, topical batches, a crop-length curriculum and a MoCo queue.
//
// Training is deterministic for a seed, and the trainer's whole state
// (weights, moments, step, random generator) round-trips through
// MarshalBinary, so a resumed run continues bit for bit.
package statictune

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/contriever-go/contriever/internal/blas32"
)

// Options configure a Trainer. Zero fields take the defaults of
// DefaultOptions.
type Options struct {
	Batch       int     // documents (pairs) per step
	Temperature float64 // τ of InfoNCE
	QueryMin    int     // shortest query crop, tokens
	QueryMax    int     // longest query crop, tokens
	KeyMin      int     // shortest key crop, tokens
	KeyMax      int     // longest key crop, tokens
	Deletion    float64 // probability of deleting each token of a crop (0 or negative: none)
	// Symmetric adds the key→query direction of InfoNCE.
	Symmetric bool
	// Anchor is the weight of ½·Anchor·‖W − W₀‖²/rms² per touched row (0:
	// none), rms being the initial rows' root mean square entry.
	Anchor float64
	// Group > 0 draws each batch in topical groups of up to Group
	// documents from one cluster of the initial embeddings (see
	// cluster.go); 0 draws documents uniformly.
	Group int
	// Lexical > 0 adds Lexical times BM25's score of each query crop
	// against each key crop, divided by the query's best, to the logits:
	// residual training against BM25 (see lexical.go).
	Lexical float64
	// Distill in (0, 1] makes BM25 a teacher over the batch, after SPAR's
	// Λ (Chen et al., 2021): each query crop's target is (1 − Distill) on
	// its own key plus Distill times the softmax, at temperature τ, of
	// BM25's scores of it against every key crop, divided by its best
	// (see lexical.go); 1 trains the model to reproduce BM25's ranking
	// alone. It is not combined with Symmetric.
	Distill float64
	// Curriculum > 0 (and ≠ 1) scales the query crops' lengths by
	// Curriculum at step 0, moving linearly to 1 at step CurriculumSteps
	// (a crop-length curriculum: above 1, long and easy queries first;
	// below 1, short and hard ones first).
	Curriculum      float64
	CurriculumSteps int
	// Queue > 0 keeps the keys of the last Queue pairs as extra negatives,
	// as MoCo does (He et al., 2020): they get no gradient, and a queued
	// key of a document in the batch is left out of that query's
	// negatives. Momentum in (0, 1) embeds the keys with a momentum copy
	// of the rows, W̄ ← Momentum·W̄ + (1 − Momentum)·W after every step, and
	// the keys then get no gradient either (0: the current rows, keys
	// trained as without a queue). The queue is saved in the state; the
	// momentum rows are not, so a run with Momentum does not resume
	// (MarshalBinary fails). Neither combines with Symmetric or Distill.
	Queue    int
	Momentum float64
	// Disjoint cuts the key crop from the document outside the query
	// crop (shortened when the rest is shorter), so the pair shares no
	// span.
	Disjoint bool
	// DisjointBelow gives documents shorter than this many tokens
	// disjoint crops (as Disjoint does for all; 0: none). A document no
	// longer than the mean key crop is mostly covered by its key, so an
	// overlapping pair shares the query's tokens and teaches only lexical
	// identity; the recipe sets it to the mean key crop, (KeyMin +
	// KeyMax)/2.
	DisjointBelow int
	// TitleRate is the probability that a document with a title (see
	// SetTitles) gives its title as the query crop and a crop of the rest
	// as the key, instead of two crops.
	TitleRate float64
	// SeparateQueries embeds the query crops (and titles) with their own
	// rows, started equal to the key rows and trained beside them, so
	// that the model embeds queries and documents asymmetrically (a
	// sentence-transformers Router folder: see encoder/static). The
	// recipe turns it on with titles as queries (UseSeparateQueries):
	// without a query-like signal the query rows learn only the crops.
	SeparateQueries bool
	Seed            uint64
}

// RecipeTitleRate is the recipe's Options.TitleRate: titles as queries,
// with separate query rows where UseSeparateQueries says (chosen on
// SciFact train queries; README, "Tuning the static model"). `contriever
// train` sets both; DefaultOptions leaves them out.
const RecipeTitleRate = 0.2

// DefaultOptions returns the recipe's crop, batch and loss settings,
// chosen on SciFact train queries (see the project README's ablation
// table); the recipe adds titles as queries (RecipeTitleRate) and
// separate query rows (UseSeparateQueries) where the corpus has titles.
func DefaultOptions() Options {
	return Options{Batch: 1024, Temperature: 0.05, QueryMin: 4, QueryMax: 32, KeyMin: 32, KeyMax: 256, DisjointBelow: (32 + 256) / 2, Seed: 1}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Batch == 0 {
		o.Batch = d.Batch
	}
	if o.Temperature == 0 {
		o.Temperature = d.Temperature
	}
	if o.QueryMin == 0 {
		o.QueryMin = d.QueryMin
	}
	if o.QueryMax == 0 {
		o.QueryMax = d.QueryMax
	}
	if o.KeyMin == 0 {
		o.KeyMin = d.KeyMin
	}
	if o.KeyMax == 0 {
		o.KeyMax = d.KeyMax
	}
	if o.Deletion < 0 {
		o.Deletion = 0
	}
	if o.Seed == 0 {
		o.Seed = d.Seed
	}
	return o
}

// ErrOptions reports invalid Options or inputs.
var ErrOptions = errors.New("statictune: invalid options")

func (o Options) validate() error {
	switch {
	case o.Batch < 2 || o.Batch > 1<<16:
		return fmt.Errorf("%w: batch %d (want 2..65536)", ErrOptions, o.Batch)
	case !(o.Temperature > 0) || math.IsInf(o.Temperature, 0):
		return fmt.Errorf("%w: temperature %g", ErrOptions, o.Temperature)
	case o.QueryMin < 1 || o.QueryMax < o.QueryMin || o.KeyMin < 1 || o.KeyMax < o.KeyMin || o.KeyMax > 1<<16 || o.QueryMax > 1<<16:
		return fmt.Errorf("%w: crops query %d..%d, key %d..%d", ErrOptions, o.QueryMin, o.QueryMax, o.KeyMin, o.KeyMax)
	case !(o.Deletion >= 0 && o.Deletion < 1):
		return fmt.Errorf("%w: deletion %g (want [0, 1))", ErrOptions, o.Deletion)
	case o.Group < 0 || o.Group > o.Batch:
		return fmt.Errorf("%w: group %d (want 0..batch %d)", ErrOptions, o.Group, o.Batch)
	case !(o.Anchor >= 0) || math.IsInf(o.Anchor, 0):
		return fmt.Errorf("%w: anchor %g", ErrOptions, o.Anchor)
	case !(o.TitleRate >= 0 && o.TitleRate <= 1):
		return fmt.Errorf("%w: title rate %g (want [0, 1])", ErrOptions, o.TitleRate)
	case o.DisjointBelow < 0 || o.DisjointBelow > 1<<20:
		return fmt.Errorf("%w: disjoint below %d tokens (want 0..%d)", ErrOptions, o.DisjointBelow, 1<<20)
	case !(o.Lexical >= 0) || math.IsInf(o.Lexical, 0):
		return fmt.Errorf("%w: lexical weight %g", ErrOptions, o.Lexical)
	case !(o.Distill >= 0 && o.Distill <= 1):
		return fmt.Errorf("%w: distillation weight %g (want [0, 1])", ErrOptions, o.Distill)
	case o.Distill > 0 && o.Symmetric:
		return fmt.Errorf("%w: distillation with the symmetric loss", ErrOptions)
	case o.Queue < 0 || o.Queue > 1<<20 || !(o.Momentum >= 0 && o.Momentum < 1):
		return fmt.Errorf("%w: queue %d, momentum %g (want 0..%d and [0, 1))", ErrOptions, o.Queue, o.Momentum, 1<<20)
	case (o.Queue > 0 || o.Momentum > 0) && (o.Symmetric || o.Distill > 0):
		return fmt.Errorf("%w: a queue or momentum keys with the symmetric loss or distillation", ErrOptions)
	case !(o.Curriculum >= 0 && o.Curriculum <= 16) || o.CurriculumSteps < 0 || (o.Curriculum > 0) != (o.CurriculumSteps > 0):
		return fmt.Errorf("%w: curriculum %g over %d steps (want a scale in (0, 16] with steps > 0, or neither)", ErrOptions, o.Curriculum, o.CurriculumSteps)
	}
	return nil
}

// Adam's constants (β₁, β₂, ε relative to the row scale).
const (
	beta1 = 0.9
	beta2 = 0.999
	eps   = 1e-8
)

// Trainer trains the rows of a vocab×dim matrix.
type Trainer struct {
	o    Options
	docs [][]int32
	dim  int
	w    []float32 // the model's rows, trained in place
	w0   []float32 // initial rows (Anchor > 0)
	m, v []float32 // Adam moments
	rms  float64   // root mean square entry of the initial nonzero rows
	step int64
	fp   uint64 // fingerprint of the options, initial rows and documents
	src  *rand.PCG
	rng  *rand.Rand

	// scratch
	grad    []float32 // vocab×dim, zero outside the rows of touched
	touched []int32
	mark    []bool

	// topical batches (Group > 0), built by New from the initial rows
	cluster []int32   // each document's cluster
	members [][]int32 // each cluster's documents

	idf []float32 // each token's idf over the documents (Lexical or Distill > 0)

	keptIdx  []int   // each drawn document's index among New's docs
	titleLen []int32 // each drawn document's title length in tokens (SetTitles)

	passesPerStep float64 // PassesPerStep, computed on first use (0: not yet)

	// MoCo (Queue, Momentum)
	wm      []float32 // momentum rows (Momentum > 0)
	queue   []float32 // Queue×dim ring of keys, unit length
	queued  []int32   // the document of each queue slot (-1: empty)
	head    int       // next slot to fill
	lastK   []float32 // the last Loss's keys, with grad
	lastDoc []int32   // and their documents

	// SeparateQueries: the query rows, with their own moments and gradient
	wq, mq, vq, gradq []float32
	touchedq          []int32
	markq             []bool
}

// QueryWeight returns the rows that embed queries: the query rows with
// Options.SeparateQueries (trained in place, started as a copy of New's
// weight), else Weight.
func (t *Trainer) QueryWeight() []float32 {
	if t.wq != nil {
		return t.wq
	}
	return t.w
}

// New returns a trainer of the vocab×dim rows weight (trained in place)
// on docs (token ids, special tokens not added). Documents shorter than 2
// tokens are not drawn.
func New(weight []float32, dim int, docs [][]int32, o Options) (*Trainer, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	if dim < 1 || len(weight)%dim != 0 {
		return nil, fmt.Errorf("%w: %d weights for dim %d", ErrOptions, len(weight), dim)
	}
	V := len(weight) / dim
	var kept [][]int32
	var keptIdx []int
	for i, d := range docs {
		if drawable(d) {
			keptIdx = append(keptIdx, i)
			for _, id := range d {
				if id < 0 || int(id) >= V {
					return nil, fmt.Errorf("%w: token id %d outside a vocabulary of %d", ErrOptions, id, V)
				}
			}
			kept = append(kept, d)
		}
	}
	if len(kept) < o.Batch {
		return nil, fmt.Errorf("%w: %d documents of 2 tokens or more, fewer than a batch of %d", ErrOptions, len(kept), o.Batch)
	}
	var ss float64
	var n int
	for r := 0; r < V; r++ {
		row := weight[r*dim : (r+1)*dim]
		var rs float64
		for _, x := range row {
			rs += float64(x) * float64(x)
		}
		if rs > 0 {
			ss += rs
			n += dim
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: every row is zero", ErrOptions)
	}
	t := &Trainer{o: o, docs: kept, keptIdx: keptIdx, dim: dim, w: weight, rms: math.Sqrt(ss / float64(n)),
		m: make([]float32, len(weight)), v: make([]float32, len(weight)), grad: make([]float32, len(weight)), mark: make([]bool, V)}
	if o.Anchor > 0 {
		t.w0 = slices.Clone(weight)
	}
	t.fp = t.fingerprint(weight)
	if o.Momentum > 0 {
		t.wm = slices.Clone(weight)
	}
	if o.Queue > 0 {
		t.queue = make([]float32, o.Queue*dim)
		t.queued = make([]int32, o.Queue)
		for i := range t.queued {
			t.queued[i] = -1
		}
	}
	if o.SeparateQueries {
		t.wq = slices.Clone(weight)
		t.mq, t.vq, t.gradq = make([]float32, len(weight)), make([]float32, len(weight)), make([]float32, len(weight))
		t.markq = make([]bool, V)
	}
	if o.Group > 0 { // from the initial rows, before any state is restored
		t.buildClusters()
	}
	if o.Lexical > 0 || o.Distill > 0 {
		t.buildIDF()
	}
	t.src = rand.NewPCG(o.Seed, 0x5eed57a71c)
	t.rng = rand.New(t.src)
	return t, nil
}

// drawable reports whether a document can give a pair of crops: it has 2
// tokens or more.
func drawable(doc []int32) bool { return len(doc) >= 2 }

// Drawable returns the number of documents of docs that New draws from
// (those of 2 tokens or more); a batch can hold at most that many.
func Drawable(docs [][]int32) int {
	n := 0
	for _, d := range docs {
		if drawable(d) {
			n++
		}
	}
	return n
}

// Options returns the trainer's options (defaults filled in).
func (t *Trainer) Options() Options { return t.o }

// Steps returns the number of steps taken.
func (t *Trainer) Steps() int64 { return t.step }

// Weight returns the trained rows (not a copy).
func (t *Trainer) Weight() []float32 { return t.w }

// RMS returns the root mean square entry of the initial nonzero rows, the
// unit of the learning rate.
func (t *Trainer) RMS() float64 { return t.rms }

// crop cuts a random span of n tokens (n drawn uniformly in [lo, hi],
// capped at the document's length) from doc, with token deletion, into
// dst; at least one token is kept.
func (t *Trainer) crop(dst, doc []int32, lo, hi int) []int32 {
	n := lo + t.rng.IntN(hi-lo+1)
	n = min(n, len(doc))
	start := t.rng.IntN(len(doc) - n + 1)
	dst = dst[:0]
	for _, id := range doc[start : start+n] {
		if t.o.Deletion > 0 && t.rng.Float64() < t.o.Deletion {
			continue
		}
		dst = append(dst, id)
	}
	if len(dst) == 0 {
		dst = append(dst, doc[start+t.rng.IntN(n)])
	}
	return dst
}

// SetTitles gives the length in tokens of each document's title, the
// title being the first tokens of the document (n[i] for New's docs[i];
// 0: none). It must be called before the first step; it changes the
// state's fingerprint, so a state restores only with the same titles.
func (t *Trainer) SetTitles(n []int) error {
	if t.step > 0 {
		return fmt.Errorf("%w: titles set after %d steps", ErrOptions, t.step)
	}
	if len(n) < len(t.keptIdx) || (len(t.keptIdx) > 0 && len(n) <= t.keptIdx[len(t.keptIdx)-1]) {
		return fmt.Errorf("%w: %d title lengths for the documents given to New", ErrOptions, len(n))
	}
	t.titleLen = make([]int32, len(t.docs))
	h := fnv.New64a()
	binary.Write(h, binary.LittleEndian, t.fp)
	for i, j := range t.keptIdx {
		if n[j] < 0 {
			return fmt.Errorf("%w: title length %d of document %d", ErrOptions, n[j], j)
		}
		t.titleLen[i] = int32(min(n[j], len(t.docs[i])))
		binary.Write(h, binary.LittleEndian, t.titleLen[i])
	}
	t.fp = h.Sum64()
	return nil
}

// SetQueryStart starts the query rows (Options.SeparateQueries) at q
// instead of a copy of New's weight: the query rows of an asymmetric
// start, so that step 0 embeds queries as the start does. It must be
// called before the first step; it changes the state's fingerprint, so a
// state restores only with the same start.
func (t *Trainer) SetQueryStart(q []float32) error {
	switch {
	case t.wq == nil:
		return fmt.Errorf("%w: query rows to start from without separate query rows", ErrOptions)
	case t.step > 0:
		return fmt.Errorf("%w: query rows set after %d steps", ErrOptions, t.step)
	case len(q) != len(t.wq):
		return fmt.Errorf("%w: %d query weights for %d rows", ErrOptions, len(q), len(t.wq))
	}
	copy(t.wq, q)
	h := fnv.New64a()
	binary.Write(h, binary.LittleEndian, t.fp)
	var b [4]byte
	for _, x := range q {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		h.Write(b[:])
	}
	t.fp = h.Sum64()
	return nil
}

// pair cuts a query crop and a key crop from document d.
func (t *Trainer) pair(d int) (q, k []int32) {
	doc := t.docs[d]
	if t.o.TitleRate > 0 && t.titleLen != nil {
		// The title as the query (at most QueryMax tokens), the key from
		// the rest, when both are there.
		if n := int(t.titleLen[d]); n > 0 && n < len(doc) && t.rng.Float64() < t.o.TitleRate {
			rest := doc[n:]
			return slices.Clone(doc[:min(n, t.o.QueryMax)]), t.crop(nil, rest, min(t.o.KeyMin, len(rest)), t.o.KeyMax)
		}
	}
	qlo, qhi := t.queryRange()
	if !t.o.Disjoint && len(doc) >= t.o.DisjointBelow {
		return t.crop(nil, doc, qlo, qhi), t.crop(nil, doc, t.o.KeyMin, t.o.KeyMax)
	}
	// The query crop, then the key crop from the longer of the parts
	// before and after it (a document of 2 tokens gives one each).
	n := min(qlo+t.rng.IntN(qhi-qlo+1), len(doc)-1)
	start := t.rng.IntN(len(doc) - n + 1)
	q = t.crop(nil, doc[start:start+n], n, n)
	rest := doc[:start]
	if len(doc)-start-n > start {
		rest = doc[start+n:]
	}
	return q, t.crop(nil, rest, min(t.o.KeyMin, len(rest)), t.o.KeyMax)
}

// queryRange returns the shortest and longest query crop at the current
// step: QueryMin and QueryMax, scaled by the curriculum while it lasts.
func (t *Trainer) queryRange() (lo, hi int) {
	lo, hi = t.o.QueryMin, t.o.QueryMax
	if t.o.Curriculum <= 0 || t.step >= int64(t.o.CurriculumSteps) {
		return lo, hi
	}
	f := float64(t.step) / float64(t.o.CurriculumSteps)
	c := t.o.Curriculum + (1-t.o.Curriculum)*f
	lo = max(1, int(math.Round(float64(lo)*c)))
	return lo, max(lo, int(math.Round(float64(hi)*c)))
}

// Batch is one step's examples: query and key crops of Batch distinct
// documents.
type Batch struct {
	Queries, Keys [][]int32
	docs          []int32 // each pair's document (Sample; for the queue)
}

// Sample draws the next step's batch.
func (t *Trainer) Sample() Batch {
	B := t.o.Batch
	b := Batch{Queries: make([][]int32, B), Keys: make([][]int32, B), docs: make([]int32, B)}
	if t.o.Group > 0 {
		for i, d := range t.sampleGrouped(B) {
			b.Queries[i], b.Keys[i] = t.pair(d)
			b.docs[i] = int32(d)
		}
		return b
	}
	seen := make(map[int]bool, B)
	for i := 0; i < B; {
		d := t.rng.IntN(len(t.docs))
		if seen[d] {
			continue
		}
		seen[d] = true
		b.Queries[i], b.Keys[i] = t.pair(d)
		b.docs[i] = int32(d)
		i++
	}
	return b
}

// embed writes the normalised sums of the rows of each text into out
// (len(texts)×dim) and returns the norms of the sums.
func (t *Trainer) embed(texts [][]int32, out []float32) []float64 {
	return t.embedWith(t.w, texts, out)
}

// embedWith is embed over the rows w.
func (t *Trainer) embedWith(w []float32, texts [][]int32, out []float32) []float64 {
	d := t.dim
	norms := make([]float64, len(texts))
	for i, ids := range texts {
		e := out[i*d : (i+1)*d]
		clear(e)
		for _, id := range ids {
			blas32.Axpy(1, w[int(id)*d:(int(id)+1)*d], e)
		}
		var ss float64
		for _, x := range e {
			ss += float64(x) * float64(x)
		}
		norms[i] = math.Sqrt(ss)
		if norms[i] > 0 {
			blas32.Scale(float32(1/norms[i]), e)
		}
	}
	return norms
}

// infoNCE returns the mean cross-entropy of the rows of logits (n×m,
// m ≥ n) against their targets and overwrites logits with the gradient of
// that mean with respect to them, times scale. The target of row i is the
// positive in column i, or, when target is not nil (n×m, rows summing to
// 1), its row i.
func infoNCE(logits, target []float32, n, m int, scale float64) float64 {
	var loss float64
	for i := 0; i < n; i++ {
		row := logits[i*m : (i+1)*m]
		mx := slices.Max(row)
		var z float64
		for _, x := range row {
			z += math.Exp(float64(x - mx))
		}
		lz := math.Log(z)
		if target == nil {
			loss += lz - float64(row[i]-mx)
		} else {
			for j, p := range target[i*m : (i+1)*m] {
				if p > 0 {
					loss += float64(p) * (lz - float64(row[j]-mx))
				}
			}
		}
		for j, x := range row {
			p := math.Exp(float64(x-mx)) / z
			switch {
			case target != nil:
				p -= float64(target[i*m+j])
			case j == i:
				p--
			}
			row[j] = float32(p * scale / float64(n))
		}
	}
	return loss / float64(n)
}

// teacher returns the targets of Options.Distill for a batch: row i is
// (1 − Distill) on the diagonal plus Distill times the softmax at
// temperature τ of bm25, BM25's scores of query i against every key,
// each row divided by its best (a row of zeros: all on the diagonal).
func (t *Trainer) teacher(bm25 []float32, n int) []float32 {
	mu := t.o.Distill
	inv := 1 / t.o.Temperature
	out := make([]float32, n*n)
	for i := 0; i < n; i++ {
		row := bm25[i*n : (i+1)*n]
		mx := float64(slices.Max(row))
		if mx <= 0 { // no key shares a token with the query: its own key
			out[i*n+i] = 1
			continue
		}
		var z float64
		for _, x := range row {
			z += math.Exp((float64(x) - mx) * inv)
		}
		for j, x := range row {
			out[i*n+j] = float32(mu * math.Exp((float64(x)-mx)*inv) / z)
		}
		out[i*n+i] += float32(1 - mu)
	}
	return out
}

// Loss returns the loss of batch b under the current rows and, when grad
// is true, leaves its gradient with respect to the rows in t.grad (rows in
// t.touched).
func (t *Trainer) Loss(b Batch, grad bool) float64 {
	B, d := len(b.Queries), t.dim
	Q := len(t.queued)
	cols := B + Q // the batch's keys, then the queue's
	q := make([]float32, B*d)
	k := make([]float32, cols*d)
	nq := t.embedWith(t.QueryWeight(), b.Queries, q)
	keyRows := t.w
	if t.wm != nil {
		keyRows = t.wm
	}
	nk := t.embedWith(keyRows, b.Keys, k[:B*d])
	copy(k[B*d:], t.queue)
	invTau := float32(1 / t.o.Temperature)
	s := make([]float32, B*cols)
	blas32.Sgemm(false, true, B, cols, d, invTau, q, d, k, d, 0, s, cols)
	if Q > 0 { // empty slots, and the queued keys of the batch's own documents, are no negatives
		slot := make(map[int32][]int, Q)
		for e, doc := range t.queued {
			slot[doc] = append(slot[doc], e)
		}
		for i := 0; i < B; i++ {
			for _, e := range slot[-1] {
				s[i*cols+B+e] = float32(math.Inf(-1))
			}
			if b.docs != nil {
				for _, e := range slot[b.docs[i]] {
					s[i*cols+B+e] = float32(math.Inf(-1))
				}
			}
		}
	}
	var target []float32
	if t.o.Lexical > 0 || t.o.Distill > 0 {
		lex := t.lexical(b.Queries, b.Keys)
		if t.o.Distill > 0 {
			target = t.teacher(lex, B)
		}
		if t.o.Lexical > 0 { // the batch's keys only; the queue's have no crops
			lam := float32(t.o.Lexical)
			for i, x := range lex {
				s[i/B*cols+i%B] += lam * x
			}
		}
	}
	var sT []float32
	if t.o.Symmetric {
		sT = make([]float32, B*B)
		for i := 0; i < B; i++ {
			for j := 0; j < B; j++ {
				sT[j*B+i] = s[i*B+j]
			}
		}
	}
	w := 1.0
	if t.o.Symmetric {
		w = 0.5
	}
	loss := w * infoNCE(s, target, B, cols, w)
	if t.o.Symmetric {
		loss += w * infoNCE(sT, nil, B, B, w)
	}
	if !grad {
		return loss
	}
	if Q > 0 {
		t.lastK, t.lastDoc = k[:B*d], b.docs
	}
	// s now holds dL/dS (S = Q·Kᵀ/τ); sT dL/dSᵀ.
	if t.o.Symmetric {
		for i := 0; i < B; i++ {
			for j := 0; j < B; j++ {
				s[i*B+j] += sT[j*B+i]
			}
		}
	}
	gq := make([]float32, B*d)
	blas32.Sgemm(false, false, B, d, cols, invTau, s, cols, k, d, 0, gq, d) // dL/dQ = G·K/τ
	if t.wq != nil {
		t.scatterTo(t.gradq, t.markq, &t.touchedq, b.Queries, q, gq, nq)
	} else {
		t.scatter(b.Queries, q, gq, nq)
	}
	if t.wm == nil { // the batch's keys are trained too (not the queue's)
		gk := make([]float32, B*d)
		blas32.Sgemm(true, false, B, d, B, invTau, s, cols, q, d, 0, gk, d) // dL/dK = Gᵀ·Q/τ
		t.scatter(b.Keys, k[:B*d], gk, nk)
	}
	return loss
}

// scatter adds the gradient with respect to each text's rows: through
// e = u/‖u‖, dL/du = (g − e(e·g))/‖u‖, added once per occurrence of a
// token.
func (t *Trainer) scatter(texts [][]int32, e, g []float32, norms []float64) {
	t.scatterTo(t.grad, t.mark, &t.touched, texts, e, g, norms)
}

// scatterTo is scatter into the gradient grad of a row table, marking
// the rows it touches in mark and touched.
func (t *Trainer) scatterTo(grad []float32, mark []bool, touched *[]int32, texts [][]int32, e, g []float32, norms []float64) {
	d := t.dim
	for i, ids := range texts {
		if norms[i] == 0 {
			continue
		}
		ei, gi := e[i*d:(i+1)*d], g[i*d:(i+1)*d]
		dot := blas32.Dot(ei, gi)
		blas32.Axpy(-dot, ei, gi)
		blas32.Scale(float32(1/norms[i]), gi)
		for _, id := range ids {
			if !mark[id] {
				mark[id] = true
				*touched = append(*touched, id)
			}
			blas32.Axpy(1, gi, grad[int(id)*d:(int(id)+1)*d])
		}
	}
}

// Step takes one optimiser step at learning rate lr (in units of the
// initial rows' rms entry) and returns the batch's loss before the step.
func (t *Trainer) Step(lr float64) float64 {
	return t.stepOn(t.Sample(), lr)
}

// stepOn is Step on batch b.
func (t *Trainer) stepOn(b Batch, lr float64) float64 {
	loss := t.Loss(b, true)
	t.step++
	slices.Sort(t.touched)
	d := t.dim
	bc1 := 1 - math.Pow(beta1, float64(t.step))
	bc2 := 1 - math.Pow(beta2, float64(t.step))
	alpha := float32(lr * t.rms * math.Sqrt(bc2) / bc1)
	e := float32(eps * t.rms)
	anchor := float32(t.o.Anchor / (t.rms * t.rms))
	for _, id := range t.touched {
		lo, hi := int(id)*d, (int(id)+1)*d
		g, w := t.grad[lo:hi], t.w[lo:hi]
		if t.w0 != nil {
			w0 := t.w0[lo:hi]
			for j := range g {
				g[j] += anchor * (w[j] - w0[j])
			}
		}
		adam(w, t.m[lo:hi], t.v[lo:hi], g, alpha, e)
		t.mark[id] = false
	}
	t.touched = t.touched[:0]
	for _, id := range t.touchedq { // the query rows: no anchor
		lo, hi := int(id)*d, (int(id)+1)*d
		adam(t.wq[lo:hi], t.mq[lo:hi], t.vq[lo:hi], t.gradq[lo:hi], alpha, e)
		t.markq[id] = false
	}
	t.touchedq = t.touchedq[:0]
	t.enqueue()
	if t.wm != nil {
		m := float32(t.o.Momentum)
		for i, x := range t.w {
			t.wm[i] = m*t.wm[i] + (1-m)*x
		}
	}
	return loss
}

// adam moves the row w by one bias-corrected Adam step (alpha holds the
// corrections) on its gradient g, updating its moments m and v, and
// clears g.
func adam(w, m, v, g []float32, alpha, e float32) {
	for j, gj := range g {
		m[j] = beta1*m[j] + (1-beta1)*gj
		v[j] = beta2*v[j] + (1-beta2)*gj*gj
		w[j] -= alpha * m[j] / (float32(math.Sqrt(float64(v[j]))) + e)
	}
	clear(g)
}

// enqueue pushes the last step's keys into the queue (Queue > 0),
// overwriting the oldest.
func (t *Trainer) enqueue() {
	d := t.dim
	for i, doc := range t.lastDoc {
		copy(t.queue[t.head*d:(t.head+1)*d], t.lastK[i*d:(i+1)*d])
		t.queued[t.head] = doc
		t.head = (t.head + 1) % len(t.queued)
	}
	t.lastK, t.lastDoc = nil, nil
}

// SeparateQueriesMinTitled is the share of documents that must give a
// title query (a title with text after it) for the recipe to embed
// queries with their own rows (UseSeparateQueries).
const SeparateQueriesMinTitled = 0.5

// UseSeparateQueries reports whether the recipe gives queries their own
// rows (Options.SeparateQueries) on the documents docs with titles of
// titleLen tokens (docs[i]'s first titleLen[i] tokens; nil or 0: none):
// when titles are queries (titleRate > 0) and at least
// SeparateQueriesMinTitled of the documents of 2 tokens or more have a
// title with text after it. On SciFact train queries the query rows lift
// both dense and fused nDCG@10 with titles as queries, but on a corpus of
// short documents with no titles they learn only the crops and take dense
// below the static start (README, "Tuning the static model").
func UseSeparateQueries(titleRate float64, docs [][]int32, titleLen []int) bool {
	if !(titleRate > 0) || len(titleLen) < len(docs) {
		return false
	}
	var drawn, titled int
	for i, d := range docs {
		if !drawable(d) {
			continue
		}
		drawn++
		if titleLen[i] > 0 && titleLen[i] < len(d) {
			titled++
		}
	}
	return drawn > 0 && float64(titled) >= SeparateQueriesMinTitled*float64(drawn)
}
