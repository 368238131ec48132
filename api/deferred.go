package api

import (
	"context"
	"sync"
)

// Deferred is a Backend that stands in for one still loading, so that the
// server can listen while the index loads: /healthz answers 200, /readyz and
// the index routes answer 503 until Set hands over the loaded backend, then
// every call goes to it. The zero value is ready to use.
type Deferred struct {
	mu     sync.RWMutex
	b      Backend
	closed bool
}

// Set installs the loaded backend. If Close already ran (shutdown began
// while loading), b is closed at once and Set returns its Close error.
func (d *Deferred) Set(b Backend) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return b.Close()
	}
	d.b = b
	return nil
}

func (d *Deferred) get() Backend {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.b
}

// Retrieve implements Backend.
func (d *Deferred) Retrieve(ctx context.Context, req Retrieval) (Retrieved, error) {
	if b := d.get(); b != nil {
		return b.Retrieve(ctx, req)
	}
	return Retrieved{}, ErrNotReady
}

// Doc implements Backend.
func (d *Deferred) Doc(ctx context.Context, id string) (Document, error) {
	if b := d.get(); b != nil {
		return b.Doc(ctx, id)
	}
	return Document{}, ErrNotReady
}

// PutDocs implements Backend.
func (d *Deferred) PutDocs(ctx context.Context, docs []Document) error {
	if b := d.get(); b != nil {
		return b.PutDocs(ctx, docs)
	}
	return ErrNotReady
}

// DeleteDoc implements Backend.
func (d *Deferred) DeleteDoc(ctx context.Context, id string) error {
	if b := d.get(); b != nil {
		return b.DeleteDoc(ctx, id)
	}
	return ErrNotReady
}

// Stats implements Backend; zero until loaded.
func (d *Deferred) Stats() Stats {
	if b := d.get(); b != nil {
		return b.Stats()
	}
	return Stats{}
}

// Ready implements Backend: false until Set, then the backend's own answer.
func (d *Deferred) Ready() bool {
	b := d.get()
	return b != nil && b.Ready()
}

// Flush implements Flusher, passing the call on when the backend has one.
func (d *Deferred) Flush(ctx context.Context) error {
	if f, ok := d.get().(Flusher); ok {
		return f.Flush(ctx)
	}
	return nil
}

// Close implements Backend: it closes the loaded backend, or makes a later
// Set close it.
func (d *Deferred) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.b != nil {
		return d.b.Close()
	}
	return nil
}
