package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
)

// errorBody is the JSON form of every error response. A 5xx answer also
// carries the request id, to find the details in the server's log.
type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// requestIDKey holds the request id in the gin context.
const requestIDKey = "api.request_id"

func jsonError(c *gin.Context, status int, msg string) {
	b := errorBody{Error: msg}
	if status >= 500 {
		b.RequestID = c.GetString(requestIDKey)
	}
	c.AbortWithStatusJSON(status, b)
}

// requestID returns the client's X-Request-ID when it is short and printable,
// or a fresh random one.
func requestID(c *gin.Context) string {
	if id := c.GetHeader("X-Request-ID"); id != "" && len(id) <= 64 {
		ok := true
		for i := 0; i < len(id); i++ {
			if id[i] < 0x21 || id[i] > 0x7e {
				ok = false
				break
			}
		}
		if ok {
			return id
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// observe is the outermost middleware: it assigns a request id, counts the
// request in the metrics and writes one structured log line per request.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	id := requestID(c)
	c.Header("X-Request-ID", id)
	c.Set(requestIDKey, id)
	s.metrics.inflight.Add(1)
	defer s.metrics.inflight.Add(-1)

	c.Next()

	d := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	s.metrics.observe(c.Request.Method, route, status, d)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int("bytes", max(c.Writer.Size(), 0)),
		slog.String("remote", c.Request.RemoteAddr),
	}
	if msg, ok := c.Get(logErrorKey); ok {
		attrs = append(attrs, slog.Any("error", msg))
	}
	s.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

// logErrorKey holds, in the gin context, an error message for the request log.
const logErrorKey = "api.error"

// recoverer turns a panic in a handler or the backend into a logged 500, so
// one bad request cannot take the server down. http.ErrAbortHandler is
// re-raised, as net/http expects.
func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		s.log.Error("panic serving request", "panic", fmt.Sprint(v), "method", c.Request.Method,
			"path", c.Request.URL.Path, "stack", string(debug.Stack()))
		c.Set(logErrorKey, fmt.Sprint("panic: ", v))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		jsonError(c, http.StatusInternalServerError, "internal error")
	}()
	c.Next()
}

// limits gives each request a context deadline (RequestTimeout) and caps its
// body at MaxBodyBytes.
func (s *Server) limits(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.opts.RequestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxBodyBytes)
	}
	c.Next()
}
