package oidcop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/throttle"
)

// requestInfo is what the authorization endpoint learns from the raw
// request, for the validator, which only sees op's parsed request.
type requestInfo struct {
	duplicates    []string
	hasRequestURI bool
	// binding is the SHA-256 of the browser's binding value.
	binding []byte
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return ri
}

// Authorize is the authorization endpoint (GET and POST). The request is
// bound to the browser that sent it: only that browser can sign in to it
// and collect its code.
func (p *Provider) Authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		// Nothing in it can be trusted, the redirect URI included.
		http.Error(w, descUnreadable, http.StatusBadRequest)
		return
	}
	if r.Form.Get("client_id") == "" || r.Form.Get("redirect_uri") == "" {
		// op answers the same 400 but logs it as a server error: it is the client's.
		http.Error(w, descIncomplete, http.StatusBadRequest)
		return
	}
	ctx, _ := withState(op.ContextWithIssuer(r.Context(), p.issuer))
	sum := sha256.Sum256(p.binding(w, r))
	ctx = context.WithValue(ctx, requestInfoKey{}, requestInfo{
		duplicates: duplicatedParams(r.Form, oauthParams), hasRequestURI: r.Form.Has("request_uri"), binding: sum[:],
	})
	var out http.ResponseWriter = w
	if r.Form.Get("response_mode") == string(oidc.ResponseModeFormPost) {
		out = &formPostErrors{ResponseWriter: w, r: r, p: p, action: r.Form.Get("redirect_uri")}
	}
	op.Authorize(out, r.WithContext(ctx), p.authz)
}

// Callback finishes a sign-in: op issues the code and redirects to the
// client. Only the browser whose session finished the sign-in may collect
// the code. form_post responses are rendered here, so they carry iss and
// a nonce-guarded script.
func (p *Provider) Callback(w http.ResponseWriter, r *http.Request) {
	ctx, _ := withState(op.ContextWithIssuer(r.Context(), p.issuer))
	r = r.WithContext(ctx)
	ar, err := p.storage.AuthRequestByID(ctx, r.URL.Query().Get("id"))
	if err != nil {
		op.AuthorizeCallback(w, r, p.authz) // op answers the unknown or expired request
		return
	}
	stored := ar.(authRequest)
	if cur := session.FromContext(ctx); stored.Done() && (cur == nil || cur.Session.ID != stored.SessionID) {
		http.Error(w, descOtherBrowser, http.StatusBadRequest)
		return
	}
	if ar.GetResponseMode() != oidc.ResponseModeFormPost {
		op.AuthorizeCallback(w, r, p.authz)
		return
	}
	out := &formPostErrors{ResponseWriter: w, r: r, p: p, action: ar.GetRedirectURI()}
	if !ar.Done() {
		op.AuthorizeCallback(out, r, p.authz)
		return
	}
	resp, err := op.BuildAuthResponseCodeResponsePayload(ctx, ar, p.authz)
	if err != nil {
		op.AuthRequestError(out, r, ar, err, p.authz)
		return
	}
	p.formPost(w, r, ar.GetRedirectURI(), map[string]string{"code": resp.Code, "state": resp.State, "iss": p.issuer})
}

var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{.T.T "form_post.title"}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}{{if $v}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}{{end}}
<noscript><p>{{.T.T "form_post.noscript" (.T.T "form_post.continue")}}</p></noscript>
<button type="submit">{{.T.T "form_post.continue"}}</button></form>
<script nonce="{{.Nonce}}">document.forms[0].submit();</script></body></html>`))

// formPost answers with a page that posts params to action, a redirect
// URI op has validated (so a private-use scheme is trusted as a URL). It
// speaks the request's language (chosen by the server's middleware).
func (p *Provider) formPost(w http.ResponseWriter, r *http.Request, action string, params map[string]string) {
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
	h.Del("Location")
	t := i18n.FromContext(r.Context())
	h.Set("Content-Language", t.Tag().String())
	w.WriteHeader(http.StatusOK)
	_ = formPostPage.Execute(w, map[string]any{"Action": template.URL(action), "Params": params, "Nonce": nonce,
		"Lang": t.Tag().String(), "T": t})
}

// formPostErrors turns op's error redirects into form posts for a request
// that asked for response_mode=form_post (op always uses the query).
type formPostErrors struct {
	http.ResponseWriter
	r       *http.Request
	p       *Provider
	action  string
	written bool
}

func (f *formPostErrors) WriteHeader(code int) {
	if code == http.StatusFound && f.action != "" {
		if loc, err := url.Parse(f.Header().Get("Location")); err == nil && loc.Query().Get("error") != "" {
			own := url.Values{}
			if a, err := url.Parse(f.action); err == nil {
				own = a.Query()
			}
			params := map[string]string{}
			for k, v := range loc.Query() {
				if !own.Has(k) && len(v) > 0 {
					params[k] = v[0]
				}
			}
			f.written = true
			f.p.formPost(f.ResponseWriter, f.r, f.action, params)
			return
		}
	}
	f.ResponseWriter.WriteHeader(code)
}

func (f *formPostErrors) Write(b []byte) (int, error) {
	if f.written {
		return len(b), nil // the redirect's own body
	}
	return f.ResponseWriter.Write(b)
}

// Userinfo is op's userinfo endpoint, answering a bad token the RFC 6750
// way: 401 with WWW-Authenticate. A token in the URL is refused: URLs end
// up in logs and browser history (RFC 6750 section 2.3).
func (p *Provider) Userinfo(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("access_token") {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusBadRequest, "invalid_request", "send the access token in the Authorization header")
		return
	}
	hasToken := r.Header.Get("Authorization") != ""
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, "invalid_request", "the request body could not be read")
			return
		}
		hasToken = hasToken || r.PostForm.Get("access_token") != ""
	}
	bw := &bearerErrorWriter{ResponseWriter: w, hasToken: hasToken}
	hw := &hookWriter{ResponseWriter: bw}
	hw.before = func() {
		if hw.status >= 400 && p.down(r.Context()) {
			p.unavailable(w, hw)
			bw.passthrough = true
		}
	}
	p.op.ServeHTTP(hw, r)
}

// EndSession is op's end_session endpoint. It also drops the session
// cookie when the storage ended the session; and whatever op refuses (a
// bad id_token_hint, an unregistered post_logout_redirect_uri) leads to
// the logout confirmation page, with no redirect anywhere.
func (p *Provider) EndSession(w http.ResponseWriter, r *http.Request) {
	// A browser page, not an API for other origins: op's router would add
	// CORS headers for a client's origin.
	r.Header.Del("Origin")
	if !fromBrowser(r) {
		// A server's call (oauth2-proxy's backend_logout_url) carries no
		// cookie: it cannot end the member's browser session, and must not
		// be told it did.
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusBadRequest, "invalid_request", "end_session signs out the browser that opens it: "+
			"redirect the member's browser here (OpenID Connect RP-Initiated Logout); a call without the browser's "+
			"cookies cannot sign the member out (revoke the tokens at /revoke instead)")
		return
	}
	if err := r.ParseForm(); err != nil || !p.postLogoutRegistered(r.Form) {
		http.Redirect(w, r, "/logout", http.StatusSeeOther)
		return
	}
	ctx, st := withState(r.Context())
	hw := &hookWriter{ResponseWriter: w}
	hw.before = func() {
		if hw.status >= 400 {
			w.Header().Set("Location", "/logout")
			hw.replaced = true
			return
		}
		if st.sessionEnded && p.clear != nil {
			p.clear(w)
		}
	}
	p.op.ServeHTTP(hw, r.WithContext(ctx))
}

// fromBrowser reports whether a request comes from a browser: it holds
// one of the provider's cookies (every page the member saw set one) or
// says it is a navigation (Sec-Fetch-Mode, sent by every current browser).
// A server-to-server call has neither.
func fromBrowser(r *http.Request) bool {
	return len(r.Cookies()) > 0 || r.Header.Get("Sec-Fetch-Mode") == "navigate"
}

// postLogoutRegistered checks a post_logout_redirect_uri against the
// client's registered ones, exactly: op lets native clients vary the
// loopback host and port there.
func (p *Provider) postLogoutRegistered(form url.Values) bool {
	target := form.Get("post_logout_redirect_uri")
	if target == "" {
		return true
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		clientID = azpOf(form.Get("id_token_hint"))
	}
	c, ok := p.storage.clients[clientID]
	return !ok || slices.Contains(c.cfg.PostLogoutRedirectURIs, target)
}

// azpOf reads the client an ID token was issued to, without verifying it:
// only to pick the registration to compare against (op verifies the token).
func azpOf(idToken string) string {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		AZP string          `json:"azp"`
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	if c.AZP != "" {
		return c.AZP
	}
	var aud string
	if json.Unmarshal(c.Aud, &aud) == nil {
		return aud
	}
	var auds []string
	if json.Unmarshal(c.Aud, &auds) == nil && len(auds) == 1 {
		return auds[0]
	}
	return ""
}

// down reports whether the database is unavailable right now.
func (p *Provider) down(ctx context.Context) bool {
	return p.available != nil && !p.available(ctx)
}

// unavailable replaces the response hw is about to write with a 503.
func (p *Provider) unavailable(w http.ResponseWriter, hw *hookWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Retry-After", "5")
	h.Del("WWW-Authenticate")
	hw.status, hw.replaced = http.StatusServiceUnavailable, true
	hw.body = `{"error":"temporarily_unavailable","error_description":"the database is unavailable; retry in a few seconds"}`
}

// grants the token endpoint answers; anything else is unsupported_grant_type.
var grants = []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken), string(oidc.GrantTypeClientCredentials)}

// Backchannel serves op's token, introspection and revocation endpoints
// (its own router adds CORS and the issuer). Before op it refuses what
// op would mishandle: an unreadable body, JWT client assertions (not
// offered), grants that are not offered, a malformed PKCE verifier, and a
// public client sending a secret. After op it adds the WWW-Authenticate
// challenge to a 401 (RFC 6749 section 5.2) and makes every error JSON.
func (p *Provider) Backchannel(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == PathIntrospect {
		// Introspection is for resource servers, never browsers: no CORS
		// (op's router adds it to every endpoint for a client's origin).
		r.Header.Del("Origin")
	}
	if r.Method == http.MethodPost {
		if err := p.precheck(r); err != nil {
			if err.ErrorType == oidc.InvalidClient {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`", charset="UTF-8"`)
			}
			op.RequestError(w, r, err, nil)
			return
		}
		if p.clientThrottled(w, r) {
			return
		}
		if r.URL.Path == PathIntrospect {
			postToBasic(r)
		}
	}
	hw := &hookWriter{ResponseWriter: w}
	hw.before = func() {
		if hw.status >= 400 && p.down(r.Context()) {
			// op reads a database failure as a bad grant or a server
			// error; the client should retry instead (RFC 6749 5.2 has
			// no better code than temporarily_unavailable).
			p.unavailable(w, hw)
			return
		}
		if hw.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`", charset="UTF-8"`)
			if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
				// op answers some client authentication failures in plain text.
				hw.replaced = true
				w.Header().Set("Content-Type", "application/json")
				hw.body = `{"error":"invalid_client","error_description":"client authentication failed"}`
			}
		}
	}
	p.op.ServeHTTP(hw, r)
}

func (p *Provider) precheck(r *http.Request) *oidc.Error {
	if err := r.ParseForm(); err != nil {
		return oidc.ErrInvalidRequest().WithDescription("the request body could not be read")
	}
	f := r.PostForm
	// RFC 6749 section 3.2: no parameter twice. op would quietly pick one,
	// and a proxy in front may have picked the other.
	if dup := duplicatedParams(f, backchannelParams); len(dup) > 0 {
		return oidc.ErrInvalidRequest().WithDescription("parameter given more than once: %s", dup[0])
	}
	if f.Get("client_assertion") != "" || f.Get("client_assertion_type") != "" {
		return oidc.ErrInvalidClient().WithDescription("JWT client authentication is not supported: use client_secret_basic or client_secret_post")
	}
	if r.URL.Path == PathToken {
		if g := f.Get("grant_type"); g != "" && !slices.Contains(grants, g) {
			return oidc.ErrUnsupportedGrantType().WithDescription("grant_type must be authorization_code, refresh_token or client_credentials")
		}
	}
	if v := f["code_verifier"]; len(v) > 0 && !validVerifier(v[0]) {
		return oidc.ErrInvalidRequest().WithDescription("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	// A public client has no secret; one that sends a secret is
	// misconfigured, and the secret must not count for anything.
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	if c, ok := p.storage.clients[id]; ok && c.cfg.Public() && secret != "" {
		return oidc.ErrInvalidClient().WithDescription("a public client has no secret: send client_id and the PKCE code_verifier only")
	}
	return nil
}

// clientThrottled turns away, with a 429, a client that failed to
// authenticate too often from this address (see Storage.
// AuthorizeClientIDSecret). A client secret is long and random, so this is
// not about guessing it: it stops a stranger from making the endpoint check
// secrets at full speed, and it never affects the real client's address.
func (p *Provider) clientThrottled(w http.ResponseWriter, r *http.Request) bool {
	t := p.storage.throttle
	if t == nil {
		return false
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if secret == "" {
		return false // a public client: nothing to guess
	}
	wait, err := t.Wait(r.Context(), t.Client(id, clientip.From(r)))
	if err != nil {
		slog.ErrorContext(r.Context(), "check client throttle", "error", err)
		return false // op's own check follows; the database error surfaces there
	}
	if wait <= 0 {
		return false
	}
	slog.WarnContext(r.Context(), "client authentication throttled", "client_id", id, "wait", wait.Round(time.Second))
	w.Header().Set("Retry-After", throttle.RetryAfter(wait))
	writeJSON(w, http.StatusTooManyRequests, "invalid_client",
		"too many failed client authentications from this address; retry in "+throttle.Describe(wait))
	return true
}

// postToBasic moves client_secret_post credentials into the Basic header:
// op's introspection reads client authentication from the header only,
// where the token endpoint takes either.
func postToBasic(r *http.Request) {
	if _, _, basic := r.BasicAuth(); basic {
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id == "" || secret == "" {
		return
	}
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	r.PostForm.Del("client_secret")
	r.Form.Del("client_secret")
}

// backchannelParams are the token, introspection and revocation
// parameters this provider reads.
var backchannelParams = []string{"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
	"client_id", "client_secret", "token", "token_type_hint"}

// validVerifier checks RFC 7636 section 4.1.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, kind, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": kind, "error_description": description})
}

// hookWriter runs before once, just before the response header is
// written, with the status known. before may set replaced (and body) to
// swap op's body for its own.
type hookWriter struct {
	http.ResponseWriter
	before   func()
	done     bool
	status   int
	replaced bool
	body     string
}

func (h *hookWriter) WriteHeader(code int) {
	if h.done {
		return
	}
	h.done, h.status = true, code
	if h.before != nil {
		h.before()
	}
	if h.replaced && h.body == "" && code >= 400 {
		// A refusal turned into a redirect (end_session).
		h.ResponseWriter.WriteHeader(http.StatusSeeOther)
		return
	}
	h.ResponseWriter.WriteHeader(h.status)
	if h.replaced && h.body != "" {
		_, _ = h.ResponseWriter.Write([]byte(h.body))
	}
}

func (h *hookWriter) Write(b []byte) (int, error) {
	if !h.done {
		h.WriteHeader(http.StatusOK)
	}
	if h.replaced {
		return len(b), nil
	}
	return h.ResponseWriter.Write(b)
}

// bearerErrorWriter turns op's plain 401/403 userinfo answers into RFC
// 6750 errors.
type bearerErrorWriter struct {
	http.ResponseWriter
	hasToken bool
	replaced bool
	// passthrough writes as given (the outage answer).
	passthrough bool
}

func (b *bearerErrorWriter) WriteHeader(code int) {
	if b.passthrough || code != http.StatusUnauthorized && code != http.StatusForbidden {
		b.ResponseWriter.WriteHeader(code)
		return
	}
	b.replaced = true
	h := b.ResponseWriter.Header()
	h.Del("Content-Length")
	h.Set("Cache-Control", "no-store")
	if !b.hasToken {
		h.Set("WWW-Authenticate", `Bearer`)
		writeJSON(b.ResponseWriter, http.StatusUnauthorized, "invalid_request", "access token missing")
		return
	}
	h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token is invalid, expired or revoked"`)
	writeJSON(b.ResponseWriter, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
}

func (b *bearerErrorWriter) Write(p []byte) (int, error) {
	if b.replaced {
		return len(p), nil // the original body is replaced
	}
	return b.ResponseWriter.Write(p)
}
