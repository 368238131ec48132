package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/index/docstore"
	"github.com/contriever-go/contriever/index/vector"
)

// ErrMoved: the index folder at the collection's path is not the folder
// the collection opened (it was renamed away and replaced, for instance by
// a rebuild); the collection refuses to write into it.
var ErrMoved = errors.New("collection: the index folder was replaced since it was opened")

// ErrServed: a rebuild (Build with Overwrite) found the destination's
// document log locked by a running process.
var ErrServed = errors.New("collection: the index folder is in use (locked by a running serve or build)")

// SetFaultHook installs h at every step of the write path: the
// Composite's (Parts.Fault), Flush's, the document log's and BM25's. Call
// it before Backend or Parts. It exists for fault-injection tests.
func (c *Collection) SetFaultHook(h FaultHook) {
	c.fault = h
	var fh func(string) error
	if h != nil {
		fh = h
	}
	c.store.SetFaultHook(fh)
	if c.bm != nil {
		c.bm.SetFaultHook(bm25.FaultHook(h))
	}
}

func (c *Collection) faultAt(step string) error {
	if c.fault == nil {
		return nil
	}
	return guarded(func() error { return c.fault(step) })
}

// repaired logs and records a part that Open rebuilds from the log.
func (c *Collection) repaired(part string, why error) {
	c.Repaired = append(c.Repaired, part+": "+why.Error())
	c.log.Warn("rebuilding from the document log", "part", part, "reason", why)
}

// checkIdentity fails with ErrMoved when c.dir is no longer the folder
// Open opened.
func (c *Collection) checkIdentity() error {
	st, err := os.Stat(c.dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMoved, err)
	}
	if !os.SameFile(st, c.ident) {
		return fmt.Errorf("%w (%s)", ErrMoved, c.dir)
	}
	return nil
}

// openBM25 opens the BM25 index after checking its segments' checksums
// (bleve loads segments in goroutines whose panics would end the process),
// and checks its statistics against its postings; panics in bleve are
// returned as errors.
func (c *Collection) openBM25() (err error) {
	dir := filepath.Join(c.dir, BM25Dir)
	if err := bm25.Verify(dir); err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", bm25.ErrPanic, p)
		}
		if err != nil && c.bm != nil {
			c.bm.Close()
			c.bm = nil
		}
	}()
	if c.bm, err = bm25.Open(dir); err != nil {
		return err
	}
	return c.bm.Check()
}

// loadVectors loads the vector snapshot of the manifest and its id list.
func (c *Collection) loadVectors() (ids []string, err error) {
	m := c.man
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
		if err != nil {
			c.vec = nil
		}
	}()
	if c.vec, err = vector.Load(filepath.Join(c.dir, m.Vectors.File)); err != nil {
		return nil, err
	}
	if c.vec.Dim() != c.pool.Dim() {
		return nil, fmt.Errorf("%w: vectors of dimension %d, model of %d", ErrCorrupt, c.vec.Dim(), c.pool.Dim())
	}
	b, err := os.ReadFile(filepath.Join(c.dir, m.Vectors.IDsFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &ids); err != nil || len(ids) != c.vec.Len() {
		return nil, fmt.Errorf("%w: %s does not list the %d vectors", ErrCorrupt, m.Vectors.IDsFile, c.vec.Len())
	}
	return ids, nil
}

// rebuildVectors embeds every document of the log again and builds a new
// vector index of the manifest's kind (the next Flush saves it).
func (c *Collection) rebuildVectors(ctx context.Context) error {
	ids := c.store.IDs()
	texts := make([]string, len(ids))
	for i, id := range ids {
		d, _ := c.store.Get(id)
		texts[i] = d.Passage()
	}
	var vecs []float32
	if len(ids) > 0 {
		var err error
		if vecs, err = encodeDocs(ctx, c.pool, texts); err != nil {
			return fmt.Errorf("rebuilding vectors: %w", err)
		}
	}
	vi := *c.man.Vectors
	vx, err := NewVectorIndex(c.pool.Dim(), ids, vecs, &vi, 0)
	if err != nil {
		return fmt.Errorf("rebuilding vectors: %w", err)
	}
	c.vec = vx
	return nil
}

// lockForRebuild takes the lock of the document log of the folder a
// rebuild replaces; ErrServed when a running process holds it. A folder
// without a log needs no lock (nil, nil).
func lockForRebuild(dir string) (interface{ Close() error }, error) {
	p := filepath.Join(dir, DocsFile)
	if _, err := os.Stat(p); err != nil {
		return nil, nil
	}
	l, err := docstore.Lock(p)
	if errors.Is(err, docstore.ErrLocked) {
		return nil, fmt.Errorf("index %s: %w; stop the server first", dir, ErrServed)
	}
	return l, err
}
