package server_test

// The harness the fuzz targets in fuzz_test.go share: one provider per
// target, on a temporary SQLite file, driven in-process through its HTTP
// handler. Every request is checked: a status of 500 or more, a panic
// (caught by the provider's recovery middleware, which logs "panic", or
// escaping it) fails the input.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/server"
	"github.com/communityidp/idp/idp/users"
)

const (
	fzHost   = "localhost:9000"
	fzIssuer = "http://" + fzHost
	// localhost, not an IP address: a WebAuthn RP ID must be a domain.
	fzRPID = "localhost"

	fzSite         = "community-site"
	fzSiteSecret   = "site-secret-0123456789abcdefghijklmnop"
	fzSiteRedirect = "https://community.example/oidc/callback"
	fzApp          = "mobile-app"
	fzAppRedirect  = "com.example.app:/oauth2redirect"

	fzLogin    = "alice"
	fzPassword = "correct horse battery staple"

	// fzVerifier is the PKCE verifier of every code the harness fetches.
	fzVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

var fzRPIDHash = sha256.Sum256([]byte(fzRPID))

// fzChallenge is the S256 code_challenge of fzVerifier.
func fzChallenge() string {
	sum := sha256.Sum256([]byte(fzVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// fuzzIDP is a provider under fuzzing, with two browsers: anon holds only
// a CSRF cookie, member is alice signed in with her password (recently, so
// she may add passkeys) and holding one passkey, made by authn. Nothing
// signs in from member's browser: a sign-in ends the browser's previous
// session, and member's must last.
type fuzzIDP struct {
	h   http.Handler
	log *panicLog

	anon, member fzBrowser

	authn      *softauthn.Authenticator
	key        *ecdsa.PrivateKey // the passkey's private key, to sign fuzzed assertions
	credID     []byte
	userHandle []byte
}

// fzBrowser is a fixed set of cookies and the CSRF token that goes with
// them. Cookies the provider sets in answer to fuzzed requests are not
// kept: each input starts from the same browser.
type fzBrowser struct {
	cookies []*http.Cookie
	csrf    string
}

// panicLog is the provider's log during fuzzing: it drops everything but
// remembers panics (the recovery middleware logs them as "panic") and the
// last error, for the failure message.
type panicLog struct {
	mu        sync.Mutex
	panics    []string
	lastError string
}

func (l *panicLog) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelError }
func (l *panicLog) WithAttrs([]slog.Attr) slog.Handler               { return l }
func (l *panicLog) WithGroup(string) slog.Handler                    { return l }
func (l *panicLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Message == "panic" {
		l.panics = append(l.panics, b.String())
	}
	l.lastError = b.String()
	return nil
}

func (l *panicLog) take() (panics []string, lastError string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	panics, lastError = l.panics, l.lastError
	l.panics, l.lastError = nil, ""
	return panics, lastError
}

// newFuzzIDP starts a provider for one fuzz target. It is built once per
// process: the fuzzing engine runs the target's setup in each worker.
func newFuzzIDP(f *testing.F) *fuzzIDP {
	f.Helper()
	cfg := config.Default()
	cfg.Issuer = fzIssuer
	cfg.Listen = "127.0.0.1:9000"
	cfg.Database = config.Database{Driver: "sqlite", DSN: f.TempDir() + "/idp.db"}
	cfg.Log.Level = "error"
	cfg.Passkeys.Rollout = config.RolloutEveryone
	// Fuzzing fails thousands of sign-ins from one address; the throttle
	// would soon answer every one with a 429 and hide the code behind it.
	cfg.Throttle.AccountFailures, cfg.Throttle.AccountHourlyLimit = 1<<30, 1<<30
	cfg.Throttle.AddressFailures, cfg.Throttle.AddressHourlyLimit = 1<<30, 1<<30
	// The member's sign-in stays recent enough to add passkeys however
	// long the fuzzing runs.
	cfg.Sessions.ReauthAfter = cfg.Sessions.AbsoluteLifetime
	cfg.Clients = []config.Client{
		{ID: fzSite, Name: "Community Site", Type: config.ClientConfidential, Secret: fzSiteSecret,
			RedirectURIs: []string{fzSiteRedirect}, PostLogoutRedirectURIs: []string{"https://community.example/"},
			GrantTypes: []string{config.GrantAuthorizationCode, config.GrantRefreshToken, config.GrantClientCredentials}},
		{ID: fzApp, Name: "Community App", Type: config.ClientPublic,
			RedirectURIs: []string{fzAppRedirect, "http://127.0.0.1/callback"}},
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}

	log := &panicLog{}
	prev := slog.Default()
	slog.SetDefault(slog.New(log))
	f.Cleanup(func() { slog.SetDefault(prev) })

	ctx := context.Background()
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	srv, err := server.New(ctx, cfg, st, server.Options{})
	if err != nil {
		f.Fatal(err)
	}
	hash, err := password.Hash(fzPassword)
	if err != nil {
		f.Fatal(err)
	}
	u, err := users.New(users.Input{Username: fzLogin, Email: "alice@example.org", Name: "Alice Example",
		EmailVerified: true, PasswordHash: hash}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if err := st.CreateUser(ctx, u); err != nil {
		f.Fatal(err)
	}
	p := &fuzzIDP{h: srv.Handler(), log: log, userHandle: u.WebAuthnID}
	p.anon = p.newBrowser(f)
	p.member = p.signIn(f)
	p.addPasskey(f)
	return p
}

// serve runs one request through the provider and fails t on a 5xx or a
// panic. It returns the response.
func (p *fuzzIDP) serve(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("%s %s: the handler panicked: %v", req.Method, req.URL, v)
			}
		}()
		p.h.ServeHTTP(rec, req)
	}()
	resp := rec.Result()
	panics, lastError := p.log.take()
	if len(panics) > 0 {
		t.Fatalf("%s %s: panic in the provider (answered %d): %s", req.Method, req.URL, resp.StatusCode, panics[0])
	}
	if resp.StatusCode >= 500 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		t.Fatalf("%s %s: status %d (last error logged: %q)\n%s", req.Method, req.URL, resp.StatusCode, lastError, body)
	}
	return resp
}

// request builds a request the way net/http's server would hand it to
// the handler. target is the request-target (path and raw query); ok is
// false when a real server would refuse it before any handler runs (it
// does not parse as a request URI, or a header value holds a control
// character), so there is nothing to fuzz.
func request(method, target, contentType string, body []byte) (req *http.Request, ok bool) {
	u, err := url.ParseRequestURI(target)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return nil, false
	}
	req = httptest.NewRequest(method, "/", bytes.NewReader(body))
	req.URL = u
	req.RequestURI = target
	req.Host = fzHost
	req.RemoteAddr = "192.0.2.10:40000"
	if contentType != "" {
		if !setHeader(req, "Content-Type", contentType) {
			return nil, false
		}
	}
	return req, true
}

// setHeader sets a header to a fuzzed value, reporting false for a value a
// real server would refuse.
func setHeader(req *http.Request, name, value string) bool {
	if !httpguts.ValidHeaderFieldValue(value) {
		return false
	}
	req.Header.Set(name, value)
	return true
}

// with adds the browser's cookies to req.
func (b fzBrowser) with(req *http.Request) *http.Request {
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	return req
}

// merge keeps the cookies resp sets (replacing those of the same name).
func (b *fzBrowser) merge(resp *http.Response) {
	for _, c := range resp.Cookies() {
		kept := b.cookies[:0]
		for _, old := range b.cookies {
			if old.Name != c.Name {
				kept = append(kept, old)
			}
		}
		b.cookies = kept
		if c.MaxAge >= 0 && c.Value != "" {
			b.cookies = append(b.cookies, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// newBrowser gets a CSRF cookie and token the way a browser does: by
// loading the sign-in page.
func (p *fuzzIDP) newBrowser(f *testing.F) fzBrowser {
	f.Helper()
	req, _ := request(http.MethodGet, "/login", "", nil)
	resp := p.serve(f, req)
	body, _ := io.ReadAll(resp.Body)
	m := csrfMeta.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		f.Fatalf("GET /login: %d, no CSRF token:\n%s", resp.StatusCode, body)
	}
	var b fzBrowser
	b.merge(resp)
	if len(b.cookies) == 0 {
		f.Fatal("GET /login set no CSRF cookie")
	}
	b.csrf = string(m[1])
	return b
}

// signIn returns a browser in which alice signed in with her password.
func (p *fuzzIDP) signIn(f *testing.F) fzBrowser {
	f.Helper()
	b := p.newBrowser(f)
	form := url.Values{"csrf_token": {b.csrf}, "login": {fzLogin}, "password": {fzPassword}}
	req, _ := request(http.MethodPost, "/login/password", "application/x-www-form-urlencoded", []byte(form.Encode()))
	resp := p.serve(f, b.with(req))
	if resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(resp.Body)
		f.Fatalf("password sign-in: %d\n%s", resp.StatusCode, body)
	}
	b.merge(resp)
	return b
}

// postJSON posts a JSON body from browser b with its CSRF token.
func (p *fuzzIDP) postJSON(t testing.TB, b fzBrowser, path string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := request(http.MethodPost, path, "application/json", body)
	req.Header.Set("X-CSRF-Token", b.csrf)
	resp := p.serve(t, b.with(req))
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// begin starts a WebAuthn ceremony at path (/webauthn/login/begin or
// /webauthn/register/begin) and returns its ID and challenge.
func (p *fuzzIDP) begin(t testing.TB, b fzBrowser, path, body string) (ceremony, challenge string, publicKey json.RawMessage) {
	t.Helper()
	resp, out := p.postJSON(t, b, path, []byte(body))
	var got struct {
		Ceremony  string          `json:"ceremony"`
		PublicKey json.RawMessage `json:"publicKey"`
	}
	var opts struct {
		Challenge string `json:"challenge"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(out, &got) != nil || json.Unmarshal(got.PublicKey, &opts) != nil {
		t.Fatalf("POST %s %s: %d\n%s", path, body, resp.StatusCode, out)
	}
	return got.Ceremony, opts.Challenge, got.PublicKey
}

// addPasskey registers a software passkey for alice through the pages'
// own JSON calls, and keeps its private key.
func (p *fuzzIDP) addPasskey(f *testing.F) {
	f.Helper()
	ceremony, _, publicKey := p.begin(f, p.member, "/webauthn/register/begin", `{}`)
	p.authn = softauthn.New(fzIssuer)
	cred, err := p.authn.Create(publicKey)
	if err != nil {
		f.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"ceremony": ceremony, "credential": json.RawMessage(cred), "source": "settings"})
	if resp, out := p.postJSON(f, p.member, "/webauthn/register/finish", body); resp.StatusCode != http.StatusOK {
		f.Fatalf("register passkey: %d\n%s", resp.StatusCode, out)
	}
	saved, err := p.authn.Save()
	if err != nil {
		f.Fatal(err)
	}
	var creds []struct {
		ID  []byte `json:"id"`
		Key []byte `json:"private_key"`
	}
	if err := json.Unmarshal(saved, &creds); err != nil || len(creds) != 1 {
		f.Fatalf("saved passkey: %v", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(creds[0].Key)
	if err != nil {
		f.Fatal(err)
	}
	p.key, p.credID = k.(*ecdsa.PrivateKey), creds[0].ID
}

// follow serves req from browser b and then follows the redirects that
// stay on the provider (sign-in page, callback), up to a few hops. It
// returns the last response.
func (p *fuzzIDP) follow(t testing.TB, b fzBrowser, req *http.Request) *http.Response {
	t.Helper()
	resp := p.serve(t, b.with(req))
	for hops := 0; hops < 5; hops++ {
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return resp
		}
		loc, err := req.URL.Parse(resp.Header.Get("Location"))
		if err != nil || (loc.Host != "" && loc.Host != fzHost) || (loc.Scheme != "" && loc.Scheme != "http") {
			return resp // off to the client, or nowhere
		}
		next, ok := request(http.MethodGet, loc.RequestURI(), "", nil)
		if !ok {
			t.Fatalf("the provider redirected to %q, which no server can be sent", resp.Header.Get("Location"))
		}
		req = next
		resp = p.serve(t, b.with(req))
	}
	return resp
}

// freshCode runs an authorization code flow in the member's browser (the
// session answers at once) and returns the site's code, with PKCE
// verifier fzVerifier and scope offline_access.
func (p *fuzzIDP) freshCode(t testing.TB) string {
	t.Helper()
	q := url.Values{"client_id": {fzSite}, "redirect_uri": {fzSiteRedirect}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {fzChallenge()}, "code_challenge_method": {"S256"}}
	req, _ := request(http.MethodGet, "/authorize?"+q.Encode(), "", nil)
	resp := p.follow(t, p.member, req)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// freshRefresh redeems a fresh code and returns the refresh token.
func (p *fuzzIDP) freshRefresh(t testing.TB) string {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {p.freshCode(t)}, "redirect_uri": {fzSiteRedirect},
		"code_verifier": {fzVerifier}}
	req, _ := request(http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded", []byte(form.Encode()))
	req.SetBasicAuth(fzSite, fzSiteSecret)
	resp := p.serve(t, req)
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(body, &tok) != nil || tok.RefreshToken == "" {
		t.Fatalf("no refresh token: %d\n%s", resp.StatusCode, body)
	}
	return tok.RefreshToken
}

// freshAuthRequest starts an authorization request in browser b and
// returns its ID (the sign-in page's authRequestID).
func (p *fuzzIDP) freshAuthRequest(t testing.TB, b fzBrowser) string {
	t.Helper()
	q := url.Values{"client_id": {fzSite}, "redirect_uri": {fzSiteRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"st"}, "code_challenge": {fzChallenge()}, "code_challenge_method": {"S256"}}
	req, _ := request(http.MethodGet, "/authorize?"+q.Encode(), "", nil)
	resp := p.serve(t, b.with(req))
	body, _ := io.ReadAll(resp.Body)
	// The sign-in page answers the request; its forms carry the id.
	m := authRequestInput.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("no auth request: %d %s", resp.StatusCode, body)
	}
	return string(m[1])
}

var authRequestInput = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
