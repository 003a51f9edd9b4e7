package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/web"
)

// availability tracks whether the database answers. It pings at most once
// a second, on the request path, so during an outage requests get a quick
// 503 instead of waiting on a dead connection, and the provider notices by
// itself when the database is back.
type availability struct {
	ping func(context.Context) error

	mu      sync.Mutex
	checked time.Time
	up      bool
}

func newAvailability(ping func(context.Context) error) *availability {
	return &availability{ping: ping, up: true}
}

// Up reports whether the database answered recently.
func (a *availability) Up(ctx context.Context) bool {
	a.mu.Lock()
	if time.Since(a.checked) < time.Second {
		up := a.up
		a.mu.Unlock()
		return up
	}
	a.checked = time.Now() // other requests use the last answer meanwhile
	a.mu.Unlock()
	return a.Check(ctx) == nil
}

// Check pings the database now and records the answer (the readiness
// probe uses it, so probe and gate always agree).
func (a *availability) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	err := a.ping(ctx)
	cancel()

	a.mu.Lock()
	was := a.up
	a.up, a.checked = err == nil, time.Now()
	a.mu.Unlock()
	switch {
	case was && err != nil:
		slog.Error("database unavailable: answering 503 until it is back", "error", err)
	case !was && err == nil:
		slog.Info("database is back")
	}
	return err
}

// gate answers 503 while the database is down: JSON with
// temporarily_unavailable for the back-channel endpoints, a page for
// browsers. Probes, static files, discovery and JWKS are served from
// memory and are not gated.
func (a *availability) gate(render *web.Renderer) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.Up(c.Request.Context()) {
			c.Next()
			return
		}
		c.Header("Retry-After", "5")
		switch path := c.Request.URL.Path; {
		case strings.HasPrefix(path, "/webauthn/"):
			// The page script shows the message, in the member's language.
			render.JSONFailure(c.Writer, c.Request, store.ErrUnavailable)
		case isBackchannel(path):
			c.Header("Cache-Control", "no-store")
			c.JSON(http.StatusServiceUnavailable, gin.H{"error": "temporarily_unavailable",
				"error_description": "the database is unavailable; retry in a few seconds"})
		default:
			render.Error(c.Writer, c.Request, web.FailUnavailable)
		}
		c.Abort()
	}
}

// isBackchannel reports the OAuth endpoints that answer clients in JSON
// (the page scripts' /webauthn/ calls are answered before this is asked).
func isBackchannel(path string) bool {
	return strings.HasPrefix(path, "/oauth/") || path == "/userinfo" || path == "/revoke"
}
