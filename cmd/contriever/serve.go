package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/contriever-go/contriever/api"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/engine/fusion"
)

func init() {
	register(command{
		name:    "serve",
		summary: "serve an index folder over HTTP (search bm25|dense|hybrid, add/delete docs, metrics)",
		run:     runServe,
	})
}

func runServe(args []string) error {
	fs := newFlagSet("serve", "--index IDX [--addr 127.0.0.1:8080] [--max-k 1000] [--timeout 10s] ...")
	dir := fs.String("index", "", "index folder built by `contriever index` (required)")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address host:port (port 0 picks one; the address is logged)")
	maxK := fs.Int("max-k", 1000, "largest k a request may ask for")
	defK := fs.Int("k", 10, "k when a request has none")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of each request")
	maxBatch := fs.Int("max-batch", 128, "most queries in one POST /search")
	maxDocs := fs.Int("max-docs", 10000, "most documents in one POST /docs")
	maxBody := fs.Int64("max-body", 8<<20, "largest request body in bytes")
	mode := fs.String("mode", "", "mode when a request has none: bm25, dense or hybrid (default hybrid, or what the index has)")
	fusionName := fs.String("fusion", "linear", "default fusion: linear or rrf")
	alpha := fs.Float64("alpha", fusion.DefaultAlpha, "default α of linear fusion (weight of dense); when not given, the α recorded in the index (chosen on held-out qrels by contriever index --eval, else the label-free default)")
	depth := fs.Int("hybrid-depth", 100, "hybrid fuses the top max(k, N) of each list (min-max and z-score normalise over those lists, so a deeper list changes the fused scores)")
	snippet := fs.Int("snippet", 300, "snippet length in characters (negative: whole text)")
	grace := fs.Duration("shutdown-grace", 15*time.Second, "time in-flight requests get at shutdown")
	nprobe := fs.Int("nprobe", 0, "ivf: lists searched per query (default: the index's)")
	encoders := fs.Int("encoders", 0, "encoders embedding concurrently (default: GOMAXPROCS)")
	flushEvery := fs.Duration("flush-interval", 5*time.Minute, "save the vector snapshot this often when documents changed (0: only at shutdown); documents are durable anyway, this bounds the catch-up after a crash")
	logFormat := fs.String("log-format", "text", "log format on stderr: text or json")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	precName := fs.String("precision", "", "arithmetic of the encoder's linear layers for queries and new documents: f32, bf16 or int8 (default: the index's)")
	pprofAddr := fs.String("pprof", "", "also serve net/http/pprof on this address (e.g. 127.0.0.1:6060); off by default")
	model := fs.String("model", "", "check that the index holds this model folder (same files, same conventions) and refuse to start otherwise; queries are always embedded by the index's own copy, with the conventions recorded in its manifest")
	addPromptFlags(fs, "check: ")
	keysFile := fs.String("api-keys", "", "file of API keys, one \"read:KEY\" or \"write:KEY\" per line (also $"+api.EnvAPIKeys+"); with keys, requests need \"Authorization: Bearer KEY\"")
	readOnly := fs.Bool("read-only", false, "refuse POST /docs and DELETE /docs/{id}")
	insecure := fs.Bool("insecure", false, "allow serving a non-loopback --addr without API keys")
	allowedHosts := fs.String("allowed-hosts", "", "comma-separated Host names accepted besides localhost and loopback addresses (\"*\": any)")
	corsOrigins := fs.String("cors-origins", "", "comma-separated browser origins allowed to call the API (default none)")
	maxResp := fs.Int64("max-response-bytes", api.DefaultMaxResponseBytes, "largest response body; larger searches are refused with 400")
	writeShare := fs.Float64("write-share", 0.5, "while searches run, the largest share of wall-clock time the write path spends applying POST /docs: after each group commit it pauses (holding the write lock, so that writers arriving meanwhile are grouped into one commit) to leave the cores to searches; 1 turns pacing off")
	procs := fs.Int("procs", 0, "Go scheduler threads (GOMAXPROCS) while serving ($GOMAXPROCS, when set, wins); 0: twice the CPUs, so that the kernel time-slices a search against bleve's background merges and segment builds at its own fine granularity, instead of the search waiting for the Go scheduler's 10 ms quantum to end behind them")
	gcPercent := fs.Int("gc-percent", 400, "the Go collector's GOGC while serving ($GOGC, when set, wins): the live heap is small and writes allocate steadily, so the runtime's 100 collects about 10 times a second under write load, each with stop-the-world pauses that reach searches")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(serveProcs(*procs, runtime.GOMAXPROCS(0)))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *dir == "" {
		fs.Usage()
		return errors.New("--index is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", *logLevel, err)
	}
	var h slog.Handler
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	case "json":
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	default:
		return fmt.Errorf("--log-format %q: want text or json", *logFormat)
	}
	logger := slog.New(h)
	settings, err := modelSettings(fs)
	if err != nil {
		return err
	}
	keys, err := api.LoadKeys(*keysFile)
	if err != nil {
		return err
	}
	if err := api.CheckExposure(*addr, keys, *insecure); err != nil {
		return err
	}
	logger.Info("access", "api_keys", keys.Len(), "read_only", *readOnly, "insecure", *insecure)
	// Check the manifest before listening: a bad folder fails at once.
	m, err := engine.ReadManifest(*dir)
	if err != nil {
		return err
	}
	if err := engine.CheckSettings(*dir, m, *model, settings); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if m.Model != nil {
		built, err := encoder.ParsePrecision(m.Model.Precision)
		if err != nil {
			return fmt.Errorf("index %s: manifest: %w", *dir, err)
		}
		p := built
		if *precName != "" {
			if p, err = encoder.ParsePrecision(*precName); err != nil {
				return err
			}
			if p != built {
				logger.Warn("queries are embedded at another precision than the index's vectors", "precision", p.String(), "index", built.String())
			}
		}
		logger.Info("encoder precision", "precision", p.Arithmetic())
	}
	norm := ""
	if m.Hybrid != nil && !set["alpha"] {
		*alpha, norm = m.Hybrid.Alpha, m.Hybrid.Norm
		logger.Info("hybrid defaults from the index", "alpha", *alpha, "norm", norm, "rule", m.Hybrid.Rule, "chosen_on", m.Hybrid.Split, "queries", m.Hybrid.Queries, "ndcg@10", m.Hybrid.NDCG10)
	}
	opts := api.Options{
		DefaultNorm: norm,
		Logger:      logger, DefaultK: *defK, MaxK: *maxK, MaxBatch: *maxBatch, MaxDocsPut: *maxDocs, MaxBodyBytes: *maxBody,
		SnippetChars: *snippet, DefaultFuse: api.Fusion(*fusionName), DefaultAlpha: alpha, HybridDepth: *depth,
		RequestTimeout: *timeout, WriteTimeout: *timeout + 5*time.Second, ShutdownGrace: *grace,
		Guard: api.Guard{Keys: keys, ReadOnly: *readOnly, AllowedHosts: splitList(*allowedHosts),
			CORSOrigins: splitList(*corsOrigins), MaxResponseBytes: *maxResp},
	}
	switch {
	case *mode != "":
		opts.DefaultMode = api.Mode(strings.ToLower(*mode))
	case m.BM25 == nil:
		opts.DefaultMode = api.ModeDense
	case m.Vectors == nil:
		opts.DefaultMode = api.ModeBM25
	}
	if *pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		go func() {
			if err := http.ListenAndServe(*pprofAddr, mux); err != nil {
				logger.Warn("pprof listener", "err", err)
			}
		}()
	}
	backend := &api.Deferred{}
	srv, err := api.New(backend, opts)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	loadErr := make(chan error, 1)
	go func() {
		t0 := time.Now()
		c, err := engine.Open(ctx, *dir, engine.OpenOptions{Encoders: *encoders, NProbe: *nprobe, Logger: logger, Model: *model, Settings: settings, Precision: *precName})
		if err == nil {
			var b *engine.Composite
			if b, err = c.Backend(); err == nil {
				b.SetWriteShare(*writeShare)
				err = backend.Set(b)
			} else {
				c.Close()
			}
			if err == nil {
				logger.Info("index loaded", "dir", *dir, "docs", c.Store().Len(), "reindexed", c.CaughtUp, "dropped", c.Dropped, "bm25_rebuilt", c.Rebuilt, "repaired", c.Repaired, "took", time.Since(t0).String())
				if p := c.Encoder(); p != nil {
					logger.Info("model conventions from the manifest", "conventions", engine.ConventionsOf(p).String())
				}
				if *flushEvery > 0 {
					go serveFlushLoop(ctx, backend, *flushEvery, logger)
				}
			}
		}
		if err != nil {
			logger.Error("loading the index failed", "dir", *dir, "err", err)
			loadErr <- err
			stop()
		}
	}()
	err = srv.Run(ctx, *addr)
	select {
	case lerr := <-loadErr:
		return lerr
	default:
	}
	return err
}

// serveFlushLoop flushes the backend every interval until ctx ends.
func serveFlushLoop(ctx context.Context, b *api.Deferred, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ctx.Err() != nil {
				return
			}
			if err := b.Flush(ctx); err != nil && ctx.Err() == nil {
				log.Warn("periodic flush failed", "err", err)
			}
		}
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// serveProcs returns the GOMAXPROCS to serve with: flag when positive, else
// twice cpus (the CPUs the runtime found, cgroup limits included). Writes
// run bleve's merges and segment builds in goroutines that keep a P for up
// to the Go scheduler's 10 ms quantum; with as many Ps as cores a search
// that becomes runnable behind them waits for that quantum, while with
// twice as many the kernel shares the cores among the threads at its finer
// granularity. On the mixed load (api/loadtest/mixed.sh, 2 cores) the
// search p99 fell from 86 to 35 ms (69 to 26 ms with write pacing), and
// with searches alone from 32 to 15 ms at the same throughput.
func serveProcs(flag, cpus int) int {
	if flag > 0 {
		return flag
	}
	return 2 * max(cpus, 1)
}
