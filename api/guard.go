package api

import (
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Guard configures who may use the server and how much one request may
// return. The zero value serves everyone with every role, applies the
// loopback Host allow-list, refuses cross-origin browser requests and caps
// responses at 8 MiB.
type Guard struct {
	// Keys are the API keys (nil: none, every client has every role). With
	// keys, every route but /healthz, /readyz and /openapi.json needs a
	// key, given as "Authorization: Bearer KEY" or "X-API-Key: KEY": a
	// read key searches, fetches documents and reads /metrics; a write key
	// also adds and deletes documents.
	Keys *Keys
	// ReadOnly refuses POST /docs and DELETE /docs/{id} (403) whatever
	// the key.
	ReadOnly bool
	// AllowedHosts lists the Host header values (names or addresses,
	// without port; "*" allows any) accepted besides the loopback names.
	// On a loopback connection the Host must be localhost, a loopback
	// address or one of these (a DNS-rebinding defence); on other
	// connections it is checked only when the list is not empty.
	AllowedHosts []string
	// CORSOrigins lists the browser origins ("https://app.example.org";
	// "*" for any) allowed to call the API. A request carrying any other
	// Origin header is refused (403); the default, empty, allows none.
	CORSOrigins []string
	// MaxResponseBytes caps one response: a search whose queries × k
	// could exceed it is refused (400) before any work, and one whose
	// results do exceed it is refused too; default 8 MiB.
	MaxResponseBytes int64
}

// DefaultMaxResponseBytes is Guard.MaxResponseBytes' default.
const DefaultMaxResponseBytes = 8 << 20

// MaxDocIDBytes is the longest document id accepted, in bytes.
const MaxDocIDBytes = 512

// ErrInsecure reports a non-loopback listen address without API keys.
var ErrInsecure = errors.New("refusing to serve without API keys on a non-loopback address")

// CheckExposure refuses to serve on a non-loopback address (any address
// but localhost, 127.0.0.0/8 and ::1, including the wildcard ":8080" and
// "0.0.0.0") without API keys, unless insecure is set.
func CheckExposure(addr string, keys *Keys, insecure bool) error {
	if keys.Len() > 0 || insecure || isLoopbackHost(addrHost(addr)) {
		return nil
	}
	return fmt.Errorf("%w (%s): give --api-keys FILE or $%s, or --insecure to serve it open to the network", ErrInsecure, addr, EnvAPIKeys)
}

// addrHost returns the host part of host:port (or of a bare host).
func addrHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return strings.Trim(addr, "[]")
}

func isLoopbackHost(h string) bool {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// CheckDocID checks a document id: 1 to 512 bytes of valid UTF-8, not
// blank, without control characters.
func CheckDocID(id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return errors.New("empty id")
	case len(id) > MaxDocIDBytes:
		return fmt.Errorf("id of %d bytes, at most %d allowed", len(id), MaxDocIDBytes)
	case !utf8.ValidString(id):
		return errors.New("id is not valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("id holds the control character %U", r)
		}
	}
	return nil
}

// routeRole is the role a route needs (RoleNone: public).
func routeRole(method, route string) Role {
	switch route {
	case "/healthz", "/readyz", "/openapi.json":
		return RoleNone
	case "/docs":
		if method == http.MethodPost {
			return RoleWrite
		}
	case "/docs/:id":
		if method == http.MethodDelete {
			return RoleWrite
		}
	}
	return RoleRead // search, fetch, metrics, and unmatched routes
}

// presentedKey returns the key of "Authorization: Bearer KEY" or
// "X-API-Key: KEY".
func presentedKey(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return r.Header.Get("X-API-Key")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == "*" || strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// hostAllowed applies the Host allow-list to a request.
func (s *Server) hostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	loopback := false
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := la.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
			loopback = true
		}
	}
	allowed := s.opts.Guard.AllowedHosts
	switch {
	case loopback:
		return host != "" && (isLoopbackHost(host) || contains(allowed, host))
	case len(allowed) > 0:
		return contains(allowed, host)
	}
	return true
}

// guard applies Guard to each request: the Host allow-list, the Origin
// check and CORS, the API key and its role, read-only mode, the JSON
// content type of request bodies, and the document id of /docs/{id}.
func (s *Server) guard(c *gin.Context) {
	g := &s.opts.Guard
	r := c.Request
	if !s.hostAllowed(r) {
		jsonError(c, http.StatusForbidden, fmt.Sprintf("host %q is not allowed (see --allowed-hosts)", r.Host))
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if !contains(g.CORSOrigins, origin) {
			jsonError(c, http.StatusForbidden, fmt.Sprintf("cross-origin requests from %q are not allowed (see --cors-origins)", origin))
			return
		}
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "X-Request-ID")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-API-Key, X-Request-ID")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
	}
	need := routeRole(r.Method, c.FullPath())
	if need != RoleNone && g.Keys.Len() > 0 {
		role := g.Keys.Role(presentedKey(r))
		if role == RoleNone {
			c.Header("WWW-Authenticate", `Bearer realm="contriever"`)
			jsonError(c, http.StatusUnauthorized, "missing or unknown API key (send Authorization: Bearer KEY or X-API-Key: KEY)")
			return
		}
		if role < need {
			jsonError(c, http.StatusForbidden, fmt.Sprintf("this API key has the %s role; %s %s needs %s", role, r.Method, c.FullPath(), need))
			return
		}
	}
	if need == RoleWrite && g.ReadOnly {
		jsonError(c, http.StatusForbidden, "the server is read-only")
		return
	}
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		ct := r.Header.Get("Content-Type")
		mt, params, err := mime.ParseMediaType(ct)
		cs, hasCS := params["charset"]
		if err != nil || mt != "application/json" || (hasCS && !strings.EqualFold(cs, "utf-8")) || len(params) > 1 || (len(params) == 1 && !hasCS) {
			jsonError(c, http.StatusUnsupportedMediaType, fmt.Sprintf("request bodies must be application/json, got Content-Type %q", ct))
			return
		}
	}
	if c.FullPath() == "/docs/:id" {
		id, err := docID(c)
		if err == nil {
			err = CheckDocID(id)
		}
		if err != nil {
			jsonError(c, http.StatusBadRequest, err.Error())
			return
		}
	}
	c.Next()
}

// estimatedHitBytes is a lower estimate of one search result's JSON: the
// fixed fields, an id and a title of a few dozen bytes, and the snippet.
func (s *Server) estimatedHitBytes(hybrid bool) int64 {
	n := int64(100)
	if hybrid {
		n += 100 // the two method scores
	}
	if s.opts.SnippetChars < 0 {
		return n + 1000
	}
	return n + int64(s.opts.SnippetChars)
}

// responseBudget refuses, before any work, a search whose queries × k
// results would exceed MaxResponseBytes by the estimate above.
func (s *Server) responseBudget(queries int, p searchParams) error {
	est := int64(queries) * int64(p.k) * s.estimatedHitBytes(p.mode == ModeHybrid)
	if limit := s.opts.Guard.MaxResponseBytes; est > limit {
		return fmt.Errorf("%d queries × k %d could return about %d bytes, more than the limit of %d (--max-response-bytes); lower k or send fewer queries", queries, p.k, est, limit)
	}
	return nil
}

// resultBytes is the size one built result adds to a response, roughly.
func resultBytes(h *SearchResult) int64 {
	n := int64(len(h.ID) + len(h.Title) + len(h.Snippet) + 64)
	if h.Dense != nil || h.BM25 != nil {
		n += 100
	}
	return n
}

// docID returns the document id of a /docs/{id} route: the escaped path
// segment, unescaped as a path ("+" stays "+", "%2F" becomes "/").
func docID(c *gin.Context) (string, error) {
	id, err := url.PathUnescape(c.Param("id"))
	if err != nil {
		return "", fmt.Errorf("bad escape in the document id: %w", err)
	}
	return id, nil
}
