package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/ratelimit"
	"github.com/communityidp/idp/idp/throttle"
)

// Limited takes one action from the request address's allowance under l
// and returns false, having answered the request, when none is left: a
// JSON error for the pages' passkey calls (asJSON), else the error page
// with a way back to back. The answer says how long to wait, in the
// member's language, and carries Retry-After.
func (r *Renderer) Limited(w http.ResponseWriter, req *http.Request, l *ratelimit.Limiter, asJSON bool, back string) bool {
	ok, wait := l.Allow(clientip.From(req))
	if ok {
		return true
	}
	slog.WarnContext(req.Context(), "rate limited", "limit", l.Name(), "wait", wait.Round(time.Second))
	w.Header().Set("Retry-After", throttle.RetryAfter(wait))
	if asJSON {
		r.JSONFail(w, req, http.StatusTooManyRequests, "RATE-LIMITED", "json.RATE-LIMITED", r.Wait(req, wait))
		return false
	}
	r.Error(w, req, Failure{Status: http.StatusTooManyRequests, Code: "RATE-LIMITED", Title: "error.RATE-LIMITED.title",
		Message: "error.RATE-LIMITED.message", Args: []any{r.Wait(req, wait)}, Hint: "error.RATE-LIMITED.hint", Back: back})
	return false
}
