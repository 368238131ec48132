package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/engine/fusion"
)

// The fault-injection suite: each step of PutDocs, DeleteDoc and Flush
// fails once (ENOSPC or EIO, and a panic), one step at a time. After each
// failure every search mode answers; BM25, the vectors and the document
// log hold exactly the acknowledged documents (no acknowledged document
// lost, no unacknowledged one visible); closing without a flush (a crash)
// and reopening gives the same state; and a later flush and reopen too.

// faultDocs all contain "common", so that a BM25 search for it lists every
// document.
var faultDocs = []beir.Doc{
	{ID: "f1", Title: "Cats", Text: "common cats purr and sleep in the sun"},
	{ID: "f2", Title: "Dogs", Text: "common dogs bark at the postman"},
	{ID: "f3", Text: "common stock markets fell sharply on monday"},
	{ID: "f4", Title: "Rain", Text: "common heavy rain flooded the valley town"},
}

var (
	faultTemplateOnce sync.Once
	faultTemplate     string
	faultTemplateErr  error
)

// faultIndex returns a fresh copy of a small index with BM25 and flat
// vectors over faultDocs (built once per test binary).
func faultIndex(t *testing.T) string {
	t.Helper()
	faultTemplateOnce.Do(func() {
		root, err := os.MkdirTemp("", "faults-template-")
		if err != nil {
			faultTemplateErr = err
			return
		}
		faultTemplate = filepath.Join(root, "idx")
		_, faultTemplateErr = Build(context.Background(), faultTemplate, corpusOf(faultDocs), BuildOptions{Model: tinyModel(t), Quiet: true})
	})
	if faultTemplateErr != nil {
		t.Fatal(faultTemplateErr)
	}
	dst := filepath.Join(t.TempDir(), "idx")
	if err := copyTree(faultTemplate, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestMain(m *testing.M) {
	code := m.Run()
	if faultTemplate != "" {
		os.RemoveAll(filepath.Dir(faultTemplate))
	}
	os.Exit(code)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if !d.Type().IsRegular() || filepath.Ext(p) == ".lock" {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

// injector fails one step once while armed.
type injector struct {
	mu    sync.Mutex
	step  string
	kind  string
	armed bool
	fired bool
	times int // failures still to inject (1: one-shot)
}

func (in *injector) hook(step string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.armed || step != in.step || in.times == 0 {
		return nil
	}
	in.times--
	in.fired = true
	switch in.kind {
	case "enospc":
		return fmt.Errorf("injected at %s: %w", step, syscall.ENOSPC)
	case "eio":
		return fmt.Errorf("injected at %s: %w", step, syscall.EIO)
	default:
		panic("injected panic at " + step)
	}
}

func (in *injector) arm(on bool) {
	in.mu.Lock()
	in.armed = on
	in.mu.Unlock()
}

// checkState asserts that the store, BM25 and the vectors hold exactly
// want (id → text) and that every search mode answers.
func checkState(t *testing.T, what string, c *Collection, b *Composite, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	wantIDs := slices.Sorted(maps.Keys(want))
	if n := c.Store().Len(); n != len(want) {
		t.Fatalf("%s: store holds %d documents, want %d", what, n, len(want))
	}
	for id, text := range want {
		d, ok := c.Store().Get(id)
		if !ok || d.Text != text {
			t.Fatalf("%s: store has %q = %q (%v), want %q", what, id, d.Text, ok, text)
		}
	}
	r, err := b.Retrieve(ctx, Retrieval{Queries: []string{"common"}, K: 100, BM25: true, Dense: true})
	if err != nil {
		t.Fatalf("%s: hybrid search fails: %v", what, err)
	}
	for name, l := range map[string][]string{"bm25": hitIDs(r.BM25[0]), "dense": hitIDs(r.Dense[0])} {
		if !slices.Equal(l, wantIDs) {
			t.Fatalf("%s: %s lists %v, want %v", what, name, l, wantIDs)
		}
	}
	for _, mode := range []Retrieval{{BM25: true}, {Dense: true}} {
		mode.Queries, mode.K = []string{"rain valley"}, 3
		if _, err := b.Retrieve(ctx, mode); err != nil {
			t.Fatalf("%s: search fails: %v", what, err)
		}
	}
}

func hitIDs(hs []fusion.Hit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	sort.Strings(out)
	return out
}

type faultOp struct {
	name  string
	steps []string
	run   func(ctx context.Context, b *Composite, want map[string]string) (apply func(), err error)
}

var faultOps = []faultOp{
	{"put-new", []string{StepPutLog, "docstore.write", "docstore.sync", StepPutBM25, "bm25.batch", "bm25.batched", "bm25.view", StepPutVecRemove, StepPutVecAdd},
		func(ctx context.Context, b *Composite, want map[string]string) (func(), error) {
			docs := []document.Doc{{ID: "n1", Text: "common zebras graze"}, {ID: "n2", Title: "Owls", Text: "common owls hoot"}}
			return func() {
				for _, d := range docs {
					want[d.ID] = d.Text
				}
			}, b.PutDocs(ctx, docs)
		}},
	{"put-replace", []string{StepPutLog, "docstore.write", "docstore.sync", StepPutBM25, "bm25.batch", "bm25.batched", "bm25.view", StepPutVecRemove, StepPutVecAdd},
		func(ctx context.Context, b *Composite, want map[string]string) (func(), error) {
			d := document.Doc{ID: "f2", Title: "Dogs", Text: "common dogs now sleep all day"}
			return func() { want[d.ID] = d.Text }, b.PutDocs(ctx, []document.Doc{d})
		}},
	{"delete", []string{StepDeleteLog, "docstore.write", "docstore.sync", StepDeleteBM25, "bm25.batch", "bm25.batched", "bm25.view", StepDeleteVectors},
		func(ctx context.Context, b *Composite, want map[string]string) (func(), error) {
			return func() { delete(want, "f3") }, b.DeleteDoc(ctx, "f3")
		}},
	{"flush", []string{StepFlushVectors, StepFlushIDs, StepFlushManifest, StepFlushCompact},
		func(ctx context.Context, b *Composite, want map[string]string) (func(), error) {
			// A write first, so that there is something to flush.
			if err := b.PutDocs(ctx, []document.Doc{{ID: "n9", Text: "common walruses bask"}}); err != nil {
				return func() {}, err
			}
			want["n9"] = "common walruses bask"
			return func() {}, b.Flush(ctx)
		}},
}

func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection suite skipped in -short mode")
	}
	ctx := context.Background()
	n := 0
	for _, op := range faultOps {
		for i, step := range op.steps {
			// ENOSPC and EIO take the same path: each step gets one of
			// them (alternating), and a panic.
			for _, kind := range []string{[]string{"enospc", "eio"}[i%2], "panic"} {
				if n++; raceEnabled && n%4 != 0 {
					continue // a sample under the race detector
				}
				t.Run(op.name+"/"+step+"/"+kind, func(t *testing.T) {
					dir := faultIndex(t)
					c, err := Open(ctx, dir, OpenOptions{})
					if err != nil {
						t.Fatal(err)
					}
					in := &injector{step: step, kind: kind, times: 1}
					c.SetFaultHook(in.hook)
					b, err := c.Backend()
					if err != nil {
						t.Fatal(err)
					}
					want := map[string]string{}
					for _, d := range faultDocs {
						want[d.ID] = d.Text
					}
					checkState(t, "before", c, b, want)
					in.arm(true)
					apply, err := op.run(ctx, b, want)
					in.arm(false)
					if !in.fired {
						t.Fatalf("step %s never ran in %s", step, op.name)
					}
					if err == nil {
						apply() // caught up from the log: acknowledged
					} else if errors.Is(err, ErrDeferred) {
						t.Fatalf("one failure left the write deferred: %v", err)
					} else if op.name == "flush" {
						// The documents were acknowledged before the flush.
					} else if step == "bm25.batched" || step == StepPutBM25 || step == StepPutVecRemove || step == StepPutVecAdd || step == StepDeleteBM25 || step == StepDeleteVectors {
						t.Fatalf("a failure after the log write was not caught up: %v", err)
					}
					checkState(t, "after the failure", c, b, want)
					// Crash: no flush. Reopen and compare.
					c.Close()
					c, err = Open(ctx, dir, OpenOptions{})
					if err != nil {
						t.Fatalf("reopen after a %s at %s: %v", kind, step, err)
					}
					b, _ = c.Backend()
					checkState(t, "after reopen", c, b, want)
					// A later write and flush work, and the flushed state opens.
					if err := b.PutDocs(ctx, []document.Doc{{ID: "z", Text: "common zzz"}}); err != nil {
						t.Fatal(err)
					}
					want["z"] = "common zzz"
					if err := b.Flush(ctx); err != nil {
						t.Fatal(err)
					}
					c.Close()
					c, err = Open(ctx, dir, OpenOptions{})
					if err != nil {
						t.Fatalf("reopen after flush: %v", err)
					}
					defer c.Close()
					b, _ = c.Backend()
					checkState(t, "after flush and reopen", c, b, want)
				})
			}
		}
	}
}

// A step that keeps failing, catch-up included: the write returns
// ErrDeferred, its documents (durable in the log) stay hidden from every
// search while the failure lasts, and appear once a later catch-up
// succeeds; a flush refuses to record the state meanwhile.
func TestFaultDeferred(t *testing.T) {
	ctx := context.Background()
	for _, step := range []string{StepPutBM25, "bm25.batched", StepPutVecAdd} {
		t.Run(step, func(t *testing.T) {
			dir := faultIndex(t)
			c, err := Open(ctx, dir, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { c.Close() }()
			in := &injector{step: step, kind: "eio", times: 1}
			rep := &injector{step: StepRepair, kind: "eio", times: -1}
			c.SetFaultHook(func(s string) error {
				if err := in.hook(s); err != nil {
					return err
				}
				return rep.hook(s)
			})
			b, _ := c.Backend()
			want := map[string]string{}
			for _, d := range faultDocs {
				want[d.ID] = d.Text
			}
			in.arm(true)
			rep.arm(true)
			err = b.PutDocs(ctx, []document.Doc{{ID: "n1", Text: "common zebras graze"}})
			if !errors.Is(err, ErrDeferred) {
				t.Fatalf("PutDocs = %v, want ErrDeferred", err)
			}
			// Hidden from searches, although stored.
			r, err := b.Retrieve(ctx, Retrieval{Queries: []string{"common zebras"}, K: 100, BM25: true, Dense: true})
			if err != nil {
				t.Fatalf("search while deferred: %v", err)
			}
			if slices.Contains(hitIDs(r.BM25[0]), "n1") || slices.Contains(hitIDs(r.Dense[0]), "n1") {
				t.Fatal("deferred document visible")
			}
			if err := b.Flush(ctx); !errors.Is(err, ErrDeferred) {
				t.Fatalf("Flush while deferred = %v", err)
			}
			rep.arm(false)
			if err := b.Flush(ctx); err != nil {
				t.Fatalf("Flush after the failure ended: %v", err)
			}
			want["n1"] = "common zebras graze"
			checkState(t, "caught up", c, b, want)
			c.Close()
			if c, err = Open(ctx, dir, OpenOptions{}); err != nil {
				t.Fatal(err)
			}
			b, _ = c.Backend()
			checkState(t, "reopened", c, b, want)
		})
	}
}

// Document embedding has its own bounded admission: with its slots taken,
// PutDocs fails at once with ErrBusy (nothing stored) while query
// embedding still runs.
func TestDocEmbeddingBusy(t *testing.T) {
	ctx := context.Background()
	dir := faultIndex(t)
	c, err := Open(ctx, dir, OpenOptions{Encoders: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, _ := c.Backend()
	pool, ok := c.Encoder().(*EncoderPool)
	if !ok {
		t.Fatalf("encoder %T, want *EncoderPool", c.Encoder())
	}
	for range cap(pool.docs) {
		pool.docs <- struct{}{}
	}
	for range cap(pool.docWait) {
		pool.docWait <- struct{}{}
	}
	err = b.PutDocs(ctx, []document.Doc{{ID: "busy", Text: "common busy"}})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("PutDocs with every slot taken = %v, want ErrBusy", err)
	}
	if _, ok := c.Store().Get("busy"); ok {
		t.Fatal("a refused write was stored")
	}
	if _, err := b.Retrieve(ctx, Retrieval{Queries: []string{"common"}, K: 3, Dense: true}); err != nil {
		t.Fatalf("query embedding blocked by document embedding: %v", err)
	}
	for range cap(pool.docWait) {
		<-pool.docWait
	}
	for range cap(pool.docs) {
		<-pool.docs
	}
	if err := b.PutDocs(ctx, []document.Doc{{ID: "busy", Text: "common busy"}}); err != nil {
		t.Fatal(err)
	}
}

// Writes that arrive together share one log record and one fsync (group
// commit): while a write is held in its fsync, eight more queue up; they
// are written as one group, and every document is in the log and in both
// indexes.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	// Enough document-embedding slots (half the encoders) for the eight.
	c, err := Open(ctx, faultIndex(t), OpenOptions{Encoders: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	syncs := 0
	entered, release := make(chan struct{}), make(chan struct{})
	c.SetFaultHook(func(s string) error {
		if s != "docstore.sync" {
			return nil
		}
		mu.Lock()
		syncs++
		first := syncs == 1
		mu.Unlock()
		if first {
			close(entered)
			<-release
		}
		return nil
	})
	b, _ := c.Backend()
	want := map[string]string{}
	for _, d := range faultDocs {
		want[d.ID] = d.Text
	}
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	put := func(i int) {
		defer wg.Done()
		d := document.Doc{ID: fmt.Sprintf("g%d", i), Text: fmt.Sprintf("common group %d", i)}
		errs <- b.PutDocs(ctx, []document.Doc{d})
	}
	wg.Add(1)
	go put(0)
	<-entered
	for i := 1; i <= 8; i++ {
		wg.Add(1)
		go put(i)
	}
	for {
		b.qmu.Lock()
		n := len(b.queue)
		b.qmu.Unlock()
		if n == 8 {
			break
		}
		select {
		case err := <-errs:
			t.Fatalf("a queued write returned early: %v", err)
		default:
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i <= 8; i++ {
		want[fmt.Sprintf("g%d", i)] = fmt.Sprintf("common group %d", i)
	}
	if syncs != 2 || b.groups.Load() != 2 {
		t.Fatalf("%d fsyncs and %d groups for 9 writes, want 2 and 2", syncs, b.groups.Load())
	}
	c.SetFaultHook(nil)
	checkState(t, "after the group", c, b, want)
}
