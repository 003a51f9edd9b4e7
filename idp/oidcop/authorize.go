package oidcop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
)

// The authorization endpoint and its callback are browser pages, so they
// are served here rather than by op's router (which answers in JSON): a
// request that cannot be sent back to its client gets the error page
// (Options.ErrorPage), and every answer to the client, code or error, is
// written by one function (respond) that adds iss (RFC 9207) and honours
// response_mode=form_post. The checks themselves are op's exported
// validators plus this provider's policy (validate).

// requestInfo is what the authorization endpoint learns from the raw
// request that op's parsed request does not hold.
type requestInfo struct {
	duplicates    []string
	hasRequestURI bool
	// binding is the SHA-256 of the browser's binding value.
	binding []byte
}

// Begin is the authorization endpoint (GET and POST): it checks the
// request and stores it, bound to the browser that sent it (only that
// browser can sign in to it and collect its code), and returns it for the
// sign-in pages to answer in the same response (login.Handler.Start), as
// Keycloak's does: no redirect to a login address first, a round trip
// before the first page. A request it refuses it answers itself (to the
// client, or with the error page) and returns nil.
func (p *Provider) Begin(w http.ResponseWriter, r *http.Request) *store.AuthRequest {
	if err := r.ParseForm(); err != nil {
		// Nothing in it can be trusted, the redirect URI included.
		p.errorPage(w, r, oidc.ErrInvalidRequest().WithDescription(descUnreadable))
		return nil
	}
	if r.Form.Get("client_id") == "" || r.Form.Get("redirect_uri") == "" {
		p.errorPage(w, r, oidc.ErrInvalidRequest().WithDescription(descIncomplete))
		return nil
	}
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	req, err := op.ParseAuthorizeRequest(r, p.op.Decoder())
	if err != nil {
		p.errorPage(w, r, oidc.ErrInvalidRequest().WithDescription(descUnreadable).WithParent(err))
		return nil
	}
	sum := sha256.Sum256(p.binding(w, r))
	info := requestInfo{duplicates: duplicatedParams(r.Form, oauthParams), hasRequestURI: r.Form.Has("request_uri"), binding: sum[:]}
	sub, err := p.validate(ctx, req, info)
	if err != nil {
		p.refuse(w, r, replyTo{req.RedirectURI, req.ResponseMode, req.State}, err)
		return nil
	}
	ar, err := p.storage.createAuthRequest(ctx, req, sub, info.binding)
	if err != nil {
		p.refuse(w, r, replyTo{req.RedirectURI, req.ResponseMode, req.State}, err)
		return nil
	}
	return ar
}

// Callback finishes a sign-in: the code goes to the client. Only the
// browser whose session finished the sign-in may collect it.
func (p *Provider) Callback(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	ar, err := p.storage.authRequest(ctx, r.URL.Query().Get("id"))
	if err != nil {
		p.errorPage(w, r, err)
		return
	}
	to := replyFor(ar.AuthRequest)
	if !ar.Done() {
		p.refuse(w, r, to, oidc.ErrInteractionRequired().WithDescription("the member has not finished signing in"))
		return
	}
	if cur := session.FromContext(ctx); cur == nil || cur.Session.ID != ar.SessionID {
		p.errorPage(w, r, oidc.ErrInvalidRequestRedirectURI().WithDescription(descOtherBrowser))
		return
	}
	code, err := op.CreateAuthRequestCode(ctx, ar, p.storage, p.crypto)
	if err != nil {
		p.refuse(w, r, to, err)
		return
	}
	p.respond(w, r, to, url.Values{"code": {code}})
}

// Answer is the authorization response to a request the member is
// finishing within the current request: the client's redirect URI with a
// new code, for the page to go to at once rather than through Callback (a
// round trip and the reads that check the browser's session, which has
// just been made). The code is not stored here: Answer puts its hash into
// c, and the caller's store.CompleteAuthRequest saves it with the
// completion, in one write; until then the code redeems nothing. It is
// false, and c untouched, for a form_post response, which needs a page,
// and when the code cannot be made: Callback then answers, errors
// included.
func (p *Provider) Answer(ctx context.Context, ar *store.AuthRequest, c *store.Completion) (string, bool) {
	to := replyFor(ar)
	if to.mode == oidc.ResponseModeFormPost {
		return "", false
	}
	code, err := op.BuildAuthRequestCode(authRequest{AuthRequest: ar}, p.crypto)
	if err != nil {
		slog.WarnContext(ctx, "issue the code at once; the callback will", "error", err)
		return "", false
	}
	u, err := redirectWith(to.uri, p.responseParams(to, url.Values{"code": {code}}))
	if err != nil {
		return "", false
	}
	c.CodeHash, c.CodeExpiresAt = hashToken(code), p.storage.codeExpiry()
	return u, true
}

// RedirectError ends an authorization request with an error sent to the
// client's redirect URI (with state and iss), e.g. when the member
// cancels. The request is deleted.
func (p *Provider) RedirectError(w http.ResponseWriter, r *http.Request, authRequestID, kind, description string) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	ar, err := p.storage.authRequest(ctx, authRequestID)
	if err != nil {
		p.errorPage(w, r, err)
		return
	}
	e := oidc.ErrAccessDenied()
	if kind == ErrLoginRequired {
		e = oidc.ErrLoginRequired()
	}
	p.storage.dropAuthRequest(ctx, authRequestID)
	p.refuse(w, r.WithContext(ctx), replyFor(ar.AuthRequest), e.WithDescription("%s", description))
}

// replyTo is where an authorization response goes: a redirect URI that has
// been checked against the client's registration, how, and the state to
// echo.
type replyTo struct {
	uri   string
	mode  oidc.ResponseMode
	state string
}

// replyFor is where the answer to a stored request goes.
func replyFor(ar *store.AuthRequest) replyTo {
	return replyTo{ar.RedirectURI, oidc.ResponseMode(ar.ResponseMode), ar.State}
}

// refuse answers an authorization request with err: to the client when the
// error allows it (the redirect URI is registered), else on the error page.
func (p *Provider) refuse(w http.ResponseWriter, r *http.Request, to replyTo, err error) {
	e := oauthError(r.Context(), err)
	if to.uri == "" || e.IsRedirectDisabled() {
		p.errorPage(w, r, e)
		return
	}
	slog.InfoContext(r.Context(), "authorization request refused", "error", e.ErrorType, "description", e.Description)
	params := url.Values{"error": {string(e.ErrorType)}}
	if e.Description != "" {
		params.Set("error_description", e.Description)
	}
	p.respond(w, r, to, params)
}

// respond sends an authorization response, with state and iss, to the
// client: in the redirect's query, or as a form post.
func (p *Provider) respond(w http.ResponseWriter, r *http.Request, to replyTo, params url.Values) {
	params = p.responseParams(to, params)
	if to.mode == oidc.ResponseModeFormPost {
		p.formPost(w, r, to.uri, params)
		return
	}
	u, err := redirectWith(to.uri, params)
	if err != nil { // registered URIs are valid; a guard, not a path
		p.errorPage(w, r, oidc.ErrServerError().WithParent(err))
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

// responseParams adds what every authorization response carries to
// params: the state to echo, and iss (RFC 9207).
func (p *Provider) responseParams(to replyTo, params url.Values) url.Values {
	if to.state != "" {
		params.Set("state", to.state)
	}
	params.Set("iss", p.issuer)
	return params
}

// redirectWith is the redirect URI with params added to its query.
func redirectWith(uri string, params url.Values) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// oauthError is err as an OAuth error. Anything that is not one already is
// the server's fault: logged here, and never described to the client.
func oauthError(ctx context.Context, err error) *oidc.Error {
	var e *oidc.Error
	if errors.As(err, &e) {
		return e
	}
	slog.ErrorContext(ctx, "authorization request failed", "error", err)
	return oidc.ErrServerError()
}

// errorPage shows a refused request to the member.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	e := oauthError(r.Context(), err)
	status := http.StatusBadRequest
	switch e.ErrorType {
	case oidc.ServerError:
		status = http.StatusInternalServerError
	case "temporarily_unavailable":
		status = http.StatusServiceUnavailable
	}
	slog.InfoContext(r.Context(), "authorization request refused on the error page", "error", e.ErrorType, "description", e.Description)
	p.showError(w, r, status, string(e.ErrorType), e.Description)
}

var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{.T.T "form_post.title"}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}{{if $v}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}{{end}}
<noscript><p>{{.T.T "form_post.noscript" (.T.T "form_post.continue")}}</p></noscript>
<button type="submit">{{.T.T "form_post.continue"}}</button></form>
<script nonce="{{.Nonce}}">document.forms[0].submit();</script></body></html>`))

// formPost answers with a page that posts params to action, a registered
// redirect URI (so a private-use scheme is trusted as a URL). It speaks the
// request's language (chosen by the server's middleware).
func (p *Provider) formPost(w http.ResponseWriter, r *http.Request, action string, params url.Values) {
	nonce := randomID(16)
	origin := action
	if u, err := url.Parse(action); err == nil && u.Host != "" {
		origin = u.Scheme + "://" + u.Host
	} else if err == nil {
		origin = u.Scheme + ":"
	}
	h := w.Header()
	h.Set("Content-Security-Policy", fmt.Sprintf(
		"default-src 'none'; script-src 'nonce-%s'; form-action %s; frame-ancestors 'none'; base-uri 'none'; object-src 'none'", nonce, origin))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	t := i18n.FromContext(r.Context())
	h.Set("Content-Language", t.Tag().String())
	w.WriteHeader(http.StatusOK)
	_ = formPostPage.Execute(w, map[string]any{"Action": template.URL(action), "Params": params, "Nonce": nonce,
		"Lang": t.Tag().String(), "T": t})
}

// oauthParams are the parameters that must not appear twice (RFC 6749
// section 3.1).
var oauthParams = []string{
	"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint", "id_token_hint",
	"ui_locales", "request", "request_uri", "display", "acr_values", "claims",
}

// duplicatedParams lists the names that form holds more than once.
func duplicatedParams(form url.Values, names []string) []string {
	var dup []string
	for _, k := range names {
		if len(form[k]) > 1 {
			dup = append(dup, k)
		}
	}
	return dup
}

// validate is op's validation of an authorization request plus this
// provider's policy. Until the redirect URI is known to be registered,
// its errors are redirect-disabled (the error page); after that they go to
// the client. It returns the subject of a valid id_token_hint.
func (p *Provider) validate(ctx context.Context, req *oidc.AuthRequest, info requestInfo) (string, error) {
	dup := info.duplicates
	if slices.Contains(dup, "client_id") || slices.Contains(dup, "redirect_uri") {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("client_id and redirect_uri must be given once")
	}
	c, ok := p.storage.clients[req.ClientID]
	if !ok {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client_id %q", req.ClientID)
	}
	// Checked as for the code flow, the only one offered: a redirect URI
	// op would refuse for an implicit response type (an http one) is still
	// where the client hears that its response type is unsupported.
	if err := op.ValidateAuthReqRedirectURI(c, req.RedirectURI, oidc.ResponseTypeCode); err != nil {
		return "", err
	}
	if !loopbackHostMatches(c, req.RedirectURI) {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("the redirect_uri is not registered for this client")
	}
	if name := oversized(req); name != "" {
		if name == "state" {
			req.State = "" // not echoed back: the client never sent a state this long
		}
		return "", oidc.ErrInvalidRequest().WithDescription("%s is longer than %d bytes", name, maxParamBytes)
	}
	switch {
	case len(dup) > 0:
		return "", oidc.ErrInvalidRequest().WithDescription("parameter given more than once: %s", strings.Join(dup, ", "))
	case req.RequestParam != "":
		return "", oidc.ErrRequestNotSupported()
	case info.hasRequestURI:
		return "", &oidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is not supported"}
	case req.ResponseType == "":
		return "", oidc.ErrInvalidRequest().WithDescription("response_type is missing")
	case req.ResponseType != oidc.ResponseTypeCode:
		// RFC 6749 section 4.1.2.1: in the query, as a code flow's errors.
		req.ResponseMode = oidc.ResponseModeQuery
		return "", &oidc.Error{ErrorType: "unsupported_response_type", Description: "only response_type=code is supported"}
	case req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery && req.ResponseMode != oidc.ResponseModeFormPost:
		req.ResponseMode = oidc.ResponseModeQuery
		return "", oidc.ErrInvalidRequest().WithDescription("response_mode must be query or form_post")
	case req.CodeChallenge == "" && (c.cfg.Public() || c.cfg.RequirePKCE):
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge is required: this client must use PKCE with S256")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case req.CodeChallenge != "" && !validChallenge(req.CodeChallenge):
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
	case !slices.Contains(req.Scopes, oidc.ScopeOpenID):
		return "", oidc.ErrInvalidScope().WithDescription("scope must include openid")
	}
	sub, err := op.ValidateAuthRequestClient(ctx, req, c, p.op.IDTokenHintVerifier(ctx))
	if err != nil {
		return "", err
	}
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		var maxAge *int64
		if req.MaxAge != nil {
			v := int64(*req.MaxAge)
			maxAge = &v
		}
		cur := session.FromContext(ctx)
		if cur == nil || !cur.Satisfies(p.now(), maxAge, sub, false) {
			return "", oidc.ErrLoginRequired().WithDescription("the member is not signed in")
		}
	}
	return sub, nil
}

// maxParamBytes caps each authorization parameter the provider stores
// until the sign-in ends: a request anyone can send must not grow the
// database by more than a few kilobytes.
const maxParamBytes = 2048

// oversized names the first stored parameter longer than maxParamBytes.
func oversized(req *oidc.AuthRequest) string {
	locales := 0
	for _, l := range req.UILocales {
		locales += len(l.String()) + 1
	}
	for _, p := range []struct {
		name string
		n    int
	}{{"state", len(req.State)}, {"nonce", len(req.Nonce)}, {"login_hint", len(req.LoginHint)},
		{"scope", len(strings.Join(req.Scopes, " "))}, {"ui_locales", locales}} {
		if p.n > maxParamBytes {
			return p.name
		}
	}
	return ""
}

// loopbackHostMatches tightens op's loopback rule for native apps: any
// port is fine (RFC 8252 section 7.3), but everything else must be the
// registered URI's, byte for byte: host, escaped path and query, and no
// user info or fragment.
func loopbackHostMatches(c *client, uri string) bool {
	if slices.Contains(c.cfg.RedirectURIs, uri) {
		return true
	}
	got, loopback := op.HTTPLoopbackOrLocalhost(uri)
	if !loopback {
		return true // not a loopback redirect: op's exact match applies
	}
	if got.User != nil || got.Fragment != "" || strings.Contains(uri, "#") {
		return false
	}
	for _, reg := range c.cfg.RedirectURIs {
		if want, ok := op.HTTPLoopbackOrLocalhost(reg); ok && want.Scheme == got.Scheme &&
			want.Hostname() == got.Hostname() && want.EscapedPath() == got.EscapedPath() && want.RawQuery == got.RawQuery {
			return true
		}
	}
	return false
}

// validChallenge checks an S256 challenge: 43 base64url characters.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}
