package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/engine/fusion"
)

// MethodScore is one method's part in a hybrid result.
type MethodScore struct {
	Rank  int     `json:"rank"`  // 1-based rank in that method's list
	Score float64 `json:"score"` // the method's raw score
	Fused float64 `json:"fused"` // linear: the normalised score; rrf: 1/(k + rank)
}

// SearchResult is one hit of a search response.
type SearchResult struct {
	ID      string       `json:"id"`
	Score   float64      `json:"score"`
	Title   string       `json:"title"`
	Snippet string       `json:"snippet"`
	Dense   *MethodScore `json:"dense,omitempty"` // hybrid only; absent when dense missed the doc
	BM25    *MethodScore `json:"bm25,omitempty"`  // hybrid only; absent when BM25 missed the doc
}

// SearchResponse is the answer to one query.
type SearchResponse struct {
	Query   string         `json:"query"`
	Mode    Mode           `json:"mode"`
	Fusion  Fusion         `json:"fusion,omitempty"` // hybrid only
	Alpha   *float64       `json:"alpha,omitempty"`  // linear fusion only
	Norm    string         `json:"norm,omitempty"`   // linear fusion only
	K       int            `json:"k"`
	Results []SearchResult `json:"results"`
}

// BatchResponse is the answer to a POST /search with "queries": one response
// per query, in order.
type BatchResponse struct {
	Responses []SearchResponse `json:"responses"`
}

// SearchBody is the JSON body of POST /search: exactly one of Query and
// Queries; the other fields are optional and mean what the GET parameters
// mean.
type SearchBody struct {
	Query   *string  `json:"query,omitempty"`
	Queries []string `json:"queries,omitempty"`
	K       *int     `json:"k,omitempty"`
	Mode    *string  `json:"mode,omitempty"`
	Fusion  *string  `json:"fusion,omitempty"`
	Alpha   *float64 `json:"alpha,omitempty"`
	Norm    *string  `json:"norm,omitempty"`
}

// searchParams are the validated ranking parameters of a search.
type searchParams struct {
	k      int
	mode   Mode
	fusion Fusion
	alpha  float64
	norm   fusion.Normalization
}

// searchQueryParams are the parameters GET /search accepts.
var searchQueryParams = []string{"q", "k", "mode", "fusion", "alpha", "norm"}

func parseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeBM25, ModeDense, ModeHybrid:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want bm25, dense or hybrid)", s)
}

func parseFusion(s string) (Fusion, error) {
	switch f := Fusion(s); f {
	case FusionLinear, FusionRRF:
		return f, nil
	}
	return "", fmt.Errorf("unknown fusion %q (want linear or rrf)", s)
}

// params validates the optional ranking parameters (nil: default).
func (s *Server) params(k *int, mode, fuse *string, alpha *float64, norm *string) (searchParams, error) {
	p := searchParams{k: s.opts.DefaultK, mode: s.opts.DefaultMode, fusion: s.opts.DefaultFuse, alpha: s.alpha, norm: s.norm}
	var err error
	if k != nil {
		if *k < 1 || *k > s.opts.MaxK {
			return p, fmt.Errorf("k must be between 1 and %d, got %d", s.opts.MaxK, *k)
		}
		p.k = *k
	}
	if mode != nil {
		if p.mode, err = parseMode(*mode); err != nil {
			return p, err
		}
	}
	if fuse != nil {
		if p.fusion, err = parseFusion(*fuse); err != nil {
			return p, err
		}
	}
	if alpha != nil {
		if !(*alpha >= 0 && *alpha <= 1) {
			return p, fmt.Errorf("alpha must be between 0 and 1, got %v", *alpha)
		}
		p.alpha = *alpha
	}
	if norm != nil {
		if p.norm, err = fusion.ParseNormalization(*norm); err != nil {
			return p, fmt.Errorf("unknown norm %q (want minmax or zscore)", *norm)
		}
	}
	return p, nil
}

func (s *Server) searchGET(c *gin.Context) {
	q := c.Request.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		vs := q[name]
		known := false
		for _, p := range searchQueryParams {
			known = known || p == name
		}
		if !known {
			jsonError(c, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q (want one of %s)", name, strings.Join(searchQueryParams, ", ")))
			return
		}
		if len(vs) > 1 {
			jsonError(c, http.StatusBadRequest, fmt.Sprintf("parameter %q given %d times", name, len(vs)))
			return
		}
	}
	opt := func(name string) *string {
		if vs, ok := q[name]; ok {
			return &vs[0]
		}
		return nil
	}
	var k *int
	if v := opt("k"); v != nil {
		n, err := strconv.Atoi(*v)
		if err != nil {
			jsonError(c, http.StatusBadRequest, fmt.Sprintf("k must be an integer, got %q", *v))
			return
		}
		k = &n
	}
	var alpha *float64
	if v := opt("alpha"); v != nil {
		a, err := strconv.ParseFloat(*v, 64)
		if err != nil {
			jsonError(c, http.StatusBadRequest, fmt.Sprintf("alpha must be a number, got %q", *v))
			return
		}
		alpha = &a
	}
	p, err := s.params(k, opt("mode"), opt("fusion"), alpha, opt("norm"))
	if err != nil {
		jsonError(c, http.StatusBadRequest, err.Error())
		return
	}
	query := c.Query("q")
	if strings.TrimSpace(query) == "" {
		jsonError(c, http.StatusBadRequest, "empty query: give it in parameter q")
		return
	}
	resps, err := s.search(c.Request.Context(), []string{query}, p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, resps[0])
}

func (s *Server) searchPOST(c *gin.Context) {
	var body SearchBody
	if msg := readJSON(c, &body); msg != "" {
		jsonError(c, http.StatusBadRequest, msg)
		return
	}
	p, err := s.params(body.K, body.Mode, body.Fusion, body.Alpha, body.Norm)
	if err != nil {
		jsonError(c, http.StatusBadRequest, err.Error())
		return
	}
	var queries []string
	switch {
	case body.Query != nil && body.Queries != nil:
		jsonError(c, http.StatusBadRequest, `give either "query" or "queries", not both`)
		return
	case body.Query != nil:
		if strings.TrimSpace(*body.Query) == "" {
			jsonError(c, http.StatusBadRequest, `empty query ("query")`)
			return
		}
		queries = []string{*body.Query}
	case body.Queries != nil:
		if len(body.Queries) == 0 {
			jsonError(c, http.StatusBadRequest, `"queries" is empty`)
			return
		}
		if len(body.Queries) > s.opts.MaxBatch {
			jsonError(c, http.StatusBadRequest, fmt.Sprintf(`"queries" holds %d queries, at most %d allowed`, len(body.Queries), s.opts.MaxBatch))
			return
		}
		for i, q := range body.Queries {
			if strings.TrimSpace(q) == "" {
				jsonError(c, http.StatusBadRequest, fmt.Sprintf(`empty query ("queries"[%d])`, i))
				return
			}
		}
		queries = body.Queries
	default:
		jsonError(c, http.StatusBadRequest, `empty query: give "query" or "queries"`)
		return
	}
	resps, err := s.search(c.Request.Context(), queries, p)
	if err != nil {
		s.fail(c, err)
		return
	}
	if body.Query != nil {
		c.JSON(http.StatusOK, resps[0])
		return
	}
	c.JSON(http.StatusOK, BatchResponse{Responses: resps})
}

// errBackend marks a backend answer that breaks the Backend contract.
var errBackend = errors.New("backend broke its contract")

// search runs validated queries through the backend and builds the responses.
func (s *Server) search(ctx context.Context, queries []string, p searchParams) ([]SearchResponse, error) {
	if !s.b.Ready() {
		return nil, ErrNotReady
	}
	req := Retrieval{Queries: queries, K: p.k}
	switch p.mode {
	case ModeBM25:
		req.BM25 = true
	case ModeDense:
		req.Dense = true
	case ModeHybrid:
		req.BM25, req.Dense = true, true
		req.K = max(p.k, s.opts.HybridDepth)
	}
	got, err := s.b.Retrieve(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.BM25 && len(got.BM25) != len(queries) || req.Dense && len(got.Dense) != len(queries) {
		return nil, fmt.Errorf("%w: %d BM25 and %d dense lists for %d queries", errBackend, len(got.BM25), len(got.Dense), len(queries))
	}
	out := make([]SearchResponse, len(queries))
	for i, q := range queries {
		r := SearchResponse{Query: q, Mode: p.mode, K: p.k, Results: []SearchResult{}}
		var hits []SearchResult
		switch p.mode {
		case ModeBM25, ModeDense:
			list := got.BM25
			if p.mode == ModeDense {
				list = got.Dense
			}
			ranked, err := fusion.Rank(list[i])
			if err != nil {
				return nil, fmt.Errorf("%w: %s list: %v", errBackend, p.mode, err)
			}
			for _, h := range ranked[:min(len(ranked), p.k)] {
				hits = append(hits, SearchResult{ID: h.ID, Score: h.Score})
			}
		case ModeHybrid:
			r.Fusion = p.fusion
			if p.fusion != FusionRRF {
				a := p.alpha
				r.Alpha, r.Norm = &a, p.norm.String()
			}
			fused, err := engine.Fuse(got.Dense[i], got.BM25[i], engine.HybridOptions{Fusion: string(p.fusion), Alpha: p.alpha, Norm: p.norm, RRFK: s.opts.RRFK})
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errBackend, err)
			}
			for _, f := range fused[:min(len(fused), p.k)] {
				hits = append(hits, SearchResult{ID: f.ID, Score: f.Score, Dense: methodScore(f.Dense), BM25: methodScore(f.BM25)})
			}
		}
		for _, h := range hits {
			d, err := s.b.Doc(ctx, h.ID)
			if errors.Is(err, ErrNotFound) {
				continue // deleted since it was retrieved
			}
			if err != nil {
				return nil, err
			}
			h.Title, h.Snippet = d.Title, snippet(d.Text, s.opts.SnippetChars)
			r.Results = append(r.Results, h)
		}
		out[i] = r
	}
	s.metrics.countQueries(p.mode, len(queries))
	return out, nil
}

func methodScore(c fusion.Component) *MethodScore {
	if !c.Found() {
		return nil
	}
	return &MethodScore{Rank: c.Rank, Score: c.Score, Fused: c.Fused}
}

// snippet returns the first n runes of text, with "…" appended when it was
// cut; n < 0 keeps the whole text.
func snippet(text string, n int) string {
	if n < 0 || utf8.RuneCountInString(text) <= n {
		return text
	}
	i, count := 0, 0
	for i = range text {
		if count == n {
			break
		}
		count++
	}
	return strings.TrimRight(text[:i], " \t\n") + "…"
}

// StatusClientClosedRequest is the status logged (and counted in
// /metrics) for a request whose client disconnected before the answer.
const StatusClientClosedRequest = 499

// fail answers a backend or search error with the matching status.
func (s *Server) fail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		jsonError(c, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrInvalid):
		jsonError(c, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNotReady):
		jsonError(c, http.StatusServiceUnavailable, "index not loaded yet")
	case errors.Is(err, context.DeadlineExceeded):
		c.Set(logErrorKey, err.Error())
		jsonError(c, http.StatusServiceUnavailable, fmt.Sprintf("request timed out (limit %s)", s.opts.RequestTimeout))
	case errors.Is(err, context.Canceled):
		// The client went away: nobody reads the answer, and it is not the
		// server's failure (nginx's 499, "client closed request").
		c.Set(logErrorKey, err.Error())
		jsonError(c, StatusClientClosedRequest, "request cancelled by the client")
	default:
		c.Set(logErrorKey, err.Error())
		jsonError(c, http.StatusInternalServerError, "internal error: "+err.Error())
	}
}

// readJSON decodes the request body strictly (no unknown fields, nothing
// after the value) into v; it returns a message for the client, or "".
func readJSON(c *gin.Context, v any) string {
	data, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)
		}
		return "reading request body: " + err.Error()
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "empty request body (want JSON)"
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return "malformed JSON: " + err.Error()
	}
	if _, err := dec.Token(); err != io.EOF {
		return "malformed JSON: data after the top-level value"
	}
	return ""
}

// docsBody is the object form of a POST /docs body.
type docsBody struct {
	Docs []Document `json:"docs"`
}

func (s *Server) putDocs(c *gin.Context) {
	var docs []Document
	var raw json.RawMessage
	if msg := readJSON(c, &raw); msg != "" {
		jsonError(c, http.StatusBadRequest, msg)
		return
	}
	var err error
	switch t := bytes.TrimSpace(raw); {
	case len(t) > 0 && t[0] == '[':
		err = strictUnmarshal(t, &docs)
	case len(t) > 0 && t[0] == '{':
		var b docsBody
		err = strictUnmarshal(t, &b)
		docs = b.Docs
	default:
		err = errors.New(`want an array of documents or {"docs": [...]}`)
	}
	if err != nil {
		jsonError(c, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return
	}
	if len(docs) == 0 {
		jsonError(c, http.StatusBadRequest, "no documents given")
		return
	}
	if len(docs) > s.opts.MaxDocsPut {
		jsonError(c, http.StatusBadRequest, fmt.Sprintf("%d documents given, at most %d allowed per request", len(docs), s.opts.MaxDocsPut))
		return
	}
	seen := make(map[string]int, len(docs))
	for i, d := range docs {
		if strings.TrimSpace(d.ID) == "" {
			jsonError(c, http.StatusBadRequest, fmt.Sprintf("docs[%d]: empty id", i))
			return
		}
		if j, dup := seen[d.ID]; dup {
			jsonError(c, http.StatusBadRequest, fmt.Sprintf("docs[%d]: id %q repeats docs[%d]", i, d.ID, j))
			return
		}
		seen[d.ID] = i
	}
	if !s.b.Ready() {
		s.fail(c, ErrNotReady)
		return
	}
	if err := s.b.PutDocs(c.Request.Context(), docs); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"count": len(docs)})
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (s *Server) getDoc(c *gin.Context) {
	if !s.b.Ready() {
		s.fail(c, ErrNotReady)
		return
	}
	id := c.Param("id")
	d, err := s.b.Doc(c.Request.Context(), id)
	if errors.Is(err, ErrNotFound) {
		jsonError(c, http.StatusNotFound, fmt.Sprintf("document %q not found", id))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *Server) deleteDoc(c *gin.Context) {
	if !s.b.Ready() {
		s.fail(c, ErrNotReady)
		return
	}
	id := c.Param("id")
	err := s.b.DeleteDoc(c.Request.Context(), id)
	if errors.Is(err, ErrNotFound) {
		jsonError(c, http.StatusNotFound, fmt.Sprintf("document %q not found", id))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": id})
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// isReady reports whether the server takes searches: the index is loaded
// and shutdown has not begun.
func (s *Server) isReady() bool { return !s.shutting.Load() && s.b.Ready() }

func (s *Server) readyz(c *gin.Context) {
	switch {
	case s.shutting.Load():
		jsonError(c, http.StatusServiceUnavailable, "shutting down")
	case !s.b.Ready():
		jsonError(c, http.StatusServiceUnavailable, "index not loaded yet")
	default:
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}

//go:embed openapi.json
var openapiJSON []byte

func (s *Server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openapiJSON)
}
