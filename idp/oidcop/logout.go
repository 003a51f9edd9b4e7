package oidcop

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// EndSession is the end_session endpoint, a browser page: server.EndSession
// decides, and whatever it refuses (a bad id_token_hint, an unregistered
// post_logout_redirect_uri) leads to the logout confirmation page, with
// no redirect anywhere.
func (p *Provider) EndSession(w http.ResponseWriter, r *http.Request) {
	if !fromBrowser(r) {
		// A server's call (oauth2-proxy's backend_logout_url) carries no
		// cookie: it cannot end the member's browser session, and must not
		// be told it did.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(oidc.ErrInvalidRequest().WithDescription("end_session signs out the browser that opens it: " +
			"redirect the member's browser here (OpenID Connect RP-Initiated Logout); a call without the browser's " +
			"cookies cannot sign the member out (revoke the tokens at /revoke instead)"))
		return
	}
	redirect, err := p.endSession(r)
	if err != nil {
		slog.InfoContext(r.Context(), "end_session refused; asking the member", "error", err)
		http.Redirect(w, r, "/logout", http.StatusSeeOther)
		return
	}
	for k, v := range redirect.Header {
		w.Header()[k] = append(w.Header()[k], v...)
	}
	http.Redirect(w, r, redirect.URL, http.StatusFound)
}

func (p *Provider) endSession(r *http.Request) (*op.Redirect, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	req := new(oidc.EndSessionRequest)
	if err := p.op.Decoder().Decode(req, r.Form); err != nil {
		return nil, err
	}
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	return p.server.EndSession(ctx, &op.Request[oidc.EndSessionRequest]{Method: r.Method, URL: r.URL, Header: r.Header,
		Form: r.Form, PostForm: r.PostForm, Data: req})
}

// fromBrowser reports whether a request comes from a browser: it holds
// one of the provider's cookies (every page the member saw set one) or
// says it is a navigation (Sec-Fetch-Mode, sent by every current browser).
// A server-to-server call has neither.
func fromBrowser(r *http.Request) bool {
	return len(r.Cookies()) > 0 || r.Header.Get("Sec-Fetch-Mode") == "navigate"
}

// down reports whether the database is unavailable right now.
func (p *Provider) down(ctx context.Context) bool {
	return p.available != nil && !p.available(ctx)
}
