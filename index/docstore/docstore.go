// Package docstore is the document store of an index folder: the ids,
// titles and texts of the corpus, kept in memory for lookups and persisted in
// an append-only log (see log.go for the format). Every Put and Delete is one
// checksummed record, written and fsynced before the call returns, so an
// acknowledged operation survives a crash; a crash mid-write leaves a torn
// tail that Open truncates, while damage anywhere else is reported as
// ErrCorrupt and nothing is loaded. Compact rewrites the live documents into
// a temporary file, fsyncs it and renames it over the log.
//
// A Store is safe for concurrent use: reads (Get, Len, IDs, All, Stats) share
// a read lock, writes (Put, Delete, Compact, Close) take the write lock and
// hold it across the fsync, so writers are serialised and a reader sees each
// write either completely or not at all. Iteration order is insertion order:
// the order in which ids were first added; replacing a document keeps its
// place, deleting and re-adding one moves it to the end.
//
// Operations are numbered 1, 2, 3, ... (Seq); a document's version is the
// number of the Put that last wrote it, and both survive Compact and
// reopening. This lets the indexes built from the store (BM25, vectors) catch
// up after a crash, with the store as their write-ahead log: when an index is
// saved, record S = Seq() beside it (taken while writes are paused); after
// reopening, remove from the index every id the store no longer holds, then
// (re)index every document of Since(S).
package docstore

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sync"

	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/internal/atomicfile"
)

// DefaultFileName is the conventional name of the log inside an index folder.
const DefaultFileName = "docs.log"

// Sentinel errors.
var (
	// ErrCorrupt reports a log that fails its checks before the tail.
	ErrCorrupt = errors.New("docstore: corrupt log")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("docstore: store is closed")
	// ErrEmptyID reports a document or id that is the empty string.
	ErrEmptyID = errors.New("docstore: empty document id")
	// ErrTooLarge reports a batch whose record would exceed MaxRecordBytes.
	ErrTooLarge = errors.New("docstore: batch too large for one record")
	// ErrLocked reports a log that another open Store (in this or another
	// process) holds.
	ErrLocked = errors.New("docstore: log is locked by another store")
)

// Doc is one document of the corpus (the project's document type).
type Doc = document.Doc

type entry struct {
	doc Doc
	ver uint64 // seq of the Put that wrote doc
	pos int    // index in Store.order
}

// Store is an open document store. The zero value is not usable; call Open.
type Store struct {
	// wmu serialises writers (Put, Delete, Compact, SetFaultHook, Close);
	// mu guards what readers see: a Put or Delete appends and fsyncs its
	// record holding only wmu, and takes mu only to apply it in memory, so
	// reads (a search's snippets) never wait for an fsync.
	wmu     sync.Mutex
	mu      sync.RWMutex
	path    string
	f       *os.File                // opened O_APPEND; nil once closed
	lock    io.Closer               // holds the flock on path+".lock" (or the .pid lock file where flock is missing)
	fault   func(step string) error // fault injection (tests); nil: none
	size    int64                   // bytes of valid log
	entries map[string]*entry
	order   []string // ids in insertion order; "" marks a deleted slot
	dead    int      // deleted slots in order
	live    int64    // payload bytes the live documents take (estimate)
	torn    int64    // bytes of torn tail truncated at Open
	seq     uint64   // number of the last operation
	err     error    // sticky: a failed write leaves the store unusable for writes
}

// Stats describes a store's size.
type Stats struct {
	Docs      int   // live documents
	LogBytes  int64 // size of the log file
	LiveBytes int64 // bytes the live documents would take in a compacted log (approximate)
	TornBytes int64 // bytes of torn tail removed when the store was opened
}

// Open opens the log at path, creating it (and nothing above it) when it does
// not exist, replays it, and truncates a torn tail. A leftover temporary file
// from an interrupted Compact is removed. The store holds an exclusive lock
// (path + ".lock", flock where the platform has it) until Close; a second
// Open of the same log fails with ErrLocked.
func Open(path string) (s *Store, err error) {
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("docstore: %w", err)
	}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	s = &Store{path: path, entries: map[string]*entry{}, lock: lock}
	_ = os.Remove(s.tmpPath())
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("docstore: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("docstore: %w", err)
	}
	zeroTail := func(off int64) (bool, error) { return isZeroFrom(f, off, fi.Size()) }
	end, torn, err := replay(f, fi.Size(), zeroTail, s.apply)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if end < headerSize {
		// New or torn-at-birth file: write the header.
		if err := f.Truncate(0); err == nil {
			_, err = f.WriteAt(fileHeader(), 0)
		}
		if err == nil {
			err = f.Sync()
		}
		if err == nil {
			err = atomicfile.SyncDir(filepath.Dir(path))
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("docstore: initialising %s: %w", path, err)
		}
		end = headerSize
	} else if torn {
		if err := f.Truncate(end); err != nil {
			f.Close()
			return nil, fmt.Errorf("docstore: truncating torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("docstore: %w", err)
		}
		s.torn = fi.Size() - end
	}
	f.Close()
	if s.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		return nil, fmt.Errorf("docstore: %w", err)
	}
	s.size = end
	return s, nil
}

func (s *Store) tmpPath() string { return s.path + ".compact.tmp" }

// apply performs a decoded (and already durable) operation in memory.
func (s *Store) apply(o op) error {
	s.seq = max(s.seq, o.seq)
	switch o.kind {
	case opPut:
		for _, d := range o.docs {
			if e, ok := s.entries[d.ID]; ok {
				s.live -= docBytes(e.doc)
				e.doc, e.ver = d, o.seq
			} else {
				s.entries[d.ID] = &entry{doc: d, ver: o.seq, pos: len(s.order)}
				s.order = append(s.order, d.ID)
			}
			s.live += docBytes(d)
		}
	case opDelete:
		for _, id := range o.ids {
			e, ok := s.entries[id]
			if !ok {
				continue
			}
			s.live -= docBytes(e.doc)
			s.order[e.pos] = ""
			s.dead++
			delete(s.entries, id)
		}
		if s.dead > 1024 && s.dead > len(s.order)/2 {
			s.squeeze()
		}
	}
	return nil
}

// squeeze drops deleted slots from order.
func (s *Store) squeeze() {
	out := s.order[:0]
	for _, id := range s.order {
		if id != "" {
			s.entries[id].pos = len(out)
			out = append(out, id)
		}
	}
	clear(s.order[len(out):])
	s.order = out
	s.dead = 0
}

func docBytes(d Doc) int64 { return int64(len(d.ID)+len(d.Title)+len(d.Text)) + 3 }

// write appends one record and fsyncs it, then applies it in memory under
// mu; on failure it restores the log's previous length (or, failing that,
// marks the store broken). The caller holds wmu, not mu.
func (s *Store) write(o op) (err error) {
	defer func() {
		// A panic between the write and the sync leaves a record nobody
		// acknowledged: cut it off as a failed write would.
		if p := recover(); p != nil {
			if terr := s.f.Truncate(s.size); terr != nil {
				s.err = fmt.Errorf("docstore: log %s unusable after a panic (%v): %w", s.path, p, terr)
			}
			err = fmt.Errorf("docstore: panic while writing %s: %v", s.path, p)
		}
	}()
	if s.f == nil {
		return ErrClosed
	}
	if s.err != nil {
		return s.err
	}
	o.seq = s.seq + 1
	rec, err := encodeRecord(o)
	if err != nil {
		return err
	}
	_, err = s.f.Write(rec)
	if err == nil && s.fault != nil {
		err = s.fault("docstore.write")
	}
	if err != nil {
		if terr := s.f.Truncate(s.size); terr != nil {
			s.err = fmt.Errorf("docstore: log %s unusable after failed write (%v): %w", s.path, err, terr)
		}
		return fmt.Errorf("docstore: writing %s: %w", s.path, err)
	}
	err = s.f.Sync()
	if err == nil && s.fault != nil {
		err = s.fault("docstore.sync")
	}
	if err != nil {
		// The record was not acknowledged: cut it off so that it never
		// reappears at the next Open. After a failed fsync the kernel may
		// have dropped the record's pages, but the earlier records were
		// synced; once the cut is synced the log is again exactly the
		// acknowledged operations and stays usable. When the cut fails the
		// store refuses further writes.
		if terr := s.f.Truncate(s.size); terr != nil {
			s.err = fmt.Errorf("docstore: fsync of %s failed (%v) and the unsynced record could not be removed: %w", s.path, err, terr)
		} else if serr := s.f.Sync(); serr != nil {
			s.err = fmt.Errorf("docstore: fsync of %s failed (%v), and again after removing the record: %w", s.path, err, serr)
		}
		return fmt.Errorf("docstore: fsync of %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size += int64(len(rec))
	return s.apply(o)
}

// Put adds or replaces docs as one durable, atomic operation: when it returns
// nil every doc is on disk. Within the batch a later doc with the same id
// wins. An empty id fails the whole batch with ErrEmptyID.
func (s *Store) Put(docs []Doc) error {
	for i, d := range docs {
		if d.ID == "" {
			return fmt.Errorf("%w (doc %d of the batch)", ErrEmptyID, i)
		}
	}
	if len(docs) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.write(op{kind: opPut, docs: docs})
}

// Delete removes the docs with the given ids as one durable operation and
// returns how many existed. Ids not in the store are ignored; when none
// exists nothing is written.
func (s *Store) Delete(ids []string) (int, error) {
	for i, id := range ids {
		if id == "" {
			return 0, fmt.Errorf("%w (id %d of the batch)", ErrEmptyID, i)
		}
	}
	s.wmu.Lock() // entries change only under wmu: reading them needs no mu
	defer s.wmu.Unlock()
	var present []string
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := s.entries[id]; ok && !seen[id] {
			seen[id] = true
			present = append(present, id)
		}
	}
	if len(present) == 0 {
		if s.f == nil {
			return 0, ErrClosed
		}
		return 0, nil
	}
	if err := s.write(op{kind: opDelete, ids: present}); err != nil {
		return 0, err
	}
	return len(present), nil
}

// Get returns the document with the given id.
func (s *Store) Get(id string) (Doc, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.entries[id]
	if !ok {
		return Doc{}, false
	}
	return e.doc, true
}

// Len returns the number of documents.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// IDs returns the ids in insertion order.
func (s *Store) IDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.entries))
	for _, id := range s.order {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

// All iterates over the documents in insertion order. It holds the read lock
// for the whole loop: the loop body must not call Put, Delete, Compact or
// Close on the same store (that would deadlock).
func (s *Store) All() iter.Seq[Doc] {
	return func(yield func(Doc) bool) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, id := range s.order {
			if id == "" {
				continue
			}
			if !yield(s.entries[id].doc) {
				return
			}
		}
	}
}

// Seq returns the number of the last operation (a Put or Delete that wrote a
// record); 0 for a store that never had one. It only grows, across reopening
// and compaction.
func (s *Store) Seq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

// Version returns the version of a document: the Seq of the Put that last
// wrote it.
func (s *Store) Version(id string) (uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.entries[id]
	if !ok {
		return 0, false
	}
	return e.ver, true
}

// Since iterates, in insertion order, over the documents whose version is
// greater than seq (those written after operation seq), with their versions.
// Since(0) yields every document. Like All it holds the read lock for the
// whole loop.
func (s *Store) Since(seq uint64) iter.Seq2[uint64, Doc] {
	return func(yield func(uint64, Doc) bool) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, id := range s.order {
			if id == "" {
				continue
			}
			if e := s.entries[id]; e.ver > seq && !yield(e.ver, e.doc) {
				return
			}
		}
	}
}

// Stats returns the store's counts and sizes.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{Docs: len(s.entries), LogBytes: s.size, LiveBytes: s.live, TornBytes: s.torn}
}

// compactChunk bounds the payload of one record written by Compact.
const compactChunk = 4 << 20

// Compact rewrites the log so that it holds only the live documents, in
// insertion order: it writes a temporary file beside the log, fsyncs it,
// renames it over the log and fsyncs the folder. A crash at any point leaves
// either the old or the new log, both complete.
func (s *Store) Compact() (err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return ErrClosed
	}
	if s.err != nil {
		return s.err
	}
	tmp := s.tmpPath()
	t, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("docstore: compact: %w", err)
	}
	defer func() {
		if err != nil {
			t.Close()
			os.Remove(tmp)
		}
	}()
	size := int64(headerSize)
	if _, err := t.Write(fileHeader()); err != nil {
		return fmt.Errorf("docstore: compact: %w", err)
	}
	// Consecutive documents (in insertion order) of one version share a
	// record, up to compactChunk bytes; the log ends with a mark of the
	// last seq, which a deletion may have left as its only trace.
	var batch []Doc
	var ver uint64
	var bytes int64
	emit := func(o op) error {
		rec, err := encodeRecord(o)
		if err != nil {
			return err
		}
		if _, err := t.Write(rec); err != nil {
			return err
		}
		size += int64(len(rec))
		return nil
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := emit(op{kind: opPut, seq: ver, docs: batch}); err != nil {
			return err
		}
		batch, bytes = batch[:0], 0
		return nil
	}
	for _, id := range s.order {
		if id == "" {
			continue
		}
		e := s.entries[id]
		if len(batch) > 0 && (e.ver != ver || bytes+docBytes(e.doc)+30 > compactChunk) {
			if err := flush(); err != nil {
				return fmt.Errorf("docstore: compact: %w", err)
			}
		}
		batch, ver = append(batch, e.doc), e.ver
		bytes += docBytes(e.doc) + 30
	}
	if err := flush(); err != nil {
		return fmt.Errorf("docstore: compact: %w", err)
	}
	if s.seq > 0 {
		if err := emit(op{kind: opMark, seq: s.seq}); err != nil {
			return fmt.Errorf("docstore: compact: %w", err)
		}
	}
	if err := t.Sync(); err != nil {
		return fmt.Errorf("docstore: compact: %w", err)
	}
	if err := t.Close(); err != nil {
		return fmt.Errorf("docstore: compact: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("docstore: compact: %w", err)
	}
	// From here the new log is in place; the old handle points at the
	// unlinked file and must be replaced.
	s.f.Close()
	s.f = nil
	if err := atomicfile.SyncDir(filepath.Dir(s.path)); err != nil {
		s.err = fmt.Errorf("docstore: compact: %w", err)
	}
	f, ferr := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0)
	if ferr != nil {
		s.err = fmt.Errorf("docstore: reopening %s after compaction: %w", s.path, ferr)
		return s.err
	}
	s.f = f
	s.size = size
	if s.dead > 0 {
		s.squeeze()
	}
	return s.err
}

// SetFaultHook installs a hook called after the record is written
// ("docstore.write") and after it is synced ("docstore.sync"); an error it
// returns fails that step as the real error would. It exists for
// fault-injection tests; nil removes it.
func (s *Store) SetFaultHook(h func(step string) error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = h
}

// Close releases the file and the lock. The data is already durable (every
// write was fsynced); Close is idempotent.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.f != nil {
		err = s.f.Close()
		s.f = nil
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
	if err != nil {
		return fmt.Errorf("docstore: %w", err)
	}
	return nil
}

// isZeroFrom reports whether bytes [off, size) of f are all zero.
func isZeroFrom(f *os.File, off, size int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for off < size {
		n := int64(len(buf))
		if size-off < n {
			n = size - off
		}
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return false, err
		}
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		off += n
	}
	return true, nil
}

// Lock takes the lock a Store over the log at path holds, without opening
// the log, and returns it (Close releases it); ErrLocked when a Store or
// another Lock holds it. A rebuild takes it to make sure that no process
// serves the folder it replaces.
func Lock(path string) (io.Closer, error) {
	l, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("docstore: %w", err)
	}
	return l, nil
}
