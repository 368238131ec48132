package vector

import (
	"github.com/contriever-go/contriever/internal/blas32"
	par "github.com/contriever-go/contriever/internal/parallel"
)

// gemmSerial is the sgemm called inside the package's own worker goroutines,
// which already use every core: it must not spawn more work of its own.
var gemmSerial = blas32.SgemmSerial

// dot is the inner product used for the one-query (GEMV-shaped) scans.
var dot = blas32.Dot

// axpy is y += alpha·x (the PQ lookup tables).
var axpy = blas32.Axpy

// parallel and parallelDynamic are the project's parallel-for helpers
// (internal/parallel): contiguous ranges, and items from a shared counter.
var (
	parallel        = par.Ranges
	parallelDynamic = par.Items
)
