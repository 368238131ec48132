package ppmi

import (
	"context"
	"slices"
	"sync"

	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/progress"
)

// run is a sorted list of distinct pair keys with their counts.
type run struct {
	keys   []uint64
	counts []uint32
}

func (r run) len() int { return len(r.keys) }

// counts is the outcome of counting a corpus: the co-occurrence pairs
// (keys a·V+b with a ≤ b, each unordered pair of positions at distance
// 1..W counted once) and each token's document frequency.
type counts struct {
	pairs  run
	df     []int32
	docs   int
	tokens int64
}

// pairStore collects the sorted runs the workers flush and merges them
// whenever there are too many, so that memory stays near the number of
// distinct pairs plus one buffer per worker.
type pairStore struct {
	mu      sync.Mutex
	runs    []run
	maxRuns int
}

func (s *pairStore) add(r run) {
	if r.len() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, r)
	if len(s.runs) >= s.maxRuns {
		s.runs = []run{mergeRuns(s.runs)}
	}
}

// mergeRuns merges sorted runs, summing the counts of equal keys
// (saturating at the largest uint32). Runs are merged pairwise, smallest
// first, so the cost is that of a balanced merge tree.
func mergeRuns(runs []run) run {
	rs := slices.Clone(runs)
	for len(rs) > 1 {
		slices.SortStableFunc(rs, func(a, b run) int { return a.len() - b.len() })
		m := merge2(rs[0], rs[1])
		rs = append([]run{m}, rs[2:]...)
	}
	if len(rs) == 0 {
		return run{}
	}
	return rs[0]
}

func merge2(a, b run) run {
	out := run{keys: make([]uint64, 0, a.len()+b.len()), counts: make([]uint32, 0, a.len()+b.len())}
	i, j := 0, 0
	for i < a.len() && j < b.len() {
		switch ka, kb := a.keys[i], b.keys[j]; {
		case ka < kb:
			out.keys, out.counts = append(out.keys, ka), append(out.counts, a.counts[i])
			i++
		case kb < ka:
			out.keys, out.counts = append(out.keys, kb), append(out.counts, b.counts[j])
			j++
		default:
			s := uint64(a.counts[i]) + uint64(b.counts[j])
			out.keys, out.counts = append(out.keys, ka), append(out.counts, uint32(min(s, 1<<32-1)))
			i++
			j++
		}
	}
	for ; i < a.len(); i++ {
		out.keys, out.counts = append(out.keys, a.keys[i]), append(out.counts, a.counts[i])
	}
	for ; j < b.len(); j++ {
		out.keys, out.counts = append(out.keys, b.keys[j]), append(out.counts, b.counts[j])
	}
	return out
}

// compress sorts keys (radix sort, in place, using tmp as scratch) and
// returns them as a run of distinct keys with counts.
func compress(keys, tmp []uint64, maxKey uint64) run {
	radixSort(keys, tmp, maxKey)
	r := run{}
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j] == keys[i] {
			j++
		}
		r.keys = append(r.keys, keys[i])
		r.counts = append(r.counts, uint32(min(j-i, 1<<32-1)))
		i = j
	}
	return r
}

// radixSort sorts keys, all ≤ maxKey, by LSD radix sort on 11-bit digits,
// with only as many passes as maxKey needs.
func radixSort(keys, tmp []uint64, maxKey uint64) {
	const bits = 11
	const buckets = 1 << bits
	if len(keys) < 2 {
		return
	}
	tmp = tmp[:len(keys)]
	src, dst := keys, tmp
	var count [buckets]int
	for shift := uint(0); shift < 64 && maxKey>>shift > 0; shift += bits {
		clear(count[:])
		for _, k := range src {
			count[(k>>shift)&(buckets-1)]++
		}
		pos := 0
		for i, c := range count {
			count[i] = pos
			pos += c
		}
		for _, k := range src {
			d := (k >> shift) & (buckets - 1)
			dst[count[d]] = k
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}

// countPairs reads the corpus, tokenises each document with tok (no
// special tokens) and counts, in parallel, the co-occurrences of tokens at
// distance 1..window within a document, and document frequencies.
func countPairs(ctx context.Context, docs func(fn func(string) error) error, tok *wordpiece.Tokenizer, o Options, bar *progress.Bar) (*counts, error) {
	V := uint64(tok.VocabSize())
	maxKey := V*V - 1
	workers := o.Workers
	store := &pairStore{maxRuns: 8}
	type result struct {
		df     []int32
		docs   int
		tokens int64
	}
	batches := make(chan []string, workers)
	results := make(chan result, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < workers; w++ {
		go func() {
			df := make([]int32, V)
			seen := make([]int32, V) // doc stamp+1 of the last doc a token was seen in
			buf := make([]uint64, 0, o.ChunkPairs)
			tmp := make([]uint64, o.ChunkPairs)
			var ids []int32
			res := result{}
			stamp := int32(0)
			for batch := range batches {
				for _, text := range batch {
					ids = tok.AppendTokenize(ids[:0], text)
					stamp++
					res.docs++
					res.tokens += int64(len(ids))
					for _, t := range ids {
						if seen[t] != stamp {
							seen[t] = stamp
							df[t]++
						}
					}
					for p, a := range ids {
						end := min(len(ids), p+1+o.Window)
						if len(buf)+end-p > cap(buf) {
							store.add(compress(buf, tmp, maxKey))
							buf = buf[:0]
						}
						for _, b := range ids[p+1 : end] {
							x, y := uint64(a), uint64(b)
							if x > y {
								x, y = y, x
							}
							buf = append(buf, x*V+y)
						}
					}
				}
				bar.Add(int64(len(batch)))
			}
			store.add(compress(buf, tmp, maxKey))
			res.df = df
			results <- res
		}()
	}
	const batchDocs = 256
	batch := make([]string, 0, batchDocs)
	err := docs(func(text string) error {
		batch = append(batch, text)
		if len(batch) == batchDocs {
			select {
			case batches <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
			batch = make([]string, 0, batchDocs)
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	out := &counts{df: make([]int32, V)}
	for w := 0; w < workers; w++ {
		r := <-results
		for t, d := range r.df {
			out.df[t] += d
		}
		out.docs += r.docs
		out.tokens += r.tokens
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out.pairs = mergeRuns(store.runs)
	return out, nil
}
