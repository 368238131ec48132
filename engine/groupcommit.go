package engine

import (
	"context"
	"time"

	"github.com/contriever-go/contriever/document"
)

// Group commit: PutDocs calls that arrive while another write holds the
// write lock queue up; the next one to get the lock takes every queued
// request and writes them as one operation: one document-log record and
// one fsync, one BM25 batch, one vector update. Each request gets the
// group's result. Within a group a later document with the same id wins,
// as within one request.

// putReq is one PutDocs call waiting for its group.
type putReq struct {
	ctx  context.Context
	docs []document.Doc
	vecs []float32
	done chan error // receives the result once
}

// groupPut queues r, and either finds it done by another request's group
// or writes the group it leads.
func (c *Composite) groupPut(ctx context.Context, r *putReq) error {
	c.qmu.Lock()
	c.queue = append(c.queue, r)
	c.qmu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case err := <-r.done:
		return err // written by an earlier group
	default:
	}
	c.qmu.Lock()
	group := c.queue
	c.queue = nil
	c.qmu.Unlock()
	live := group[:0]
	var docs []document.Doc
	var vecs []float32
	for _, q := range group {
		if err := q.ctx.Err(); err != nil {
			q.done <- err
			continue
		}
		live = append(live, q)
		docs = append(docs, q.docs...)
		vecs = append(vecs, q.vecs...)
	}
	if len(live) > 0 {
		if c.p.Encoder == nil {
			vecs = nil
		}
		t0 := time.Now()
		err := c.putDocsLocked(ctx, docs, vecs)
		c.groups.Add(1)
		for _, q := range live {
			q.done <- err
		}
		if now := time.Now(); err == nil {
			if d := c.pause(now.Sub(t0), now); d > 0 {
				time.Sleep(d) // holding wmu: the writers that arrive meanwhile form the next group
			}
		}
	}
	return <-r.done
}

// lastOfEachID keeps, for each id of docs, its last document (and vector,
// of dimension d, when vecs is not nil), in the order of those last
// occurrences.
func lastOfEachID(docs []document.Doc, vecs []float32, d int) ([]document.Doc, []float32) {
	last := make(map[string]int, len(docs))
	for i, doc := range docs {
		last[doc.ID] = i
	}
	if len(last) == len(docs) {
		return docs, vecs
	}
	var od []document.Doc
	var ov []float32
	for i, doc := range docs {
		if last[doc.ID] != i {
			continue
		}
		od = append(od, doc)
		if vecs != nil {
			ov = append(ov, vecs[i*d:(i+1)*d]...)
		}
	}
	return od, ov
}

// dim returns the encoder's dimension, or 0 without an encoder.
func (c *Composite) dim() int {
	if c.p.Encoder == nil {
		return 0
	}
	return c.p.Encoder.Dim()
}
