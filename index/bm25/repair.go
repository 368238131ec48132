package bm25

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"

	"github.com/blevesearch/bleve/v2"
	index "github.com/blevesearch/bleve_index_api"
)

// Fault-tolerance of the index: a bleve batch that fails part-way (no space
// left, an I/O error, a panic) may or may not have reached the segments,
// so after any failed write the statistics are recounted from what the
// index actually holds (resync), which keeps Len, the metadata and the
// postings in agreement. bleve's panics (corrupt segments) are recovered
// where they run in the caller's goroutine or one of this package's; the
// loader goroutines of bleve cannot be recovered, so Verify checks each zap
// segment's CRC before Open.

// FaultHook, when set with SetFaultHook, is called at each named step of a
// write ("bm25.batch" before the bleve batch, "bm25.batched" after it
// succeeded, "bm25.view" before the new search view is built); an error it
// returns (or a panic) is treated as a failure of that step (a failed view
// is left to the next search to build from scratch: the write itself has
// succeeded). It exists for fault-injection tests.
type FaultHook func(step string) error

// SetFaultHook installs h (nil: none). Not safe to call while writes run.
func (ix *Index) SetFaultHook(h FaultHook) { ix.fault = h }

func (ix *Index) step(name string) error {
	if ix.fault == nil {
		return nil
	}
	return ix.fault(name)
}

// ErrPanic wraps a panic recovered from bleve.
var ErrPanic = errors.New("bm25: panic in the index")

// recovered turns a recovered panic value into an error wrapping ErrPanic.
func recovered(p any) error {
	return fmt.Errorf("%w: %v\n%s", ErrPanic, p, debug.Stack())
}

// commit applies a prepared batch whose metadata is m; the caller holds
// wmu (not mu: searches go on with the current view meanwhile). On success
// it builds the view of the new state incrementally (view.go: only the
// batch's new segment is read), still outside any lock searches take, and
// swaps meta and view under viewMu, so a search never waits for the
// batch's persistence, for the new view, or for searches still running on
// the old one (Build, with eager false, leaves the view to the first
// search). On failure (error or panic, injected or not) bleve is reopened
// from what it persisted and the statistics are recounted from it, so
// that they match whatever part of the batch bleve kept; the failure is
// returned.
func (ix *Index) commit(apply func() error, m *meta, eager bool) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = recovered(p)
		}
		if err == nil {
			var v *view
			if eager {
				// When it fails (it should not) the view is left nil: the
				// next search builds it from scratch and reports the error.
				v, _ = ix.newView(m)
			}
			ix.viewMu.Lock()
			ix.meta = m
			old := ix.view
			ix.view = v
			ix.viewMu.Unlock()
			if old != nil {
				old.unref()
			}
			return
		}
		ix.mu.Lock()
		defer ix.mu.Unlock()
		// bleve's in-memory state is not to be trusted after a failed
		// batch (a segment whose persistence failed is closed while the
		// snapshot still refers to it): reopen the index from what it
		// persisted, then recount.
		if rerr := ix.reopenLocked(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("bm25: reopening after a failed batch: %w", rerr))
			return
		}
		if rerr := ix.resyncLocked(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("bm25: recounting after a failed batch: %w", rerr))
		}
	}()
	if err := ix.step("bm25.batch"); err != nil {
		return err
	}
	if err := apply(); err != nil {
		return err
	}
	return ix.step("bm25.batched")
}

// newView builds the search view of the index's current bleve snapshot
// with metadata m, incrementally from the previous views' segments (see
// view.go); a fault injected at step "bm25.view" or bleve's panics are
// returned as errors.
func (ix *Index) newView(m *meta) (v *view, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, recovered(p)
		}
	}()
	if err := ix.step("bm25.view"); err != nil {
		return nil, err
	}
	adv, err := ix.bi.Advanced()
	if err != nil {
		return nil, err
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, err
	}
	if v, err = ix.makeView(r, m, false); err != nil {
		r.Close()
		return nil, err
	}
	return v, nil
}

// reopenLocked closes bleve and opens the index folder again. The caller
// holds wmu, and mu for writing. When it fails the index is left closed (searches
// and writes fail with the error).
func (ix *Index) reopenLocked() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = recovered(p)
		}
		if err != nil {
			ix.closed = true
		}
	}()
	ix.dropView()
	ix.segs.clear() // segment ids of a reopened bleve may be reused
	func() {
		defer func() { recover() }()
		ix.bi.Close()
	}()
	bi, err := bleve.OpenUsing(ix.dir, mergeConfig())
	if err != nil {
		return err
	}
	ix.bi = bi
	return nil
}

// resyncLocked recounts the live documents and field statistics from the
// index's postings and stored lengths, adopts them, and tries to persist
// them (a failure to persist is returned, the in-memory statistics are
// right either way). The caller holds wmu, and mu for writing.
func (ix *Index) resyncLocked() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = recovered(p)
		}
	}()
	ix.dropView()
	m := *ix.meta
	m.Fields = slices.Clone(ix.meta.Fields)
	adv, err := ix.bi.Advanced()
	if err != nil {
		return err
	}
	r, err := adv.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := recount(r, &m); err != nil {
		return err
	}
	ix.setMeta(&m)
	return ix.bi.SetInternal([]byte(metaKey), m.encode())
}

// Resync recounts the statistics from the index (see resyncLocked).
func (ix *Index) Resync() error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	return ix.resyncLocked()
}

// recount sets m's document count and field statistics from r.
func recount(r index.IndexReader, m *meta) error {
	names := dlFieldNames(m)
	dvr, err := r.DocValueReader(names)
	if err != nil {
		return err
	}
	dr, err := r.DocIDReaderAll()
	if err != nil {
		return err
	}
	defer dr.Close()
	m.Docs = 0
	for f := range m.Fields {
		m.Fields[f].Docs, m.Fields[f].SumDL = 0, 0
	}
	for {
		iid, err := dr.Next()
		if err != nil {
			return err
		}
		if iid == nil {
			return nil
		}
		ls, err := readLens(dvr, iid, names)
		if err != nil {
			return err
		}
		m.Docs++
		for f, l := range ls {
			if l > 0 {
				m.Fields[f].Docs++
				m.Fields[f].SumDL += l
			}
		}
	}
}

// Check builds the index's search view, which reads every live document's
// stored lengths and checks them against the metadata; a panic in bleve is
// returned as an error wrapping ErrPanic.
func (ix *Index) Check() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = recovered(p)
		}
	}()
	_, release, err := ix.acquire()
	if err != nil {
		return err
	}
	release()
	return nil
}

// Verify checks the CRC-32 that ends every zap segment file (*.zap) of the
// index in dir against the file's bytes, so that a damaged segment is
// found before bleve loads it (bleve loads segments in goroutines whose
// panics cannot be recovered). It returns an error wrapping ErrCorrupt
// naming the first bad file.
func Verify(dir string) error {
	segs, err := filepath.Glob(filepath.Join(dir, "store", "*.zap"))
	if err != nil {
		return err
	}
	for _, p := range segs {
		if err := verifySegment(p); err != nil {
			return err
		}
	}
	return nil
}

func verifySegment(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < 4 {
		return fmt.Errorf("%w: segment %s is %d bytes", ErrCorrupt, filepath.Base(path), st.Size())
	}
	h := crc32.NewIEEE()
	if _, err := io.CopyN(h, f, st.Size()-4); err != nil {
		return fmt.Errorf("bm25: reading %s: %w", path, err)
	}
	var tail [4]byte
	if _, err := io.ReadFull(f, tail[:]); err != nil {
		return fmt.Errorf("bm25: reading %s: %w", path, err)
	}
	if got, want := h.Sum32(), binary.BigEndian.Uint32(tail[:]); got != want {
		return fmt.Errorf("%w: segment %s fails its checksum (%08x, footer says %08x)", ErrCorrupt, filepath.Base(path), got, want)
	}
	return nil
}
