package finetune

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/index/vector"
)

// Searcher answers a batch of query texts with the k best passages of a
// set each, best first, the passages named by their index in the set's
// Passages written in decimal (as the indexes BuildBM25 and NewDense make
// name them). *bm25.Index is one; Dense is another.
type Searcher interface {
	SearchBatch(ctx context.Context, queries []string, k int) ([][]beir.Hit, error)
}

// BuildBM25 indexes every passage of set (title + " " + text, the flat
// field) in a new BM25 index in dir, each under its index in the set. The
// index uses Pyserini's BEIR parameters (k1 0.9, b 0.4) and exact lengths;
// its searches run on all cores.
func BuildBM25(ctx context.Context, dir string, set *Set, quiet bool) (*bm25.Index, error) {
	each := func(fn func(beir.Doc) error) error {
		for i, p := range set.Passages {
			if err := fn(beir.Doc{ID: strconv.Itoa(i), Title: p.Title, Text: p.Text}); err != nil {
				return err
			}
		}
		return nil
	}
	return bm25.Build(ctx, dir, each, bm25.Options{Quiet: quiet, Total: len(set.Passages)})
}

// Dense is an exact dense retriever over a set's passages: their
// embeddings by a model (Contriever pooling, inner product) in a flat
// index.
type Dense struct {
	enc engine.Encoder
	ix  *vector.Flat
}

// NewDenseFromVectors returns the exact dense retriever over passage
// vectors already computed (row i for passage i, enc.Dim() floats a row);
// enc embeds the queries (any engine.Embedder, static models included).
func NewDenseFromVectors(enc engine.Encoder, vecs []float32) (*Dense, error) {
	d := enc.Dim()
	if d < 1 || len(vecs)%d != 0 {
		return nil, fmt.Errorf("finetune: %d floats are not rows of dimension %d", len(vecs), d)
	}
	ix, err := vector.NewFlat(d)
	if err != nil {
		return nil, err
	}
	n := len(vecs) / d
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	if n > 0 {
		if err := ix.Add(ids, vecs); err != nil {
			return nil, err
		}
	}
	return &Dense{enc: enc, ix: ix}, nil
}

// NewDense embeds every passage of set with enc (in chunks, calling
// progress with the number done) into a flat inner-product index. The
// encoder's conventions apply: its document prompt before each passage,
// its query prompt before each query (engine.OpenModelEncoder).
func NewDense(ctx context.Context, enc *encoder.Encoder, set *Set, progress func(done int)) (*Dense, error) {
	ix, err := vector.NewFlat(enc.Dim())
	if err != nil {
		return nil, err
	}
	const chunk = 4096
	texts := make([]string, 0, chunk)
	ids := make([]string, 0, chunk)
	for start := 0; start < len(set.Passages); start += chunk {
		texts, ids = texts[:0], ids[:0]
		for i := start; i < min(start+chunk, len(set.Passages)); i++ {
			texts = append(texts, set.Passages[i].Passage())
			ids = append(ids, strconv.Itoa(i))
		}
		vecs := make([]float32, len(texts)*enc.Dim())
		err := enc.EmbedTo(ctx, vecs, texts, enc.Conventions().DocPrompt, func(done int) {
			if progress != nil {
				progress(start + done)
			}
		})
		if err != nil {
			return nil, err
		}
		if err := ix.Add(ids, vecs); err != nil {
			return nil, err
		}
	}
	return &Dense{enc: enc, ix: ix}, nil
}

// SearchBatch embeds the queries (with the model's query prompt: an
// engine.PromptEncoder's EncodeQueries, or an encoder's QueryPrompt) and
// returns their exact top k.
func (d *Dense) SearchBatch(ctx context.Context, queries []string, k int) ([][]beir.Hit, error) {
	var q []float32
	var err error
	switch e := d.enc.(type) {
	case engine.PromptEncoder:
		q, err = e.EncodeQueries(ctx, queries)
	case *encoder.Encoder:
		q, err = e.Embed(ctx, queries, e.Conventions().QueryPrompt)
	default:
		q, err = d.enc.Encode(ctx, queries)
	}
	if err != nil {
		return nil, err
	}
	return engine.SearchVectors(d.ix, q, k)
}

// MineOptions configure Mine.
type MineOptions struct {
	// Depth is the number of passages retrieved per query (100).
	Depth int
	// SkipTop drops the first SkipTop passages left after removing the
	// positives (likely unjudged positives).
	SkipTop int
	// Random adds this many random negatives per example (passages of
	// the set that are neither positives nor mined), drawn from Seed.
	Random int
	Seed   uint64
	// Batch is the number of queries per SearchBatch call (256).
	Batch int
	// Progress, when set, is called with the number of queries done.
	Progress func(done int)
}

// Mined is one example's mining result.
type Mined struct {
	Hard   []int32   // hard negatives, best ranked first
	Scores []float64 // their retrieval scores
	Random []int32   // random negatives
	// Dropped counts the retrieved positives (and copies of a positive's
	// text) removed.
	Dropped int
}

// Mine retrieves the top opt.Depth passages of every example's query with
// s and keeps, as hard negatives, those that are not judged positives of
// the example and whose text is not a positive's, after skipping the
// first opt.SkipTop of them. Results are in example order.
func Mine(ctx context.Context, set *Set, s Searcher, opt MineOptions) ([]Mined, error) {
	if opt.Depth < 1 || opt.SkipTop < 0 || opt.Random < 0 {
		return nil, fmt.Errorf("finetune: mining depth %d must be positive, skip %d and random %d not negative", opt.Depth, opt.SkipTop, opt.Random)
	}
	if opt.Batch < 1 {
		opt.Batch = 256
	}
	n := len(set.Examples)
	out := make([]Mined, n)
	r := rand.New(rand.NewPCG(opt.Seed, 0x6d696e65))
	queries := make([]string, 0, opt.Batch)
	for start := 0; start < n; start += opt.Batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+opt.Batch, n)
		queries = queries[:0]
		for i := start; i < end; i++ {
			queries = append(queries, set.Examples[i].Query)
		}
		res, err := s.SearchBatch(ctx, queries, opt.Depth)
		if err != nil {
			return nil, err
		}
		if len(res) != len(queries) {
			return nil, fmt.Errorf("finetune: searcher answered %d of %d queries", len(res), len(queries))
		}
		for k, hits := range res {
			i := start + k
			ex := &set.Examples[i]
			posIdx := make(map[int32]bool, len(ex.Positives))
			posText := make(map[[16]byte]bool, len(ex.Positives))
			for _, p := range ex.Positives {
				posIdx[p] = true
				posText[contentKey(set.Passages[p])] = true
			}
			m := &out[i]
			skip := opt.SkipTop
			seen := map[int32]bool{}
			for _, h := range hits {
				j, err := strconv.Atoi(h.DocID)
				if err != nil || j < 0 || j >= len(set.Passages) {
					return nil, fmt.Errorf("finetune: searcher returned passage %q, not an index of the %d passages", h.DocID, len(set.Passages))
				}
				p := int32(j)
				if seen[p] {
					continue
				}
				seen[p] = true
				if posIdx[p] || posText[contentKey(set.Passages[p])] {
					m.Dropped++
					continue
				}
				if skip > 0 {
					skip--
					continue
				}
				m.Hard = append(m.Hard, p)
				m.Scores = append(m.Scores, h.Score)
			}
			if opt.Random > 0 {
				m.Random = randomNegatives(r, set, posIdx, posText, seen, opt.Random)
			}
		}
		if opt.Progress != nil {
			opt.Progress(end)
		}
	}
	return out, nil
}

// randomNegatives draws up to k distinct passages that are neither
// positives nor retrieved (a bounded number of tries).
func randomNegatives(r *rand.Rand, set *Set, posIdx map[int32]bool, posText map[[16]byte]bool, retrieved map[int32]bool, k int) []int32 {
	var out []int32
	taken := map[int32]bool{}
	for tries := 0; len(out) < k && tries < 20*k; tries++ {
		p := int32(r.IntN(len(set.Passages)))
		if taken[p] || posIdx[p] || retrieved[p] || posText[contentKey(set.Passages[p])] {
			continue
		}
		taken[p] = true
		out = append(out, p)
	}
	return out
}

// Apply stores mined results in the set's examples: the hard negatives
// replace each example's, and random negatives, when mined, replace its
// given negatives.
func (s *Set) Apply(mined []Mined) error {
	if len(mined) != len(s.Examples) {
		return fmt.Errorf("finetune: %d mining results for %d examples", len(mined), len(s.Examples))
	}
	for i := range mined {
		s.Examples[i].HardNegatives = mined[i].Hard
		if mined[i].Random != nil {
			s.Examples[i].Negatives = mined[i].Random
		}
	}
	return nil
}

// MinedRecord is example i as a DPR record with the mined hard negatives
// (with their scores) and the mined random negatives, or the example's
// given negatives when none were mined.
func (s *Set) MinedRecord(i int, m Mined) Record {
	ex := s.Examples[i]
	r := Record{QID: ex.QID, Question: ex.Query, Positives: []Ctx{}, Negatives: []Ctx{}, Hard: []Ctx{}}
	for _, j := range ex.Positives {
		r.Positives = append(r.Positives, s.ctx(j))
	}
	for k, j := range m.Hard {
		c := s.ctx(j)
		sc := m.Scores[k]
		c.Score = &sc
		r.Hard = append(r.Hard, c)
	}
	neg := m.Random
	if neg == nil {
		neg = ex.Negatives
	}
	for _, j := range neg {
		r.Negatives = append(r.Negatives, s.ctx(j))
	}
	return r
}
