package oidcop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/keys"
	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/ratelimit"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/throttle"
)

// Options are what the provider is assembled from.
type Options struct {
	Config config.Config
	Store  Store
	Keys   *keys.Manager
	// CryptoKeys encrypt codes and access tokens: the first encrypts, all
	// decrypt (the previous key keeps tokens made before a rotation
	// working). Generated, stored, identical on every replica.
	CryptoKeys [][32]byte
	// LogoutURL returns the provider's logout confirmation page for a
	// post-logout target (signed, so the page can trust it).
	LogoutURL func(target string) string
	// ClearSessionCookie drops the browser's session cookie.
	ClearSessionCookie func(http.ResponseWriter)
	// Metrics counts tokens issued (nil: none).
	Metrics *metrics.Metrics
	// Available reports whether the database answers (nil: always).
	Available func(context.Context) bool
	// BrowserBinding returns a value only this browser holds, setting it
	// (a cookie) if it has none: authorization requests are bound to it.
	BrowserBinding func(http.ResponseWriter, *http.Request) []byte
	// Throttle slows down client secret guessing (nil: no throttling).
	Throttle *throttle.Throttle
	// AuthorizeLimit caps new authorization requests per address (nil:
	// no cap).
	AuthorizeLimit *ratelimit.Limiter
	Now            func() time.Time
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
	binding   func(http.ResponseWriter, *http.Request) []byte
	available func(context.Context) bool
	now       func() time.Time
	crypto    *tokenCrypto
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
		alg: jose.SignatureAlgorithm(cfg.Keys.IDTokenSigningAlg), now: o.Now, logoutURL: o.LogoutURL, metrics: o.Metrics,
		throttle: o.Throttle, authorizeLimit: o.AuthorizeLimit,
	}
	corsOpts := corsOptions(cfg.Clients)
	crypto := &tokenCrypto{}
	crypto.set(o.CryptoKeys)
	opCfg := &op.Config{
		DefaultLogoutRedirectURI: cfg.Issuer + "/logout/done",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       i18n.Default().Tags(),
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		SupportedClaims:          supportedClaims,
	}
	opts := []op.Option{
		op.WithCrypto(crypto),
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
		keys: o.Keys, clear: o.ClearSessionCookie, binding: o.BrowserBinding, available: o.Available, now: o.Now,
		crypto: crypto,
	}
	p.authz = &authorizer{Provider: provider, storage: st, now: o.Now, encoder: issEncoder{inner: provider.Encoder(), issuer: cfg.Issuer}}
	if p.discovery, err = p.buildDiscovery(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// tokenCrypto seals access tokens with AES-256-GCM and opens nothing else.
// op's default also falls back to unauthenticated AES-CFB, which "opens"
// about one random string in sixteen into a plausible "id:subject": a
// refresh token revoked with token_type_hint=access_token then reached
// RevokeToken as that garbage and was silently left alive. This provider
// never issued CFB tokens, so it has nothing to fall back to.
//
// Its keys can change while the provider runs (SetCryptoKeys): the first
// encrypts, every one decrypts.
type tokenCrypto struct{ c atomic.Pointer[op.Crypto] }

var _ op.Crypto = (*tokenCrypto)(nil)

func (t *tokenCrypto) set(keys [][32]byte) {
	var dec []op.Decrypter
	for _, k := range keys {
		dec = append(dec, op.NewAES256GCMCrypto(k, ""))
	}
	var c op.Crypto = op.NewCompositeCrypto(op.NewAES256GCMCrypto(keys[0], ""), dec)
	t.c.Store(&c)
}

func (t *tokenCrypto) Encrypt(s string) (string, error) { return (*t.c.Load()).Encrypt(s) }
func (t *tokenCrypto) Decrypt(s string) (string, error) { return (*t.c.Load()).Decrypt(s) }

// SetCryptoKeys replaces the token crypto keys: the first encrypts from
// now on, all of them decrypt.
func (p *Provider) SetCryptoKeys(keys ...[32]byte) { p.crypto.set(keys) }

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
		body, _ := p.keys.JWKS()
		// The ETag is derived from the content, so every replica agrees.
		sum := sha256.Sum256(body)
		etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
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
	// Introspection is for confidential clients (RFC 7662 section 2.1).
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
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
	// Back-Channel Logout 1.0: logout tokens carry sid, and ID tokens too.
	m["backchannel_logout_supported"] = true
	m["backchannel_logout_session_supported"] = true
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

// ValidateAuthRequest is op's validation plus this provider's policy.
// Until the redirect URI is known to be registered, errors are shown to
// the browser (no redirect); after that they go to the client.
func (a *authorizer) ValidateAuthRequest(ctx context.Context, req *oidc.AuthRequest, storage op.Storage, verifier *op.IDTokenHintVerifier) (string, error) {
	info := requestInfoFrom(ctx)
	dup := info.duplicates
	if slices.Contains(dup, "client_id") || slices.Contains(dup, "redirect_uri") {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("client_id and redirect_uri must be given once")
	}
	c, err := storage.GetClientByClientID(ctx, req.ClientID)
	if err != nil {
		return "", oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client_id %q", req.ClientID).WithParent(err)
	}
	// Checked as for the code flow, the only one offered: a redirect URI
	// op would refuse for an implicit response type (an http one) is still
	// where the client hears that its response type is unsupported.
	if err := op.ValidateAuthReqRedirectURI(c, req.RedirectURI, oidc.ResponseTypeCode); err != nil {
		return "", err
	}
	cl := c.(*client)
	if !loopbackHostMatches(cl, req.RedirectURI) {
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
		// RFC 6749 section 4.1.2.1: in the query, as a code flow's errors
		// (op would put an implicit response type's in the fragment).
		req.ResponseMode = oidc.ResponseModeQuery
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
