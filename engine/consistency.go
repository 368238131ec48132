package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/engine/fusion"
)

// The document log is the one source of truth; BM25 and the vectors are
// derived from it. A write first makes the log durable (a failure there
// leaves nothing: the log cuts an unacknowledged record off), then applies
// the change to BM25 and to the vectors. When one of those steps fails (an
// error, or a panic, which is recovered), the ids of the write are marked
// pending: searches stop returning them (so a document is never visible in
// one index and missing or stale in the other), and the Composite catches
// the indexes up from the log, at once, before each later write and before
// each flush. A write whose catch-up succeeds is acknowledged; one whose
// catch-up fails returns ErrDeferred: the documents are durable and become
// visible when a later catch-up (or the next Open) succeeds. Flush refuses
// to record a state while ids are pending, so a manifest always describes
// indexes that agree with the log.

// FaultHook is called at each named step of a write (see the Step
// constants); an error it returns, or a panic, fails that step. It exists
// for fault-injection tests.
type FaultHook func(step string) error

// The steps of the write path a FaultHook sees, in order. Collection's
// SetFaultHook also passes the steps of the parts: "docstore.write",
// "docstore.sync" (package docstore), "bm25.batch", "bm25.batched"
// (package bm25).
const (
	StepPutLog        = "put.log"            // before the document log write
	StepPutBM25       = "put.bm25"           // before BM25 indexing
	StepPutVecRemove  = "put.vectors.remove" // before replaced vectors are removed
	StepPutVecAdd     = "put.vectors.add"    // before the new vectors are added
	StepDeleteLog     = "delete.log"         // before the log records the delete
	StepDeleteBM25    = "delete.bm25"        // before BM25 drops the ids
	StepDeleteVectors = "delete.vectors"     // before the vectors drop the ids
	StepRepair        = "repair"             // before a catch-up of pending ids
	StepFlushVectors  = "flush.vectors"      // before the vector snapshot is saved
	StepFlushIDs      = "flush.ids"          // before the id list is saved
	StepFlushManifest = "flush.manifest"     // before the manifest is written
	StepFlushCompact  = "flush.compact"      // before the log is compacted
)

// ErrDeferred: a write reached the document log (it is durable) but the
// indexes could not be updated; they catch up later, and the documents are
// hidden from searches until they do.
var ErrDeferred = errors.New("documents stored, indexing deferred")

// ErrPanic wraps a panic recovered in the write path.
var ErrPanic = errors.New("panic")

// guarded runs fn, returning a panic as an error wrapping ErrPanic.
func guarded(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrPanic, p, debug.Stack())
		}
	}()
	return fn()
}

// step runs the fault hook for name, then fn, both guarded.
func (c *Composite) step(name string, fn func() error) error {
	return guarded(func() error {
		if c.p.Fault != nil {
			if err := c.p.Fault(name); err != nil {
				return err
			}
		}
		return fn()
	})
}

// markPending records ids as not reliably indexed, with the vectors
// computed for them, if any (nil: re-embed at catch-up). The caller holds
// c.mu for writing.
func (c *Composite) markPending(ids []string, vecs []float32) {
	if c.pending == nil {
		c.pending = make(map[string][]float32)
	}
	d := 0
	if c.p.Encoder != nil {
		d = c.p.Encoder.Dim()
	}
	for i, id := range ids {
		var v []float32
		if vecs != nil && d > 0 && len(vecs) >= (i+1)*d {
			v = vecs[i*d : (i+1)*d : (i+1)*d]
		}
		c.pending[id] = v
	}
}

// Pending returns the number of ids whose index state awaits a catch-up.
func (c *Composite) Pending() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pending)
}

// catchUpLocked re-applies the pending ids from the document log: present
// documents are re-indexed in BM25 and re-embedded (unless their vector is
// known) into the vectors, absent ones are removed from both. The caller
// holds c.wmu, and c.mu for writing.
func (c *Composite) catchUpLocked(ctx context.Context) error {
	if len(c.pending) == 0 {
		return nil
	}
	var present []document.Doc
	var ids, gone []string
	for id := range c.pending {
		ids = append(ids, id)
		if d, ok := c.p.Docs.Get(id); ok {
			present = append(present, d)
		} else {
			gone = append(gone, id)
		}
	}
	err := c.step(StepRepair, func() error {
		if c.p.BM25 != nil {
			if err := c.p.BM25.Delete(gone); err != nil {
				return fmt.Errorf("bm25: %w", err)
			}
			if err := c.p.BM25.Index(present); err != nil {
				return fmt.Errorf("bm25: %w", err)
			}
		}
		if c.p.Vectors == nil {
			return nil
		}
		d := c.p.Encoder.Dim()
		vecs := make([]float32, 0, len(present)*d)
		var missing []int
		for i, doc := range present {
			v := c.pending[doc.ID]
			if v == nil {
				missing = append(missing, i)
				v = make([]float32, d)
			}
			vecs = append(vecs, v...)
		}
		if len(missing) > 0 {
			texts := make([]string, len(missing))
			for j, i := range missing {
				texts[j] = c.p.Passage(present[i])
			}
			v, err := c.encode(ctx, texts, false)
			if err != nil {
				return fmt.Errorf("embedding: %w", err)
			}
			for j, i := range missing {
				copy(vecs[i*d:(i+1)*d], v[j*d:(j+1)*d])
			}
		}
		if _, err := c.p.Vectors.Remove(ids); err != nil {
			return fmt.Errorf("vectors: %w", err)
		}
		pids := make([]string, len(present))
		for i, doc := range present {
			pids[i] = doc.ID
		}
		if err := c.p.Vectors.Add(pids, vecs); err != nil {
			return fmt.Errorf("vectors: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catching up %d ids from the document log: %w", len(ids), err)
	}
	c.pending = nil
	return nil
}

// hidePending drops pending and in-flight ids from hit lists. The caller
// holds c.mu, and has made its searches (the in-flight set is read after
// them: see Composite.inflight).
func (c *Composite) hidePending(lists [][]fusion.Hit) {
	var inflight map[string]struct{}
	if p := c.inflight.Load(); p != nil {
		inflight = *p
	}
	if len(c.pending) == 0 && len(inflight) == 0 {
		return
	}
	for i, l := range lists {
		out := l[:0]
		for _, h := range l {
			_, p := c.pending[h.ID]
			_, f := inflight[h.ID]
			if !p && !f {
				out = append(out, h)
			}
		}
		lists[i] = out
	}
}
