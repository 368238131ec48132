package api_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/contriever-go/contriever/api"
	"github.com/contriever-go/contriever/index/docstore"
)

// A Document is a docstore.Doc.
var _ docstore.Doc = api.Document{}

// The serve command: SIGINT or SIGTERM cancels the context, which makes Run
// stop accepting, finish in-flight requests, then flush and close the index.
func ExampleServer_Run() {
	var backend api.Backend // the index folder, opened by the caller
	srv, err := api.New(backend, api.Options{Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))})
	if err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx, "127.0.0.1:8080"); err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
}
