package engine

import (
	"errors"

	"github.com/contriever-go/contriever/engine/fusion"
)

// Retrieval asks the backend for the ranked lists of some methods.
type Retrieval struct {
	Queries []string // one or more query texts, none empty
	K       int      // hits wanted per query and method, ≥ 1
	BM25    bool     // return BM25 lists
	Dense   bool     // return dense lists
}

// Retrieved holds, per method, one ranked list per query (same order as
// Retrieval.Queries). A method that was not asked for is nil. Each list holds
// at most K hits with distinct, non-empty ids and finite scores, higher is
// better; the order within a list does not matter (the server re-sorts by
// score, then id).
type Retrieved struct {
	BM25  [][]fusion.Hit
	Dense [][]fusion.Hit
}

// Stats are the index sizes reported as gauges on /metrics. A component the
// index does not have reports 0.
type Stats struct {
	Documents     int64 // documents in the document store
	BM25Documents int64 // documents in the BM25 index
	Vectors       int64 // vectors in the vector index
	DiskBytes     int64 // bytes the index folder takes on disk
}

// Errors a Backend returns (wrapped) to select a status code.
var (
	// ErrNotFound: the document does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the index lacks the requested method, e.g. dense
	// search on an index built with --no-dense (400).
	ErrUnavailable = errors.New("not available in this index")
	// ErrInvalid: the backend rejects the input, e.g. a document too long
	// to index (400).
	ErrInvalid = errors.New("invalid input")
	// ErrNotReady: the index is not loaded (503).
	ErrNotReady = errors.New("index not ready")
)
