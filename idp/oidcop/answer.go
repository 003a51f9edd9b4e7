package oidcop

import (
	"context"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// API serves the token, introspection, revocation and userinfo endpoints:
// op's router over server, with CORS for the registered origins (never
// for introspection, which is for resource servers).
func (p *Provider) API(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(context.WithValue(r.Context(), answerKey{}, w.Header()))
	a := &answer{ResponseWriter: w, bearer: r.URL.Path == PathUserinfo, realm: p.issuer}
	if r.URL.Path == PathIntrospect && r.Method == http.MethodPost && !hasSecret(r) {
		// Introspection is for confidential clients: without a secret
		// the client is not authenticated (RFC 7662 section 2.1), which
		// op would call a malformed request.
		op.WriteError(a, r, unauthenticated(oidc.ErrInvalidClient().WithDescription(
			"introspection needs client authentication: client_secret_basic or client_secret_post")), nil)
		return
	}
	p.api.ServeHTTP(a, r)
}

// hasSecret reports whether a request carries a client secret, in the
// Basic header or the form.
func hasSecret(r *http.Request) bool {
	if _, secret, ok := r.BasicAuth(); ok {
		return secret != ""
	}
	return r.PostFormValue("client_secret") != ""
}

// answer adds to op's refusals the headers op's WriteError cannot write:
// a 401's challenge (RFC 6749 section 5.2, RFC 6750 section 3) and a
// 503's Retry-After. A server method that knows better (a throttled
// client's wait, an invalid bearer token) sets its own through
// answerHeader first.
type answer struct {
	http.ResponseWriter
	bearer bool
	realm  string
}

func (a *answer) WriteHeader(code int) {
	h := a.Header()
	switch {
	case code == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" && a.bearer:
		h.Set("WWW-Authenticate", "Bearer")
	case code == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "":
		h.Set("WWW-Authenticate", `Basic realm="`+a.realm+`", charset="UTF-8"`)
	case code == http.StatusServiceUnavailable && h.Get("Retry-After") == "":
		h.Set("Retry-After", "5")
	}
	a.ResponseWriter.WriteHeader(code)
}

type answerKey struct{}

// answerHeader is the header of the answer API is writing for the request
// of ctx (a header of its own for any other context).
func answerHeader(ctx context.Context) http.Header {
	if h, ok := ctx.Value(answerKey{}).(http.Header); ok {
		return h
	}
	return http.Header{}
}
