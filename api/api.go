// Package api is the REST search service: a gin HTTP server that answers
// BM25, dense and hybrid queries, serves and edits the documents of an index,
// and exposes health, readiness, Prometheus metrics and its own OpenAPI 3
// description. The index itself sits behind the Backend interface, so that
// this package calls no retrieval code itself: the BM25 index, the vector index,
// the encoder and the document store are wired in by the caller (package
// engine provides them). Hybrid ranking (normalised linear interpolation or
// reciprocal rank fusion) is done here, with the engine's fusion dispatch
// (engine.Fuse), from the two ranked lists the backend returns.
//
// Routes (see openapi.json, served at /openapi.json, for every parameter and
// schema):
//
//	GET    /search?q=...&k=10&mode=bm25|dense|hybrid&fusion=linear|rrf&alpha=0.2&norm=minmax|zscore
//	POST   /search      {"query": "..."} or {"queries": ["...", ...]}, plus k, mode, fusion, alpha, norm
//	GET    /docs/{id}
//	POST   /docs        [{"id", "title", "text"}, ...] or {"docs": [...]}: add or replace
//	DELETE /docs/{id}
//	GET    /healthz     the process is up
//	GET    /readyz      the index is loaded and the server is not shutting down
//	GET    /metrics     Prometheus text exposition format 0.0.4
//	GET    /openapi.json
//
// Every error is a JSON object {"error": "message"}: 400 for bad input (k out
// of range, unknown mode, fusion or normalisation, alpha outside [0, 1], an
// empty query, malformed JSON, an unknown field or parameter, a body over the
// size limit), 404 for a missing document or route, 405 for a wrong method,
// 503 when the index is not loaded, the server is shutting down or the request
// ran past its deadline, 499 (logged, never read) when the client went away
// first, and 500 only for faults of the server or backend (which are
// logged).
package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/engine"
)

// Mode is a ranking mode of /search.
type Mode string

// The ranking modes.
const (
	ModeBM25   Mode = "bm25"   // BM25 alone
	ModeDense  Mode = "dense"  // the dense retriever alone
	ModeHybrid Mode = "hybrid" // both, fused
)

// Fusion is a hybrid fusion method.
type Fusion string

// The fusion methods (see package engine/fusion for the definitions).
const (
	FusionLinear Fusion = "linear" // α·norm(dense) + (1−α)·norm(bm25)
	FusionRRF    Fusion = "rrf"    // Σ 1/(k + rank), k = 60
)

// Document is one document of the index: {"id", "title", "text"} in JSON
// (the project's document type).
type Document = document.Doc

// Retrieval asks the backend for the ranked lists of some methods (the
// engine's type).
type Retrieval = engine.Retrieval

// Retrieved holds, per method, one ranked list per query (the engine's
// type; see engine.Retrieved for its contract).
type Retrieved = engine.Retrieved

// Stats are the index sizes reported as gauges on /metrics (the engine's
// type).
type Stats = engine.Stats

// Errors a Backend returns (wrapped) to select a status code. They are the
// engine's sentinels.
var (
	// ErrNotFound: the document does not exist (404).
	ErrNotFound = engine.ErrNotFound
	// ErrUnavailable: the index lacks the requested method, e.g. dense
	// search on an index built with --no-dense (400).
	ErrUnavailable = engine.ErrUnavailable
	// ErrInvalid: the backend rejects the input, e.g. a document too long
	// to index (400).
	ErrInvalid = engine.ErrInvalid
	// ErrNotReady: the index is not loaded (503).
	ErrNotReady = engine.ErrNotReady
)

// Backend is the index the server queries and edits.
//
// Locking contract: the server calls every method from many goroutines at
// once, with no lock of its own, so a Backend must be safe for concurrent use.
// Reads (Retrieve, Doc, Stats, Ready) may run alongside each other and
// alongside writes (PutDocs, DeleteDoc); the backend serialises writes as it
// needs to. Each call must see the index at one point in time: one Retrieve
// returns every list from the same snapshot, and a document added or removed
// by a write is either fully visible (store, BM25 and vectors) or not at all
// to a read that overlaps it. A write that returned nil is durable. Context
// deadlines must be honoured: a call past its deadline returns an error
// wrapping ctx.Err(). Close is called once, after the last request finished.
type Backend interface {
	// Retrieve returns the top-K hits of each requested method for each
	// query; ErrUnavailable when a requested method is absent.
	Retrieve(ctx context.Context, req Retrieval) (Retrieved, error)
	// Doc returns a document; ErrNotFound when it does not exist.
	Doc(ctx context.Context, id string) (Document, error)
	// PutDocs adds or replaces documents (embedding and indexing them) as
	// one durable operation. The server has checked that ids are non-empty
	// and distinct.
	PutDocs(ctx context.Context, docs []Document) error
	// DeleteDoc removes a document durably; ErrNotFound when it does not
	// exist.
	DeleteDoc(ctx context.Context, id string) error
	// Stats reports index sizes; it should be cheap.
	Stats() Stats
	// Ready reports whether the index is loaded and can serve requests.
	Ready() bool
	// Close releases the index. The server calls it once at shutdown,
	// after Flush when the backend is a Flusher.
	Close() error
}

// Flusher is an optional Backend capability: Flush persists buffered state
// (for instance merges a BM25 segment or writes a vector index snapshot). The
// server calls it at shutdown, before Close.
type Flusher interface {
	Flush(ctx context.Context) error
}

// Options configure a Server. The zero value of every field picks the
// default given in its comment.
type Options struct {
	Logger *slog.Logger // request and error logs; default slog.Default()

	DefaultK     int      // k when the request has none; default 10
	MaxK         int      // largest k accepted; default 1000
	MaxBatch     int      // most queries in one POST /search; default 128
	MaxDocsPut   int      // most documents in one POST /docs; default 10000
	MaxBodyBytes int64    // largest request body; default 8 MiB
	SnippetChars int      // snippet length in characters (runes); default 300; negative: the whole text
	DefaultMode  Mode     // mode when the request has none; default hybrid
	DefaultFuse  Fusion   // fusion when the request has none; default linear
	DefaultAlpha *float64 // α when the request has none; default fusion.DefaultAlpha (0.2, label-free)
	DefaultNorm  string   // normalisation for linear fusion, "minmax" or "zscore"; default minmax
	HybridDepth  int      // hybrid fuses the top max(k, HybridDepth) of each list, then keeps k; default 0 (k)
	RRFK         int      // RRF constant; default 60 (fusion.DefaultRRFK)

	RequestTimeout    time.Duration // deadline of each request's context; default 10s
	ReadHeaderTimeout time.Duration // http.Server; default 5s
	ReadTimeout       time.Duration // http.Server; default 30s
	WriteTimeout      time.Duration // http.Server; default RequestTimeout + 5s
	IdleTimeout       time.Duration // http.Server; default 120s
	MaxHeaderBytes    int           // http.Server; default 64 KiB
	ShutdownGrace     time.Duration // time in-flight requests get at shutdown; default 15s
}
