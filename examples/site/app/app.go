// Package app is the example community site: a server-side web app that
// signs members in through the provider with the authorization code flow
// (state, nonce and PKCE S256), keeps their tokens in a server-side
// session, shows their claims and how they signed in (amr), refreshes the
// tokens and signs out with RP-initiated logout.
//
// It uses only github.com/coreos/go-oidc/v3 (discovery, ID token checks)
// and golang.org/x/oauth2 (the code and refresh grants), as a real site
// would. The command in examples/site runs it; the end-to-end tests serve
// New's handler in-process.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config configures the site.
type Config struct {
	// Issuer is the provider's URL, exactly as in its discovery document.
	Issuer string
	// ClientID and ClientSecret are the site's registration (a
	// confidential client).
	ClientID     string
	ClientSecret string
	// PublicURL is where browsers reach the site, such as
	// http://localhost:3000. The redirect URI is PublicURL/oidc/callback
	// and the post-logout redirect URI PublicURL/; both must be registered.
	PublicURL string
	// Scopes default to openid profile email offline_access (the last one
	// asks for a refresh token).
	Scopes []string
	// HTTPClient makes the calls to the provider; nil uses a client with a
	// 10 second timeout.
	HTTPClient *http.Client
	// Logger receives errors; nil uses slog.Default(). Tokens and codes are
	// never logged.
	Logger *slog.Logger
}

// Cookie names. They differ from the provider's (idp_session, ...):
// browsers share cookies between ports of one host, so on localhost the
// site and the provider see each other's.
const (
	loginCookie   = "site_login"   // state, nonce and PKCE verifier of a sign-in in progress
	sessionCookie = "site_session" // the random id of the server-side session
	logoutCookie  = "site_logout"  // the state of an RP-initiated logout in progress
	callbackPath  = "/oidc/callback"
	// backchannelPath receives logout tokens from the provider.
	backchannelPath = "/oidc/backchannel-logout"
	loginLifetime   = 10 * time.Minute
	// sessionLifetime bounds a session kept in memory, whatever the tokens say.
	sessionLifetime = 8 * time.Hour
)

// App is the site's http.Handler.
type App struct {
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	secure  bool   // the site is served over https: Secure cookies
	key     []byte // signs the login cookie; random per process
	pages   map[string]*template.Template
	handler http.Handler

	discoMu sync.Mutex
	disco   *discovery // nil until discovery succeeds

	mu       sync.Mutex
	sessions map[string]*session
	// logoutJTIs are the logout tokens already used, until they expire.
	logoutJTIs map[string]time.Time
}

// discovery is what the site learns from the provider's discovery document.
type discovery struct {
	provider   *oidc.Provider
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string // end_session_endpoint; "" when the provider has none
}

// session is a signed-in member, kept in memory only.
type session struct {
	token   *oauth2.Token
	rawID   string // the latest ID token, sent back as id_token_hint
	claims  Claims
	all     map[string]any
	csrf    string
	created time.Time
	flash   string
}

// Claims are the ID token claims the pages show.
type Claims struct {
	Subject           string   `json:"sub"`
	Name              string   `json:"name"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	PreferredUsername string   `json:"preferred_username"`
	AuthTime          int64    `json:"auth_time"`
	AMR               []string `json:"amr"`
	// SessionID (sid) names the provider's browser session: a logout
	// token for it ends this session.
	SessionID string `json:"sid"`
}

//go:embed templates/*.html templates/*.css
var files embed.FS

// New returns the site. Discovery happens on the first sign-in (and is
// retried until it works), so the site may start before the provider.
func New(cfg Config) (*App, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("issuer, client id and client secret are required")
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" || (pub.Path != "" && pub.Path != "/") {
		return nil, fmt.Errorf("public URL %q: want an absolute http(s) URL without a path, such as http://localhost:3000", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}
	}
	a := &App{cfg: cfg, log: cfg.Logger, client: cfg.HTTPClient, secure: pub.Scheme == "https",
		key: make([]byte, 32), sessions: map[string]*session{}, logoutJTIs: map[string]time.Time{}}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.client == nil {
		a.client = &http.Client{Timeout: 10 * time.Second}
	}
	rand.Read(a.key)
	a.pages = map[string]*template.Template{}
	for _, name := range []string{"home", "account", "error"} {
		a.pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET "+callbackPath, a.callback)
	mux.HandleFunc("GET /account", a.account)
	mux.HandleFunc("POST /refresh", a.refresh)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST "+backchannelPath, a.backchannelLogout)
	mux.HandleFunc("GET /site.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeFileFS(w, r, files, "templates/site.css")
	})
	a.handler = a.headers(mux)
	return a, nil
}

// RedirectURL is the redirect URI the site sends; it must be registered.
func (a *App) RedirectURL() string { return a.cfg.PublicURL + callbackPath }

// BackchannelLogoutURL is where the provider POSTs logout tokens: the
// client's backchannel_logout_uri.
func (a *App) BackchannelLogoutURL() string { return a.cfg.PublicURL + backchannelPath }

// PostLogoutURL is the post-logout redirect URI; it must be registered.
func (a *App) PostLogoutURL() string { return a.cfg.PublicURL + "/" }

func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// headers sets the security headers every answer carries.
func (a *App) headers(next http.Handler) http.Handler {
	issuer := a.cfg.Issuer
	if u, err := url.Parse(issuer); err == nil {
		issuer = u.Scheme + "://" + u.Host
	}
	// form-action covers the redirects after a form: Sign in and Sign out
	// are forms that end at the provider.
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' " + issuer
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer") // the callback URL holds the code
		next.ServeHTTP(w, r)
	})
}

// context returns ctx with the HTTP client for go-oidc and x/oauth2.
func (a *App) context(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, a.client)
}

// discover reads the provider's discovery document once it answers.
func (a *App) discover(ctx context.Context) (*discovery, error) {
	a.discoMu.Lock()
	defer a.discoMu.Unlock()
	if a.disco != nil {
		return a.disco, nil
	}
	p, err := oidc.NewProvider(a.context(ctx), a.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&extra); err != nil {
		return nil, err
	}
	a.disco = &discovery{
		provider: p,
		oauth: oauth2.Config{ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: a.RedirectURL(), Scopes: a.cfg.Scopes},
		verifier:   p.Verifier(&oidc.Config{ClientID: a.cfg.ClientID}),
		endSession: extra.EndSession,
	}
	return a.disco, nil
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Welcome"}
	if s := a.session(r); s != nil {
		data["Member"] = s.claims
	}
	// Back from RP-initiated logout: the state we sent comes back.
	if st := r.URL.Query().Get("state"); st != "" {
		if c, err := r.Cookie(logoutCookie); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(st)) == 1 {
			data["SignedOut"] = true
		}
		a.clearCookie(w, logoutCookie, "/")
	}
	a.render(w, http.StatusOK, "home", data)
}

// pending is a sign-in in progress, kept in the login cookie.
type pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

// login starts the authorization code flow.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	d, err := a.discover(r.Context())
	if err != nil {
		a.log.Error("discovery failed", "issuer", a.cfg.Issuer, "err", err)
		a.fail(w, http.StatusBadGateway, "The sign-in service does not answer",
			fmt.Sprintf("The site could not read the provider's discovery document at %s/.well-known/openid-configuration: %v. Is the provider running (go run ./cmd/idp serve --config examples/idp.yaml)?", a.cfg.Issuer, err), nil)
		return
	}
	p := pending{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(),
		Expires: time.Now().Add(loginLifetime).Unix()}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: a.seal(p), Path: callbackPath,
		MaxAge: int(loginLifetime / time.Second), HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, d.oauth.AuthCodeURL(p.State, oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)), http.StatusSeeOther)
}

// oauthErrors explains the errors an authorization response may carry.
var oauthErrors = map[string]string{
	"access_denied":             "The sign-in was cancelled or refused.",
	"login_required":            "You need to sign in at the provider.",
	"interaction_required":      "The provider needs you to do something before signing you in.",
	"invalid_request":           "The provider refused the site's request. Check the site's registration (client id and redirect URI).",
	"invalid_scope":             "The site asked for scopes the provider does not grant.",
	"unauthorized_client":       "This site is not allowed to sign members in this way. Check its registration at the provider.",
	"unsupported_response_type": "The provider does not support the response type the site asked for.",
	"server_error":              "The provider had a problem. Try again in a moment.",
	"temporarily_unavailable":   "The provider is busy or down for maintenance. Try again in a moment.",
}

// callback finishes the flow: state, code exchange with the PKCE verifier,
// ID token and nonce checks, then a new session.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := a.pendingLogin(r)
	a.clearCookie(w, loginCookie, callbackPath)
	if !ok || subtle.ConstantTimeCompare([]byte(p.State), []byte(q.Get("state"))) != 1 {
		a.fail(w, http.StatusBadRequest, "This sign-in cannot be finished",
			"The answer from the provider does not belong to a sign-in started in this browser, or it took longer than 10 minutes. Start again from the site.", nil)
		return
	}
	// RFC 9207: the answer says which provider sent it.
	if iss := q.Get("iss"); iss != "" && iss != a.cfg.Issuer {
		a.fail(w, http.StatusBadRequest, "This sign-in cannot be finished",
			fmt.Sprintf("The answer came from %q, not from the provider this site uses (%s).", iss, a.cfg.Issuer), nil)
		return
	}
	if code := q.Get("error"); code != "" {
		explain := oauthErrors[code]
		if explain == "" {
			explain = "The provider did not sign you in."
		}
		a.fail(w, http.StatusBadRequest, "Sign-in was not completed", explain, &oauthError{
			Code: code, Description: q.Get("error_description"), URI: safeURI(q.Get("error_uri"))})
		return
	}
	d, err := a.discover(r.Context())
	if err != nil {
		a.fail(w, http.StatusBadGateway, "The sign-in service does not answer", err.Error(), nil)
		return
	}
	ctx := a.context(r.Context())
	tok, err := d.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		a.tokenError(w, "The site could not redeem the sign-in code", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		a.fail(w, http.StatusBadGateway, "The provider sent no ID token", "The token response has no id_token: does the site ask for the openid scope?", nil)
		return
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err == nil && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(p.Nonce)) != 1 {
		err = errors.New("the nonce does not match the one this sign-in sent")
	}
	if err == nil && idt.AccessTokenHash != "" {
		err = idt.VerifyAccessToken(tok.AccessToken)
	}
	if err != nil {
		a.log.Warn("ID token refused", "err", err)
		a.fail(w, http.StatusBadGateway, "The provider's ID token was refused", err.Error(), nil)
		return
	}
	s := &session{token: tok, rawID: raw, csrf: random(), created: time.Now()}
	if err := claimsOf(idt, s); err != nil {
		a.fail(w, http.StatusBadGateway, "The provider's ID token was refused", err.Error(), nil)
		return
	}
	id := random()
	a.mu.Lock()
	for k, old := range a.sessions { // forget expired sessions
		if time.Since(old.created) > sessionLifetime {
			delete(a.sessions, k)
		}
	}
	a.sessions[id] = s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/",
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func claimsOf(idt *oidc.IDToken, s *session) error {
	var c Claims
	all := map[string]any{}
	if err := idt.Claims(&c); err != nil {
		return err
	}
	if err := idt.Claims(&all); err != nil {
		return err
	}
	s.claims, s.all = c, all
	return nil
}

func (a *App) account(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	if s == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.mu.Lock()
	flash := s.flash
	s.flash = ""
	tok := s.token
	claims := s.claims
	all, _ := json.MarshalIndent(s.all, "", "  ")
	csrf := s.csrf
	a.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, http.StatusOK, "account", map[string]any{
		"Title": "Your account", "Member": claims, "Method": describeAMR(claims.AMR), "Flash": flash,
		"AuthTime": unixTime(claims.AuthTime), "AllClaims": string(all), "CSRF": csrf,
		"Expiry": tok.Expiry, "HasRefresh": tok.RefreshToken != "", "Scope": tok.Extra("scope"),
	})
}

// refresh runs the refresh grant and keeps the new tokens.
func (a *App) refresh(w http.ResponseWriter, r *http.Request) {
	s := a.checkedSession(w, r)
	if s == nil {
		return
	}
	d, err := a.discover(r.Context())
	if err != nil {
		a.fail(w, http.StatusBadGateway, "The sign-in service does not answer", err.Error(), nil)
		return
	}
	a.mu.Lock()
	rt, sub := s.token.RefreshToken, s.claims.Subject
	a.mu.Unlock()
	if rt == "" {
		a.setFlash(s, "The provider issued no refresh token (the site asks for offline_access; is the refresh_token grant enabled for this client?).")
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	ctx := a.context(r.Context())
	// A token with only a refresh token makes the token source refresh now.
	tok, err := d.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		a.tokenError(w, "The provider refused to refresh the tokens", err)
		return
	}
	var idt *oidc.IDToken
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		// A refreshed ID token is for the same member (OpenID Connect Core 12.2).
		idt, err = d.verifier.Verify(ctx, raw)
		if err == nil && idt.Subject != sub {
			err = errors.New("the refreshed ID token is for another member")
		}
		if err != nil {
			a.fail(w, http.StatusBadGateway, "The provider's ID token was refused", err.Error(), nil)
			return
		}
	}
	a.mu.Lock()
	s.token = tok
	if idt != nil {
		s.rawID, _ = tok.Extra("id_token").(string)
		_ = claimsOf(idt, s)
	}
	s.flash = fmt.Sprintf("Tokens refreshed. The new access token expires at %s (in %s).",
		tok.Expiry.Format("15:04:05 MST"), time.Until(tok.Expiry).Round(time.Second))
	a.mu.Unlock()
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// logout ends the site's session, then the provider's with RP-initiated
// logout: id_token_hint lets the provider sign out at once and send the
// browser back to the registered post-logout URI with our state.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	s := a.checkedSession(w, r)
	if s == nil {
		return
	}
	c, _ := r.Cookie(sessionCookie)
	a.mu.Lock()
	delete(a.sessions, c.Value)
	hint := s.rawID
	a.mu.Unlock()
	a.clearCookie(w, sessionCookie, "/")
	d, err := a.discover(r.Context())
	if err != nil || d.endSession == "" {
		// No provider logout to do: signed out of the site only.
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	state := random()
	http.SetCookie(w, &http.Cookie{Name: logoutCookie, Value: state, Path: "/", MaxAge: int(loginLifetime / time.Second),
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	u, err := url.Parse(d.endSession)
	if err != nil {
		a.fail(w, http.StatusBadGateway, "The provider's sign-out address is invalid", err.Error(), nil)
		return
	}
	q := u.Query()
	q.Set("id_token_hint", hint)
	q.Set("client_id", a.cfg.ClientID)
	q.Set("post_logout_redirect_uri", a.PostLogoutURL())
	q.Set("state", state)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// session returns the signed-in member's session, or nil.
func (a *App) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s != nil && time.Since(s.created) > sessionLifetime {
		delete(a.sessions, c.Value)
		return nil
	}
	return s
}

// checkedSession is the session of a form post that carries its CSRF token.
func (a *App) checkedSession(w http.ResponseWriter, r *http.Request) *session {
	s := a.session(r)
	if s == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	a.mu.Lock()
	want := s.csrf
	a.mu.Unlock()
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(want)) != 1 {
		a.fail(w, http.StatusForbidden, "This form has expired", "Reload the page and try again.", nil)
		return nil
	}
	return s
}

func (a *App) setFlash(s *session, msg string) {
	a.mu.Lock()
	s.flash = msg
	a.mu.Unlock()
}

// oauthError is an OAuth error to show on the error page.
type oauthError struct {
	Code, Description, URI string
}

// tokenError shows a failed token request, with the provider's error code.
func (a *App) tokenError(w http.ResponseWriter, title string, err error) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		a.log.Warn("token request refused", "error", re.ErrorCode, "status", re.Response.StatusCode)
		explain := "The provider answered with an error."
		switch re.ErrorCode {
		case "invalid_client":
			explain = "The provider did not accept the site's client id and secret: check them against the registration (secret_hash)."
		case "invalid_grant":
			explain = "The code or refresh token is no longer valid (used already, expired, or the member signed out). Sign in again."
		}
		a.fail(w, http.StatusBadGateway, title, explain, &oauthError{Code: re.ErrorCode, Description: re.ErrorDescription, URI: safeURI(re.ErrorURI)})
		return
	}
	a.log.Warn("token request failed", "err", err)
	a.fail(w, http.StatusBadGateway, title, err.Error(), nil)
}

func (a *App) fail(w http.ResponseWriter, status int, title, message string, oe *oauthError) {
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, status, "error", map[string]any{"Title": title, "Message": message, "OAuth": oe})
}

func (a *App) render(w http.ResponseWriter, status int, page string, data map[string]any) {
	data["Issuer"] = a.cfg.Issuer
	var sb strings.Builder
	if err := a.pages[page].ExecuteTemplate(&sb, "layout", data); err != nil {
		a.log.Error("template", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(sb.String()))
}

func (a *App) clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

// seal encodes p and signs it, so that a cookie the site did not write is refused.
func (a *App) seal(p pending) string {
	b, _ := json.Marshal(p)
	body := base64.RawURLEncoding.EncodeToString(b)
	return body + "." + a.mac(body)
}

func (a *App) pendingLogin(r *http.Request) (pending, bool) {
	var p pending
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return p, false
	}
	body, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(a.mac(body))) {
		return p, false
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || json.Unmarshal(b, &p) != nil || time.Now().Unix() > p.Expires {
		return p, false
	}
	return p, true
}

func (a *App) mac(body string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Method says how the member signed in, from the amr claim (RFC 8176).
type Method struct {
	Passkey, Password bool
	Summary           string // "signed in with a passkey" or "with a password"
	Detail            string
}

func describeAMR(amr []string) Method {
	has := func(v string) bool {
		for _, x := range amr {
			if x == v {
				return true
			}
		}
		return false
	}
	switch {
	case has("hwk") || has("swk"):
		m := Method{Passkey: true, Summary: "You signed in with a passkey"}
		switch {
		case has("user") && has("mfa"):
			m.Detail = "Your device checked it was you (fingerprint, face, PIN or passcode): that counts as two factors."
		case has("user"):
			m.Detail = "Your device checked it was you."
		default:
			m.Detail = "Your device did not check who you are (no user verification)."
		}
		return m
	case has("pwd"):
		return Method{Password: true, Summary: "You signed in with a password",
			Detail: "With a passkey (the provider's Settings > Passkeys) you sign in with your device unlock instead."}
	case len(amr) == 0:
		return Method{Summary: "The provider did not say how you signed in", Detail: "The ID token has no amr claim."}
	}
	return Method{Summary: "You signed in with: " + strings.Join(amr, ", ")}
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Format("2006-01-02 15:04:05 MST")
	},
	"until": func(t time.Time) string { return time.Until(t).Round(time.Second).String() },
}

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// safeURI keeps an error_uri only when it is an http(s) link.
func safeURI(u string) string {
	if p, err := url.Parse(u); err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != "" {
		return u
	}
	return ""
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// backchannelLogout receives a logout token (OpenID Connect Back-Channel
// Logout 1.0, section 2.6): it checks it like an ID token (signature,
// issuer, audience, expiry) plus what makes it a logout token, then ends
// the member's sessions here: the one with its sid, or all of sub's.
func (a *App) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	refuse := func(why string) {
		a.log.Warn("logout token refused", "reason", why)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": why})
	}
	raw := r.PostFormValue("logout_token")
	if raw == "" {
		refuse("no logout_token")
		return
	}
	if typ := headerType(raw); typ != "logout+jwt" {
		refuse("the token's typ is " + strconv.Quote(typ) + ", not logout+jwt")
		return
	}
	d, err := a.discover(r.Context())
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable) // the provider retries
		return
	}
	tok, err := d.verifier.Verify(a.context(r.Context()), raw)
	if err != nil {
		refuse("the token does not verify: " + err.Error())
		return
	}
	var c struct {
		SID    string                     `json:"sid"`
		JTI    string                     `json:"jti"`
		Events map[string]json.RawMessage `json:"events"`
		Nonce  *string                    `json:"nonce"`
	}
	if err := tok.Claims(&c); err != nil {
		refuse("the token's claims cannot be read")
		return
	}
	switch {
	case c.Events["http://schemas.openid.net/event/backchannel-logout"] == nil:
		refuse("the token has no back-channel logout event")
		return
	case c.Nonce != nil:
		refuse("a logout token must not carry a nonce")
		return
	case tok.Subject == "" && c.SID == "":
		refuse("the token names neither sub nor sid")
		return
	case c.JTI == "":
		refuse("the token has no jti")
		return
	}
	ended, replayed := a.endSessions(c.JTI, tok.Expiry, c.SID, tok.Subject)
	if replayed {
		refuse("this logout token was already used")
		return
	}
	a.log.Info("signed out by the provider", "sessions", ended)
	w.WriteHeader(http.StatusOK)
}

// endSessions ends the sessions of sid (or, without one, of sub) for the
// logout token jti, unless that token was used before.
func (a *App) endSessions(jti string, exp time.Time, sid, sub string) (ended int, replayed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for j, until := range a.logoutJTIs {
		if time.Now().After(until) {
			delete(a.logoutJTIs, j)
		}
	}
	if _, seen := a.logoutJTIs[jti]; seen {
		return 0, true
	}
	a.logoutJTIs[jti] = exp
	for id, s := range a.sessions {
		if (sid != "" && s.claims.SessionID == sid) || (sid == "" && s.claims.Subject == sub) {
			delete(a.sessions, id)
			ended++
		}
	}
	return ended, false
}

// headerType is the typ of a compact JWS's header, or "".
func headerType(raw string) string {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Typ string `json:"typ"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Typ
}
