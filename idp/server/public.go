package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/oidcop"
)

// publicDocuments serves the discovery document and the key set ahead of
// the middleware chain the pages need (request IDs, the client address,
// the language, nonces, form checks): the same bytes for everyone,
// fetched often by every client and resource server, and most of their
// cost was that chain. They keep what operators rely on: a metric per
// request, the security headers, CORS and an access-log line, at
// log.public_requests's level (debug unless asked). It is the router's
// first middleware: anything else (a POST, another path) goes on down
// the chain.
type publicDocuments struct {
	docs    map[string]http.Handler
	metrics *metrics.Metrics
	level   slog.Level
	headers http.Header
}

func newPublicDocuments(p *oidcop.Provider, m *metrics.Metrics, https bool, level slog.Level) gin.HandlerFunc {
	h := commonHeaders(https)
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	d := &publicDocuments{
		docs:    map[string]http.Handler{oidcop.PathDiscovery: p.Discovery(), oidcop.PathJWKS: p.JWKS()},
		metrics: m, level: level, headers: h,
	}
	return func(c *gin.Context) {
		doc := d.docs[c.Request.URL.Path]
		if doc == nil || c.Request.Method != http.MethodGet && c.Request.Method != http.MethodOptions {
			c.Next()
			return
		}
		c.Abort()
		d.serve(doc, c.Writer, c.Request)
	}
}

func (d *publicDocuments) serve(doc http.Handler, w gin.ResponseWriter, r *http.Request) {
	start := time.Now()
	for k, v := range d.headers {
		w.Header()[k] = v
	}
	doc.ServeHTTP(w, r)
	took := time.Since(start)
	d.metrics.HTTP(r.URL.Path, r.Method, w.Status(), took)
	if slog.Default().Enabled(r.Context(), d.level) {
		slog.Log(r.Context(), d.level, "request", "method", r.Method, "path", r.URL.Path, "status", w.Status(),
			"duration_ms", float64(took.Microseconds())/1000)
	}
}
