package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/contriever-go/contriever/engine/fusion"
)

// Server is the REST service over one Backend. Create it with New; serve it
// with Run or Serve, or mount Handler in a server of your own.
type Server struct {
	b       Backend
	opts    Options
	alpha   float64
	norm    fusion.Normalization
	log     *slog.Logger
	engine  *gin.Engine
	metrics *metrics

	shutting  atomic.Bool // set when shutdown begins: /readyz turns 503
	closeOnce sync.Once
	closeErr  error
}

// New returns a server over b with the given options (zero fields take their
// defaults). It fails on options that make no sense, such as MaxK < 1.
func New(b Backend, opts Options) (*Server, error) {
	if b == nil {
		return nil, errors.New("api: nil backend")
	}
	setDefaults(&opts)
	s := &Server{b: b, opts: opts, alpha: *opts.DefaultAlpha, log: opts.Logger, metrics: newMetrics()}
	switch {
	case opts.MaxK < 1:
		return nil, fmt.Errorf("api: MaxK %d < 1", opts.MaxK)
	case opts.DefaultK < 1 || opts.DefaultK > opts.MaxK:
		return nil, fmt.Errorf("api: DefaultK %d outside [1, MaxK=%d]", opts.DefaultK, opts.MaxK)
	case opts.MaxBatch < 1 || opts.MaxDocsPut < 1 || opts.MaxBodyBytes < 1:
		return nil, errors.New("api: MaxBatch, MaxDocsPut and MaxBodyBytes must be positive")
	case !(s.alpha >= 0 && s.alpha <= 1):
		return nil, fmt.Errorf("api: DefaultAlpha %v outside [0, 1]", s.alpha)
	case opts.RRFK < 0 || opts.HybridDepth < 0:
		return nil, errors.New("api: RRFK and HybridDepth must be >= 0")
	}
	if _, err := parseMode(string(opts.DefaultMode)); err != nil {
		return nil, fmt.Errorf("api: DefaultMode: %w", err)
	}
	if _, err := parseFusion(string(opts.DefaultFuse)); err != nil {
		return nil, fmt.Errorf("api: DefaultFuse: %w", err)
	}
	n, err := fusion.ParseNormalization(opts.DefaultNorm)
	if err != nil {
		return nil, fmt.Errorf("api: DefaultNorm: %w", err)
	}
	s.norm = n
	s.engine = s.routes()
	return s, nil
}

func setDefaults(o *Options) {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def(&o.DefaultK, 10)
	def(&o.MaxK, 1000)
	def(&o.MaxBatch, 128)
	def(&o.MaxDocsPut, 10000)
	def(&o.SnippetChars, 300)
	def(&o.RRFK, fusion.DefaultRRFK)
	def(&o.MaxHeaderBytes, 64<<10)
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 8 << 20
	}
	if o.DefaultMode == "" {
		o.DefaultMode = ModeHybrid
	}
	if o.DefaultFuse == "" {
		o.DefaultFuse = FusionLinear
	}
	if o.DefaultAlpha == nil {
		a := fusion.DefaultAlpha
		o.DefaultAlpha = &a
	}
	if o.DefaultNorm == "" {
		o.DefaultNorm = "minmax"
	}
	defD(&o.RequestTimeout, 10*time.Second)
	defD(&o.ReadHeaderTimeout, 5*time.Second)
	defD(&o.ReadTimeout, 30*time.Second)
	defD(&o.WriteTimeout, o.RequestTimeout+5*time.Second)
	defD(&o.IdleTimeout, 120*time.Second)
	defD(&o.ShutdownGrace, 15*time.Second)
}

// Options returns the options in effect, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// Handler returns the server's HTTP handler (the gin engine with its
// middleware), for tests or for mounting in another server.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ForwardedByClientIP = false
	e.UseEscapedPath = true // ids may hold an escaped "/"
	e.UnescapePathValues = true
	e.RedirectTrailingSlash = false
	_ = e.SetTrustedProxies(nil)
	e.Use(s.observe, s.recoverer, s.limits)
	e.GET("/search", s.searchGET)
	e.POST("/search", s.searchPOST)
	e.GET("/docs/:id", s.getDoc)
	e.POST("/docs", s.putDocs)
	e.DELETE("/docs/:id", s.deleteDoc)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.serveMetrics)
	e.GET("/openapi.json", s.openAPI)
	e.NoRoute(func(c *gin.Context) {
		jsonError(c, http.StatusNotFound, fmt.Sprintf("no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		jsonError(c, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})
	return e
}

// Run listens on addr (host:port; port 0 picks one) and serves until ctx is
// cancelled or serving fails; see Serve. A CLI maps SIGTERM and SIGINT to
// the cancellation of ctx (signal.NotifyContext).
func (s *Server) Run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.closeBackend(context.Background())
		return fmt.Errorf("api: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// /readyz turns 503, the listener closes (no new connections), idle
// connections close, and in-flight requests get ShutdownGrace to finish
// before their connections are closed forcibly. Last, the backend is flushed
// (when it is a Flusher) and closed. Serve returns nil after a clean
// shutdown; it closes the backend on every return path, so call it once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("serving", "addr", ln.Addr().String())
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-served:
		// Serving failed before any shutdown was asked for.
		s.shutting.Store(true)
		hs.Close()
		err = fmt.Errorf("api: %w", err)
	case <-ctx.Done():
		s.shutting.Store(true)
		s.log.Info("shutting down", "grace", s.opts.ShutdownGrace.String())
		sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownGrace)
		if serr := hs.Shutdown(sctx); serr != nil {
			s.log.Warn("grace period over: closing remaining connections", "err", serr)
			hs.Close()
		}
		cancel()
		if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = fmt.Errorf("api: %w", serr)
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownGrace)
	defer cancel()
	if cerr := s.closeBackend(fctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	s.log.Info("stopped", "err", err)
	return err
}

// closeBackend flushes and closes the backend once.
func (s *Server) closeBackend(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if f, ok := s.b.(Flusher); ok {
			if err := f.Flush(ctx); err != nil {
				errs = append(errs, fmt.Errorf("api: flushing index: %w", err))
			}
		}
		if err := s.b.Close(); err != nil {
			errs = append(errs, fmt.Errorf("api: closing index: %w", err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
