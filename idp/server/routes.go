package server

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/account"
	"github.com/communityidp/idp/idp/admin"
	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/login"
	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/oidcop"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/web"
	"github.com/communityidp/idp/ui"
)

// maxBody bounds every request body: forms and token requests are tiny.
const maxBody = 64 << 10

func (s *Server) routes(sessions *session.Manager, render *web.Renderer, p *oidcop.Provider, wk passkey.WellKnown,
	lh *login.Handler, ah *account.Handler, adm *admin.Handler) http.Handler {
	g := gin.New()
	g.HandleMethodNotAllowed = true
	g.ContextWithFallback = true
	// gin's own forwarded-header handling stays off: clientIP decides,
	// from the configured trusted proxies, and every part reads its answer.
	_ = g.SetTrustedProxies(nil)
	g.Use(newPublicDocuments(p, s.metrics, strings.HasPrefix(s.cfg.Issuer, "https://"), logLevel(s.cfg.Log.PublicRequests)),
		clientIP(s.proxies), requestID, accessLog(s.metrics), recovery(render),
		securityHeaders(strings.HasPrefix(s.cfg.Issuer, "https://"), s.brand.imgSrc), limitBody, checkInput(render), chooseLanguage(render))

	// Probes.
	g.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	g.GET("/ready", s.ready)

	// Static assets are fingerprinted (?v=hash), so they can be cached for long.
	static, _ := fs.Sub(ui.Static, "static")
	fileServer := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	g.GET("/static/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
		fileServer.ServeHTTP(c.Writer, c.Request)
	})

	s.brand.register(g)

	// Public protocol endpoints, answered from memory. GET and OPTIONS
	// are served by the first middleware (publicDocuments), ahead of the
	// rest of the chain; these routes answer the other methods.
	for _, m := range []string{http.MethodGet, http.MethodOptions} {
		g.Handle(m, oidcop.PathDiscovery, gin.WrapH(p.Discovery()))
		g.Handle(m, oidcop.PathJWKS, gin.WrapH(p.JWKS()))
	}

	// Files that let apps and related origins use the site's passkeys.
	for path, body := range map[string][]byte{
		"/.well-known/assetlinks.json":            wk.AssetLinks,
		"/.well-known/apple-app-site-association": wk.AppleAppSiteAssociation,
		"/.well-known/webauthn":                   wk.RelatedOrigins,
	} {
		if body != nil {
			g.GET(path, func(c *gin.Context) {
				if !lh.Passkeys.On() { // the rollout is off: no passkeys to share
					render.Error(c.Writer, c.Request, web.FailNotFound)
					return
				}
				c.Header("Cache-Control", "public, max-age=3600")
				c.Data(http.StatusOK, "application/json", body)
			})
		}
	}

	// Everything below needs the database: while it is down, a quick 503.
	avail := s.avail
	gated := g.Group("", avail.gate(render))

	// Back-channel endpoints: op's router (CORS, issuer), never cached.
	api := gated.Group("", noStore)
	for _, path := range []string{oidcop.PathToken, oidcop.PathIntrospect, oidcop.PathRevoke} {
		api.POST(path, gin.WrapF(p.API))
		api.OPTIONS(path, gin.WrapF(p.API))
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodOptions} {
		api.Handle(m, oidcop.PathUserinfo, gin.WrapF(p.API))
	}

	// Browser endpoints: they see the sign-in session.
	browser := gated.Group("", loadSession(sessions, render))
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		// The sign-in pages answer the authorization request itself.
		browser.Handle(m, oidcop.PathAuthorize, func(c *gin.Context) {
			if ar := p.Begin(c.Writer, c.Request); ar != nil {
				lh.Start(c, ar)
			}
		})
		browser.Handle(m, oidcop.PathEndSession, gin.WrapF(p.EndSession))
	}
	browser.GET(oidcop.PathCallback, gin.WrapF(p.Callback))
	lh.Register(browser)
	ah.Register(browser)
	adm.Register(browser)
	browser.GET("/", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/settings") })

	g.NoRoute(func(c *gin.Context) { render.Error(c.Writer, c.Request, web.FailNotFound) })
	g.NoMethod(func(c *gin.Context) {
		render.Error(c.Writer, c.Request, web.Failure{Status: http.StatusMethodNotAllowed, Code: "METHOD",
			Title: "error.METHOD.title", Message: "error.METHOD.message"})
	})
	return g
}

// chooseLanguage picks each request's language (web.Renderer.Language):
// what the request names (ui_locales, lang), the idp_lang cookie, the
// browser's Accept-Language, the configured default. An authorization
// request starts a new sign-in: its own ui_locales, or none, decide.
func chooseLanguage(render *web.Renderer) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request = render.Language(c.Writer, c.Request, c.Request.URL.Path == oidcop.PathAuthorize)
		c.Next()
	}
}

// ready is the readiness probe: the database must answer.
func (s *Server) ready(c *gin.Context) {
	if err := s.avail.Check(c.Request.Context()); err != nil {
		c.String(http.StatusServiceUnavailable, "database unavailable\n")
		return
	}
	c.String(http.StatusOK, "ready\n")
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clientIP records the client address for the session, audit, log and
// throttle code downstream.
func clientIP(r *clientip.Resolver) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request = c.Request.WithContext(clientip.WithIP(c.Request.Context(), r.Of(c.Request)))
		c.Next()
	}
}

// requestID tags the request, its logs and its response with an id.
func requestID(c *gin.Context) {
	id := randomString(9)
	c.Header("X-Request-Id", id)
	c.Request = c.Request.WithContext(web.WithRequestID(c.Request.Context(), id))
	c.Next()
}

// accessLog logs one line per request (never the query string, which can
// carry codes and tokens) and counts it in the metrics by route.
func accessLog(m *metrics.Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		d := time.Since(start)
		level := slog.LevelInfo
		path := c.Request.URL.Path
		if path == "/healthz" || path == "/ready" || strings.HasPrefix(path, "/static/") {
			level = slog.LevelDebug
		}
		slog.Log(c.Request.Context(), level, "request",
			"method", c.Request.Method, "path", path, "status", c.Writer.Status(),
			"duration_ms", float64(d.Microseconds())/1000, "ip", clientip.From(c.Request))
		route := c.FullPath() // the route pattern: bounded label values
		if route == "" {
			route = "unmatched"
		}
		m.HTTP(route, c.Request.Method, c.Writer.Status(), d)
	}
}

// recovery turns a panic into a logged error and an error page.
func recovery(render *web.Renderer) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				slog.ErrorContext(c.Request.Context(), "panic", "value", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					render.Error(c.Writer, c.Request, web.FailServer)
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// securityHeaders sets the headers every response carries. The CSP allows
// only our own assets and scripts bearing this response's nonce; no page
// may be framed.
func securityHeaders(https bool, imgSrc string) gin.HandlerFunc {
	img := "'self' data:"
	if imgSrc != "" {
		img += " " + imgSrc // branding.logo_url
	}
	common := commonHeaders(https)
	return func(c *gin.Context) {
		nonce := randomString(16)
		c.Request = c.Request.WithContext(web.WithNonce(c.Request.Context(), nonce))
		h := c.Writer.Header()
		for k, v := range common {
			h[k] = v
		}
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'nonce-"+nonce+"'; style-src 'self'; "+
			"img-src "+img+"; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		c.Next()
	}
}

// commonHeaders are the security headers of every answer but its CSP:
// no sniffing, no framing, no referrer, its own browsing context, and
// HSTS behind an https issuer. Responses take its value slices as they
// are, shared: headers are replaced (Set), never changed in place.
func commonHeaders(https bool) http.Header {
	h := http.Header{}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if https {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	return h
}

// limitBody caps request bodies; a larger one fails to parse with a 4xx.
func limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	}
	c.Next()
}

// noStore marks token responses uncacheable (RFC 6749 section 5.1).
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.Next()
}

// loadSession puts the browser's sign-in session (or nil) in the context.
func loadSession(sessions *session.Manager, render *web.Renderer) gin.HandlerFunc {
	return func(c *gin.Context) {
		cur, err := sessions.Load(c.Request.Context(), c.Request)
		if err != nil {
			slog.ErrorContext(c.Request.Context(), "load session", "error", err)
			render.Error(c.Writer, c.Request, web.FailureFor(err))
			c.Abort()
			return
		}
		c.Request = c.Request.WithContext(session.WithCurrent(c.Request.Context(), cur))
		c.Next()
	}
}

// requestErrorPage shows a sign-in request the provider refused and
// cannot send back to its client: why, in the member's language, with the
// protocol's own English in the details.
func requestErrorPage(render *web.Renderer) func(http.ResponseWriter, *http.Request, int, string, string) {
	return func(w http.ResponseWriter, r *http.Request, status int, kind, desc string) {
		f := web.Failure{Status: status, Code: strings.ToUpper(strings.ReplaceAll(kind, "_", "-")),
			Title: "error.request.title", Detail: desc, Hint: "error.request.hint"}
		f.Message = requestMessage(kind, desc)
		if status >= 500 {
			f.Title, f.Hint = web.FailServer.Title, web.FailServer.Hint
		}
		render.Error(w, r, f)
	}
}

// requestMessage is the sentence, in the member's language, for a
// refused sign-in request: ours where we wrote the description, else by
// the kind of error. The library's own English stays in the details.
func requestMessage(kind, desc string) string {
	if key, ours := oidcop.DescriptionKeys[desc]; ours {
		return key
	}
	switch {
	case kind == "invalid_client" || kind == "unauthorized_client" || strings.Contains(desc, "client_id") ||
		strings.Contains(desc, "redirect_uri"):
		// The app is not registered, or sent the member to an address
		// it did not register: the app's makers must fix it.
		return "error.request.client"
	case kind == "invalid_scope":
		return "error.request.scope"
	case kind == "access_denied":
		return "error.request.denied"
	}
	return "error.request.invalid"
}
