package oidcop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/keys"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
)

// Options are what the provider is assembled from.
type Options struct {
	Config config.Config
	Store  store.Store
	Keys   *keys.Manager
	// CryptoKey encrypts codes and access tokens; generated once, stored,
	// identical on every replica.
	CryptoKey [32]byte
	// LogoutURL returns the provider's logout confirmation page for a
	// post-logout target (signed, so the page can trust it).
	LogoutURL func(target string) string
	// ClearSessionCookie drops the browser's session cookie.
	ClearSessionCookie func(http.ResponseWriter)
	Now                func() time.Time
}

// Provider is the OpenID provider: op's protocol engine with this
// project's storage, plus the few protocol decisions op leaves open
// (PKCE policy, prompt=none, iss in responses, a narrowed discovery
// document).
type Provider struct {
	op        *op.Provider
	authz     *authorizer
	storage   *Storage
	issuer    string
	cors      *cors.Cors
	discovery []byte
	keys      *keys.Manager
	clear     func(http.ResponseWriter)
	now       func() time.Time
}

// New assembles the provider.
func New(o Options) (*Provider, error) {
	cfg := o.Config
	if o.Now == nil {
		o.Now = time.Now
	}
	clients := map[string]*client{}
	for i, c := range cfg.Clients {
		cl, err := newClient(c, cfg.Tokens.IDTokenLifetime.D())
		if err != nil {
			return nil, fmt.Errorf("clients[%d].secret_hash: %w", i, err)
		}
		clients[c.ID] = cl
	}
	st := &Storage{
		store: o.Store, keys: o.Keys, clients: clients, tokens: cfg.Tokens,
		alg: jose.SignatureAlgorithm(cfg.Keys.IDTokenSigningAlg), now: o.Now, logoutURL: o.LogoutURL,
	}
	corsOpts := corsOptions(cfg.Clients)
	opCfg := &op.Config{
		CryptoKey:                o.CryptoKey,
		DefaultLogoutRedirectURI: cfg.Issuer + "/logout/done",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		SupportedClaims:          supportedClaims,
	}
	opts := []op.Option{
		op.WithCORSOptions(&corsOpts),
		op.WithHttpInterceptors(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, _ := withState(r.Context())
				next.ServeHTTP(w, r.WithContext(ctx))
			})
		}),
	}
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(opCfg, st, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("create OpenID provider: %w", err)
	}
	p := &Provider{
		op: provider, storage: st, issuer: cfg.Issuer, cors: cors.New(corsOpts),
		keys: o.Keys, clear: o.ClearSessionCookie, now: o.Now,
	}
	p.authz = &authorizer{Provider: provider, storage: st, now: o.Now, encoder: issEncoder{inner: provider.Encoder(), issuer: cfg.Issuer}}
	if p.discovery, err = p.buildDiscovery(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

var supportedClaims = []string{
	"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash", "c_hash",
	"name", "preferred_username", "updated_at", "email", "email_verified",
}

// corsOptions allow browser-based clients on the registered origins to
// call the token, userinfo, revocation, discovery and JWKS endpoints;
// never with credentials.
func corsOptions(clients []config.Client) cors.Options {
	var origins []string
	for _, c := range clients {
		for _, u := range c.RedirectURIs {
			if p, err := url.Parse(u); err == nil && (p.Scheme == "https" || p.Scheme == "http") {
				o := p.Scheme + "://" + p.Host
				if !slices.Contains(origins, o) {
					origins = append(origins, o)
				}
			}
		}
	}
	return cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Content-Type"},
		AllowCredentials: false,
		MaxAge:           600,
	}
}

// Backchannel serves op's token, introspection and revocation endpoints
// (its own router adds CORS and the issuer). It refuses a malformed PKCE
// verifier, which op would merely fail to match, and adds the
// WWW-Authenticate challenge RFC 6749 section 5.2 asks for to a 401.
func (p *Provider) Backchannel(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil {
			if v := r.PostForm["code_verifier"]; len(v) > 0 && !validVerifier(v[0]) {
				op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~"), nil)
				return
			}
			// A public client has no secret; one that sends a secret is
			// misconfigured, and the secret must not count for anything.
			id, secret, basic := r.BasicAuth()
			if !basic {
				id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
			}
			if c, ok := p.storage.clients[id]; ok && c.cfg.Public() && secret != "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`", charset="UTF-8"`)
				op.RequestError(w, r, oidc.ErrInvalidClient().WithDescription("a public client has no secret: send client_id and the PKCE code_verifier only"), nil)
				return
			}
		}
	}
	hw := &hookWriter{ResponseWriter: w}
	hw.before = func() {
		if hw.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`", charset="UTF-8"`)
		}
	}
	p.op.ServeHTTP(hw, r)
}

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

// Paths of the endpoints, relative to the issuer.
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathJWKS       = "/keys"
	PathAuthorize  = "/authorize"
	PathCallback   = "/authorize/callback"
	PathToken      = "/oauth/token"
	PathIntrospect = "/oauth/introspect"
	PathUserinfo   = "/userinfo"
	PathRevoke     = "/revoke"
	PathEndSession = "/end_session"
)

// Discovery serves the cached discovery document (with CORS).
func (p *Provider) Discovery() http.Handler {
	return p.cors.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(p.discovery)
	}))
}

// JWKS serves the cached key set (with CORS), with an ETag that changes
// on rotation.
func (p *Provider) JWKS() http.Handler {
	return p.cors.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, version := p.keys.JWKS()
		etag := fmt.Sprintf(`"k%d-%d"`, version, len(body))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=120")
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(body)
	}))
}

// Authorize is the authorization endpoint (GET and POST).
func (p *Provider) Authorize(w http.ResponseWriter, r *http.Request) {
	ctx, _ := withState(op.ContextWithIssuer(r.Context(), p.issuer))
	if err := r.ParseForm(); err == nil {
		ctx = context.WithValue(ctx, duplicatesKey{}, duplicatedParams(r.Form))
	}
	op.Authorize(w, r.WithContext(ctx), p.authz)
}

// Callback finishes a sign-in: op issues the code and redirects to the
// client. form_post responses are rendered here so they carry iss and a
// nonce-guarded script.
func (p *Provider) Callback(w http.ResponseWriter, r *http.Request) {
	ctx, _ := withState(op.ContextWithIssuer(r.Context(), p.issuer))
	r = r.WithContext(ctx)
	if id := r.URL.Query().Get("id"); id != "" {
		if ar, err := p.storage.AuthRequestByID(ctx, id); err == nil && ar.Done() && ar.GetResponseMode() == oidc.ResponseModeFormPost {
			resp, err := op.BuildAuthResponseCodeResponsePayload(ctx, ar, p.authz)
			if err != nil {
				op.AuthRequestError(w, r, ar, err, p.authz)
				return
			}
			p.formPost(w, ar.GetRedirectURI(), map[string]string{"code": resp.Code, "state": resp.State, "iss": p.issuer})
			return
		}
	}
	op.AuthorizeCallback(w, r, p.authz)
}

var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Continuing…</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}{{if $v}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}{{end}}
<noscript><p>JavaScript is off: press Continue to return to the app.</p></noscript>
<button type="submit">Continue</button></form>
<script nonce="{{.Nonce}}">document.forms[0].submit();</script></body></html>`))

func (p *Provider) formPost(w http.ResponseWriter, action string, params map[string]string) {
	nonce := randomID(16)
	origin := action
	if u, err := url.Parse(action); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	w.Header().Set("Content-Security-Policy", fmt.Sprintf(
		"default-src 'none'; script-src 'nonce-%s'; form-action %s; frame-ancestors 'none'; base-uri 'none'", nonce, origin))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = formPostPage.Execute(w, map[string]any{"Action": action, "Params": params, "Nonce": nonce})
}

// Userinfo is op's userinfo endpoint, answering a bad token the RFC 6750
// way: 401 with WWW-Authenticate.
func (p *Provider) Userinfo(w http.ResponseWriter, r *http.Request) {
	hasToken := r.Header.Get("Authorization") != "" || r.URL.Query().Has("access_token")
	p.op.ServeHTTP(&bearerErrorWriter{ResponseWriter: w, hasToken: hasToken}, r)
}

// EndSession is op's end_session endpoint; it also drops the session
// cookie when the storage ended the session.
func (p *Provider) EndSession(w http.ResponseWriter, r *http.Request) {
	ctx, st := withState(r.Context())
	hw := &hookWriter{ResponseWriter: w, before: func() {
		if st.sessionEnded && p.clear != nil {
			p.clear(w)
		}
	}}
	p.op.ServeHTTP(hw, r.WithContext(ctx))
}

// CallbackURL is where the login UI sends the browser when a sign-in is done.
func (p *Provider) CallbackURL(authRequestID string) string {
	return p.issuer + PathCallback + "?id=" + url.QueryEscape(authRequestID)
}

// Error kinds the login UI may send back to the client.
const (
	ErrAccessDenied  = "access_denied"
	ErrLoginRequired = "login_required"
)

// RedirectError ends an authorization request with an error sent to the
// client's redirect URI (with state and iss), e.g. when the member
// cancels. The request is deleted.
func (p *Provider) RedirectError(w http.ResponseWriter, r *http.Request, authRequestID, kind, description string) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	r = r.WithContext(ctx)
	ar, err := p.storage.AuthRequestByID(ctx, authRequestID)
	if err != nil {
		op.AuthRequestError(w, r, nil, err, p.authz)
		return
	}
	e := oidc.ErrAccessDenied()
	if kind == ErrLoginRequired {
		e = oidc.ErrLoginRequired()
	}
	_ = p.storage.DeleteAuthRequest(ctx, authRequestID)
	op.AuthRequestError(w, r, ar, e.WithDescription("%s", description), p.authz)
}

// RotateKeysIfDue rotates signing keys older than the rotation period.
func (p *Provider) RotateKeysIfDue(ctx context.Context) (bool, error) {
	return p.keys.RotateDue(ctx)
}

func (p *Provider) buildDiscovery(cfg config.Config) ([]byte, error) {
	ctx := op.ContextWithIssuer(context.Background(), p.issuer)
	d := op.CreateDiscoveryConfig(ctx, p.op, p.storage)
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFormPost)}
	grants := []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	for _, c := range cfg.Clients {
		if c.HasGrant(config.GrantClientCredentials) {
			grants = append(grants, oidc.GrantTypeClientCredentials)
			break
		}
	}
	d.GrantTypesSupported = grants
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic}
	d.DeviceAuthorizationEndpoint = ""
	d.CheckSessionIframe = ""
	d.TokenEndpointAuthSigningAlgValuesSupported = nil
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	d.RequestObjectSigningAlgValuesSupported = nil
	d.ClaimsSupported = supportedClaims

	raw, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode discovery: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("encode discovery: %w", err)
	}
	// RFC 9207: every authorization response carries iss.
	m["authorization_response_iss_parameter_supported"] = true
	m["request_parameter_supported"] = false
	m["request_uri_parameter_supported"] = false
	m["claims_parameter_supported"] = false
	m["frontchannel_logout_supported"] = false
	m["backchannel_logout_supported"] = false
	return json.Marshal(m)
}

// authorizer is op's Provider with our authorization policy and an encoder
// that adds iss to authorization responses.
type authorizer struct {
	*op.Provider
	storage *Storage
	encoder httphelper.Encoder
	now     func() time.Time
}

var _ op.AuthorizeValidator = (*authorizer)(nil)

func (a *authorizer) Encoder() httphelper.Encoder { return a.encoder }

type duplicatesKey struct{}

// oauthParams are the parameters that must not appear twice (RFC 6749
// section 3.1).
var oauthParams = []string{
	"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint", "id_token_hint",
	"ui_locales", "request", "request_uri", "display", "acr_values", "claims",
}

func duplicatedParams(form url.Values) []string {
	var dup []string
	for _, k := range oauthParams {
		if len(form[k]) > 1 {
			dup = append(dup, k)
		}
	}
	return dup
}

// ValidateAuthRequest is op's validation plus this provider's policy.
// Until the redirect URI is known to be registered, errors are shown to
// the browser (no redirect); after that they go to the client.
func (a *authorizer) ValidateAuthRequest(ctx context.Context, req *oidc.AuthRequest, storage op.Storage, verifier *op.IDTokenHintVerifier) (string, error) {
	dup, _ := ctx.Value(duplicatesKey{}).([]string)
	if slices.Contains(dup, "client_id") || slices.Contains(dup, "redirect_uri") {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("client_id and redirect_uri must be given once")
	}
	c, err := storage.GetClientByClientID(ctx, req.ClientID)
	if err != nil {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client_id %q", req.ClientID).WithParent(err)
	}
	if err := op.ValidateAuthReqRedirectURI(c, req.RedirectURI, req.ResponseType); err != nil {
		return "", err
	}
	cl := c.(*client)
	if !loopbackHostMatches(cl, req.RedirectURI) {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("the redirect_uri is not registered for this client")
	}
	switch {
	case len(dup) > 0:
		return "", oidc.ErrInvalidRequest().WithDescription("parameter given more than once: %s", strings.Join(dup, ", "))
	case req.RequestParam != "":
		return "", oidc.ErrRequestNotSupported()
	case req.ResponseType == "":
		return "", oidc.ErrInvalidRequest().WithDescription("response_type is missing")
	case req.ResponseType != oidc.ResponseTypeCode:
		return "", &oidc.Error{ErrorType: "unsupported_response_type", Description: "only response_type=code is supported"}
	case req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery && req.ResponseMode != oidc.ResponseModeFormPost:
		return "", oidc.ErrInvalidRequest().WithDescription("response_mode must be query or form_post")
	case req.CodeChallenge == "" && (cl.cfg.Public() || cl.cfg.RequirePKCE):
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge is required: this client must use PKCE with S256")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case req.CodeChallenge != "" && !validChallenge(req.CodeChallenge):
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
	case !slices.Contains(req.Scopes, oidc.ScopeOpenID):
		return "", oidc.ErrInvalidScope().WithDescription("scope must include openid")
	}
	sub, err := op.ValidateAuthRequestClient(ctx, req, c, verifier)
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
		if cur == nil || !cur.Satisfies(a.now(), maxAge, sub, false) {
			return "", oidc.ErrLoginRequired().WithDescription("the member is not signed in")
		}
	}
	return sub, nil
}

// loopbackHostMatches tightens op's loopback rule for native apps: any
// port is fine (RFC 8252 section 7.3), but the host must be the registered
// one, not merely another loopback address.
func loopbackHostMatches(c *client, uri string) bool {
	if slices.Contains(c.cfg.RedirectURIs, uri) {
		return true
	}
	got, loopback := op.HTTPLoopbackOrLocalhost(uri)
	if !loopback {
		return true // not a loopback redirect: op's exact match applies
	}
	for _, reg := range c.cfg.RedirectURIs {
		if want, ok := op.HTTPLoopbackOrLocalhost(reg); ok && want.Scheme == got.Scheme &&
			want.Hostname() == got.Hostname() && want.Path == got.Path && want.RawQuery == got.RawQuery {
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

// issEncoder adds iss to every authorization response (RFC 9207).
type issEncoder struct {
	inner  httphelper.Encoder
	issuer string
}

func (e issEncoder) Encode(src any, dst map[string][]string) error {
	if err := e.inner.Encode(src, dst); err != nil {
		return err
	}
	dst["iss"] = []string{e.issuer}
	return nil
}

// hookWriter runs before once, just before the response header is
// written; status is known by then.
type hookWriter struct {
	http.ResponseWriter
	before func()
	done   bool
	status int
}

func (h *hookWriter) WriteHeader(code int) {
	if !h.done {
		h.done, h.status = true, code
		h.before()
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *hookWriter) Write(b []byte) (int, error) {
	if !h.done {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(b)
}

// bearerErrorWriter turns op's plain 401/403 userinfo answers into RFC
// 6750 errors.
type bearerErrorWriter struct {
	http.ResponseWriter
	hasToken bool
	replaced bool
}

func (b *bearerErrorWriter) WriteHeader(code int) {
	if code != http.StatusUnauthorized && code != http.StatusForbidden {
		b.ResponseWriter.WriteHeader(code)
		return
	}
	b.replaced = true
	h := b.ResponseWriter.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if !b.hasToken {
		h.Set("WWW-Authenticate", `Bearer`)
		b.ResponseWriter.WriteHeader(http.StatusUnauthorized)
		_, _ = b.ResponseWriter.Write([]byte(`{"error":"invalid_request","error_description":"access token missing"}`))
		return
	}
	h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token is invalid, expired or revoked"`)
	b.ResponseWriter.WriteHeader(http.StatusUnauthorized)
	_, _ = b.ResponseWriter.Write([]byte(`{"error":"invalid_token","error_description":"the access token is invalid, expired or revoked"}`))
}

func (b *bearerErrorWriter) Write(p []byte) (int, error) {
	if b.replaced {
		return len(p), nil // the original body is replaced
	}
	return b.ResponseWriter.Write(p)
}
