package api

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// latencyBuckets are the upper bounds (seconds) of the request latency
// histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type reqKey struct{ method, route, code string }
type latKey struct{ method, route string }

type histogram struct {
	counts []uint64 // per bucket, not cumulative; last is +Inf
	sum    float64
	n      uint64
}

// metrics is the server's hand-written Prometheus registry.
type metrics struct {
	mu       sync.Mutex
	requests map[reqKey]uint64
	latency  map[latKey]*histogram
	queries  map[Mode]uint64 // queries answered (a batch counts each)
	inflight atomic.Int64
	start    time.Time
}

func newMetrics() *metrics {
	return &metrics{
		requests: map[reqKey]uint64{},
		latency:  map[latKey]*histogram{},
		queries:  map[Mode]uint64{},
		start:    time.Now(),
	}
}

// normMethod keeps the method label's cardinality bounded.
func normMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodPatch, http.MethodHead, http.MethodOptions:
		return m
	}
	return "other"
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	method = normMethod(method)
	sec := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[reqKey{method, route, strconv.Itoa(status)}]++
	h := m.latency[latKey{method, route}]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets)+1)}
		m.latency[latKey{method, route}] = h
	}
	i, _ := slices.BinarySearch(latencyBuckets, sec) // first bound >= sec
	h.counts[i]++
	h.sum += sec
	h.n++
}

func (m *metrics) countQueries(mode Mode, n int) {
	m.mu.Lock()
	m.queries[mode] += uint64(n)
	m.mu.Unlock()
}

// escapeLabel escapes a label value for the text exposition format.
func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// write renders every metric in the Prometheus text exposition format 0.0.4,
// families and series in a fixed order.
func (m *metrics) write(w io.Writer, st Stats, ready bool) error {
	bw := bufio.NewWriter(w)
	family := func(name, typ, help string) {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	gauge := func(name, help string, v float64) {
		family(name, "gauge", help)
		fmt.Fprintf(bw, "%s %s\n", name, formatFloat(v))
	}

	m.mu.Lock()
	reqs := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		reqs = append(reqs, k)
	}
	slices.SortFunc(reqs, func(a, b reqKey) int {
		return cmp.Or(cmp.Compare(a.route, b.route), cmp.Compare(a.method, b.method), cmp.Compare(a.code, b.code))
	})
	family("contriever_http_requests_total", "counter", "HTTP requests served, by method, route and status code.")
	for _, k := range reqs {
		fmt.Fprintf(bw, "contriever_http_requests_total{method=\"%s\",route=\"%s\",code=\"%s\"} %d\n",
			escapeLabel(k.method), escapeLabel(k.route), escapeLabel(k.code), m.requests[k])
	}
	lats := make([]latKey, 0, len(m.latency))
	for k := range m.latency {
		lats = append(lats, k)
	}
	slices.SortFunc(lats, func(a, b latKey) int {
		return cmp.Or(cmp.Compare(a.route, b.route), cmp.Compare(a.method, b.method))
	})
	family("contriever_http_request_duration_seconds", "histogram", "HTTP request latency in seconds, by method and route.")
	for _, k := range lats {
		h := m.latency[k]
		labels := fmt.Sprintf("method=\"%s\",route=\"%s\"", escapeLabel(k.method), escapeLabel(k.route))
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(bw, "contriever_http_request_duration_seconds_bucket{%s,le=\"%s\"} %d\n", labels, formatFloat(le), cum)
		}
		cum += h.counts[len(latencyBuckets)]
		fmt.Fprintf(bw, "contriever_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, cum)
		fmt.Fprintf(bw, "contriever_http_request_duration_seconds_sum{%s} %s\n", labels, formatFloat(h.sum))
		fmt.Fprintf(bw, "contriever_http_request_duration_seconds_count{%s} %d\n", labels, h.n)
	}
	family("contriever_search_queries_total", "counter", "Search queries answered, by mode (each query of a batch counts).")
	for _, mode := range []Mode{ModeBM25, ModeDense, ModeHybrid} {
		fmt.Fprintf(bw, "contriever_search_queries_total{mode=\"%s\"} %d\n", mode, m.queries[mode])
	}
	m.mu.Unlock()

	gauge("contriever_http_requests_in_flight", "HTTP requests being served.", float64(m.inflight.Load()))
	gauge("contriever_index_documents", "Documents in the document store.", float64(st.Documents))
	gauge("contriever_index_bm25_documents", "Documents in the BM25 index.", float64(st.BM25Documents))
	gauge("contriever_index_vectors", "Vectors in the vector index.", float64(st.Vectors))
	gauge("contriever_index_disk_bytes", "Bytes the index folder takes on disk.", float64(st.DiskBytes))
	r := 0.0
	if ready {
		r = 1
	}
	gauge("contriever_ready", "1 when the index is loaded and the server accepts searches.", r)
	gauge("contriever_uptime_seconds", "Seconds since the server was created.", time.Since(m.start).Seconds())
	return bw.Flush()
}

func (s *Server) serveMetrics(c *gin.Context) {
	c.Header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	c.Status(http.StatusOK)
	if err := s.metrics.write(c.Writer, s.b.Stats(), s.isReady()); err != nil {
		c.Set(logErrorKey, err.Error())
	}
}
