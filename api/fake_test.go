package api

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/contriever-go/contriever/engine/fusion"
)

// fakeBackend is an in-memory Backend for the tests. BM25 is replaced by the
// count of query words found in title+text (docs with no match are not
// returned); dense by the cosine of letter-frequency vectors (every doc is
// returned). Special queries trigger faults: "panic!" panics, "slow" waits
// for release (or the context), "timeout" waits for the context, "nan"
// returns a NaN score.
type fakeBackend struct {
	mu      sync.RWMutex
	docs    map[string]Document
	noDense bool
	plain   bool // no fault-triggering queries (for fuzzing)

	ready   atomic.Bool
	entered chan struct{} // "slow" sends here once it is running
	release chan struct{} // and then waits for this to close

	slowDone atomic.Bool // a "slow" query has returned
	flushed  atomic.Int32
	closed   atomic.Int32
	closeLog []string // order of Flush/Close relative to slowDone
	logMu    sync.Mutex
}

func newFake(docs ...Document) *fakeBackend {
	f := &fakeBackend{docs: map[string]Document{}, entered: make(chan struct{}, 16), release: make(chan struct{})}
	for _, d := range docs {
		f.docs[d.ID] = d
	}
	f.ready.Store(true)
	return f
}

func words(s string) []string { return strings.Fields(strings.ToLower(s)) }

func fakeBM25(q string, d Document) float64 {
	tf := map[string]int{}
	for _, w := range words(d.Title + " " + d.Text) {
		tf[w]++
	}
	var s float64
	for _, w := range words(q) {
		s += float64(tf[w])
	}
	return s
}

func letters(s string) [26]float64 {
	var v [26]float64
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' {
			v[r-'a']++
		}
	}
	return v
}

func fakeDense(q string, d Document) float64 {
	a, b := letters(q), letters(d.Title+" "+d.Text)
	var dot, na, nb float64
	for i := range a {
		dot += a[i] * b[i]
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

func topK(hits []fusion.Hit, k int) []fusion.Hit {
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ID < hits[j].ID
	})
	return hits[:min(k, len(hits))]
}

func (f *fakeBackend) Retrieve(ctx context.Context, req Retrieval) (Retrieved, error) {
	if req.Dense && f.noDense {
		return Retrieved{}, fmt.Errorf("dense search: %w", ErrUnavailable)
	}
	for _, q := range req.Queries {
		if f.plain {
			break
		}
		switch q {
		case "panic!":
			panic("fake backend bug")
		case "slow":
			f.entered <- struct{}{}
			select {
			case <-f.release:
			case <-ctx.Done():
				return Retrieved{}, fmt.Errorf("slow: %w", ctx.Err())
			}
			defer f.slowDone.Store(true)
		case "timeout":
			<-ctx.Done()
			return Retrieved{}, fmt.Errorf("fake: %w", ctx.Err())
		}
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out Retrieved
	for _, q := range req.Queries {
		var b, d []fusion.Hit
		for id, doc := range f.docs {
			if s := fakeBM25(q, doc); s > 0 {
				b = append(b, fusion.Hit{ID: id, Score: s})
			}
			s := fakeDense(q, doc)
			if q == "nan" && !f.plain {
				s = math.NaN()
			}
			d = append(d, fusion.Hit{ID: id, Score: s})
		}
		if req.BM25 {
			out.BM25 = append(out.BM25, topK(b, req.K))
		}
		if req.Dense {
			out.Dense = append(out.Dense, topK(d, req.K))
		}
	}
	return out, nil
}

func (f *fakeBackend) Doc(ctx context.Context, id string) (Document, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d, ok := f.docs[id]
	if !ok {
		return Document{}, fmt.Errorf("doc %q: %w", id, ErrNotFound)
	}
	return d, nil
}

func (f *fakeBackend) PutDocs(ctx context.Context, docs []Document) error {
	for _, d := range docs {
		if d.Text == "reject me" {
			return fmt.Errorf("doc %q: %w: text refused", d.ID, ErrInvalid)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range docs {
		f.docs[d.ID] = d
	}
	return nil
}

func (f *fakeBackend) DeleteDoc(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.docs[id]; !ok {
		return fmt.Errorf("doc %q: %w", id, ErrNotFound)
	}
	delete(f.docs, id)
	return nil
}

func (f *fakeBackend) Stats() Stats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := int64(len(f.docs))
	return Stats{Documents: n, BM25Documents: n, Vectors: n, DiskBytes: 1234}
}

func (f *fakeBackend) Ready() bool { return f.ready.Load() }

func (f *fakeBackend) note(s string) {
	f.logMu.Lock()
	f.closeLog = append(f.closeLog, fmt.Sprintf("%s(slowDone=%v)", s, f.slowDone.Load()))
	f.logMu.Unlock()
}

func (f *fakeBackend) Flush(ctx context.Context) error {
	f.flushed.Add(1)
	f.note("flush")
	return nil
}

func (f *fakeBackend) Close() error {
	f.closed.Add(1)
	f.note("close")
	return nil
}

var corpus = []Document{
	{ID: "d1", Title: "Cats", Text: "cats are small furry animals that purr"},
	{ID: "d2", Title: "Dogs", Text: "dogs bark and dogs fetch balls"},
	{ID: "d3", Title: "Pets", Text: "cats and dogs are common pets in many homes"},
	{ID: "d4", Title: "Quantum", Text: "quantum mechanics describes particles at small scales"},
	{ID: "d5", Title: "Zebra", Text: "zebras have stripes"},
	{ID: "d6", Title: "Long", Text: strings.Repeat("lorem ipsum dolor sit amet ", 40)},
}
