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
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/keys"
	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/ratelimit"
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
	// ClearSessionCookie is the cookie that makes the browser drop its
	// session cookie.
	ClearSessionCookie func() *http.Cookie
	// ErrorPage shows the member a sign-in request that cannot go back to
	// its client: status, the OAuth error code and its description.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int, kind, description string)
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

// Provider is the OpenID provider: op's protocol engine (server) with this
// project's storage, plus the few protocol decisions op leaves open (PKCE
// policy, prompt=none, iss in responses, a narrowed discovery document)
// and the browser endpoints, which answer with pages.
type Provider struct {
	op          *op.Provider
	api         http.Handler // op's router over server
	storage     *Storage
	issuer      string
	cors        *cors.Cors
	discovery   []byte
	keys        *keys.Manager
	clearCookie func() *http.Cookie
	showError   func(w http.ResponseWriter, r *http.Request, status int, kind, description string)
	server      *server
	binding     func(http.ResponseWriter, *http.Request) []byte
	available   func(context.Context) bool
	now         func() time.Time
	crypto      *tokenCrypto
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
	opts := []op.Option{op.WithCrypto(crypto)}
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(opCfg, st, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("create OpenID provider: %w", err)
	}
	showError := o.ErrorPage
	if showError == nil {
		showError = func(w http.ResponseWriter, _ *http.Request, status int, kind, description string) {
			http.Error(w, kind+": "+description, status)
		}
	}
	corsOpts := corsOptions(cfg.Clients)
	p := &Provider{
		op: provider, storage: st, issuer: cfg.Issuer, cors: cors.New(corsOpts),
		keys: o.Keys, clearCookie: o.ClearSessionCookie, showError: showError, binding: o.BrowserBinding,
		available: o.Available, now: o.Now, crypto: crypto,
	}
	// The back-channel endpoints only: the browser endpoints answer with
	// pages (authorize.go, EndSession), discovery and keys from memory.
	endpoints := op.Endpoints{
		Token:         op.NewEndpoint(PathToken),
		Introspection: op.NewEndpoint(PathIntrospect),
		Userinfo:      op.NewEndpoint(PathUserinfo),
		Revocation:    op.NewEndpoint(PathRevoke),
	}
	srv := &server{LegacyServer: op.NewLegacyServer(provider, endpoints), p: p, storage: st}
	p.server = srv
	apiCORS := corsOpts
	apiCORS.AllowOriginVaryRequestFunc = func(r *http.Request, origin string) (bool, []string) {
		return r.URL.Path != PathIntrospect && slices.Contains(corsOpts.AllowedOrigins, origin), nil
	}
	p.api = op.RegisterServer(srv, endpoints, op.WithServerCORSOptions(&apiCORS),
		op.WithHTTPMiddleware(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r.WithContext(op.ContextWithIssuer(r.Context(), cfg.Issuer)))
			})
		}))
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
	var tagged atomic.Pointer[etagged]
	return p.cors.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, version := p.keys.JWKS()
		t := tagged.Load()
		if t == nil || t.version != version {
			// The ETag is derived from the content, so every replica
			// agrees; computed once per key set, not per request.
			sum := sha256.Sum256(body)
			t = &etagged{version: version, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
			tagged.Store(t)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=120")
		w.Header().Set("ETag", t.etag)
		if r.Header.Get("If-None-Match") == t.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(body)
	}))
}

// etagged is the ETag of one version of the key set.
type etagged struct {
	version uint64
	etag    string
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
