package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/formclient"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/server"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/storetest"
	"github.com/communityidp/idp/idp/users"
)

// Fixed test data: a community website (confidential) and its app (public).
const (
	siteID       = "community-site"
	siteSecret   = "site-secret-0123456789abcdefghijklmnop"
	siteRedirect = "https://community.example/oidc/callback"
	siteLogout   = "https://community.example/"
	appID        = "mobile-app"
	appRedirect  = "com.example.app:/oauth2redirect"
	appLoopback  = "http://127.0.0.1/callback"
	otherID      = "other-site"
	otherSecret  = "other-secret-0123456789abcdefghijklmn"
	otherRedir   = "https://other.example/cb"

	aliceLogin    = "alice"
	alicePassword = "correct horse battery staple"
)

// siteSecretHash is computed once: argon2id costs about 50 ms.
var siteSecretHash = sync.OnceValue(func() string {
	h, err := password.Hash(siteSecret)
	if err != nil {
		panic(err)
	}
	return h
})

// clock is the provider's time source, which a test moves forward.
type clock = storetest.Clock

func newClock() *clock { return storetest.NewClock(time.Now()) }

// provider is a running provider on a real TCP port.
type provider struct {
	t      *testing.T
	URL    string
	cfg    config.Config
	clock  *clock
	store  store.Store
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// testConfig is the configuration every e2e test starts from.
func testConfig(dir, issuer, listen string) config.Config {
	cfg := config.Default()
	cfg.Issuer = issuer
	cfg.Listen = listen
	cfg.Database = config.Database{Driver: "sqlite", DSN: filepath.Join(dir, "idp.db")}
	cfg.Log.Level = "warn"
	// Its own key-encryption key: replicas of a test share it through the
	// configuration, and no test writes one outside its temporary files.
	cfg.Secrets.Key = base64.StdEncoding.EncodeToString([]byte((rand.Text() + rand.Text())[:32]))
	cfg.Clients = []config.Client{
		{ID: siteID, Name: "Community Site", Type: config.ClientConfidential, SecretHash: siteSecretHash(),
			RedirectURIs: []string{siteRedirect}, PostLogoutRedirectURIs: []string{siteLogout},
			GrantTypes: []string{config.GrantAuthorizationCode, config.GrantRefreshToken, config.GrantClientCredentials}},
		{ID: appID, Name: "Community App", Type: config.ClientPublic,
			RedirectURIs: []string{appRedirect, appLoopback}, PostLogoutRedirectURIs: []string{appRedirect}},
		{ID: otherID, Name: "Other Site", Type: config.ClientConfidential, Secret: otherSecret,
			RedirectURIs: []string{otherRedir}, IDTokenSigningAlg: "ES256"},
	}
	return cfg
}

// startProvider runs a provider with the test configuration, changed by
// edit, and an account for alice.
func startProvider(t *testing.T, edit func(*config.Config)) *provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// localhost, not 127.0.0.1: a WebAuthn RP ID must be a domain name.
	issuer := "http://localhost:" + strings.TrimPrefix(addr, "127.0.0.1:")
	cfg := testConfig(t.TempDir(), issuer, addr)
	if edit != nil {
		edit(&cfg)
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	p := &provider{t: t, URL: cfg.Issuer, cfg: cfg, clock: newClock(), addr: addr}
	p.start(ln)
	u, err := users.New(users.Input{Username: aliceLogin, Email: "alice@example.org", Name: "Alice Example",
		EmailVerified: true, PasswordHash: mustHash(t, alicePassword)}, p.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p
}

var hashCache sync.Map

func mustHash(t *testing.T, pw string) string {
	if h, ok := hashCache.Load(pw); ok {
		return h.(string)
	}
	h, err := password.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	hashCache.Store(pw, h)
	return h
}

func (p *provider) start(ln net.Listener) {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := server.OpenStore(ctx, p.cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	srv, err := server.New(ctx, p.cfg, st, server.Options{Now: p.clock.Now})
	if err != nil {
		p.t.Fatal(err)
	}
	p.store, p.cancel, p.done = st, cancel, make(chan error, 1)
	go func() { p.done <- srv.Serve(ctx, ln) }()
}

func (p *provider) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	if err := <-p.done; err != nil {
		p.t.Errorf("serve: %v", err)
	}
	p.store.Close()
	p.cancel = nil
}

// restart stops the provider and starts a new one on the same database,
// address and configuration, as an operator restarting it would.
func (p *provider) restart() {
	p.t.Helper()
	p.stop()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port is free again almost at once
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.start(ln)
}

// browser is a cookie-keeping HTTP client that follows redirects only
// while they stay on the provider, like a browser whose next hop is the
// app: a redirect elsewhere is returned to the test.
type browser struct {
	t      *testing.T
	p      *provider
	client *http.Client
}

func newBrowser(t *testing.T, p *provider) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, p: p, client: &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: 10 * time.Second,
	}}
}

// page is an HTML response.
type page = formclient.Page

// result is where a navigation ended: a page on the provider, or a
// redirect away from it (Away).
type result struct {
	*page
}

func (b *browser) do(req *http.Request) *result {
	b.t.Helper()
	p, err := formclient.Navigate(b.client, b.p.URL, req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return &result{page: p}
}

// Get navigates to u.
func (b *browser) Get(u string) *result {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// Submit fills the form that holds the button labelled button, setting
// fields by their visible label, and sends it as the browser would.
func (b *browser) Submit(p *page, button string, fields map[string]string) *result {
	b.t.Helper()
	form, values, err := p.Fill(button, fields)
	if err != nil {
		b.t.Fatalf("%v:\n%s", err, p.Body)
	}
	next, err := formclient.Submit(b.client, b.p.URL, p, form, values)
	if err != nil {
		b.t.Fatalf("submit %q on %s: %v", button, p.URL, err)
	}
	return &result{page: next}
}

var (
	walk     = formclient.Walk
	textOf   = formclient.TextOf
	attr     = formclient.Attr
	findByID = formclient.FindByID
)

// signIn takes the browser from an authorization URL through the sign-in
// pages with a password and returns where the provider sent it back.
func (b *browser) signIn(authURL, login, pw string) *url.URL {
	b.t.Helper()
	r := b.Get(authURL)
	if r.Away != nil {
		return r.Away // answered without a page (SSO, or an error redirect)
	}
	if r.Status != http.StatusOK || !strings.Contains(r.Text(), "Email or username") {
		b.t.Fatalf("expected the sign-in page, got %d: %s", r.Status, r.Text())
	}
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": login})
	if r.Status != http.StatusOK {
		b.t.Fatalf("identifier step: %d %s", r.Status, r.Text())
	}
	if strings.Contains(r.Text(), "Use Password") {
		r = b.Submit(r.page, "Use Password", nil)
	}
	r = b.Submit(r.page, "Sign in", map[string]string{"Password": pw})
	if r.Away == nil && strings.Contains(r.Text(), "Sign in faster with a passkey") {
		r = b.Submit(r.page, "Not now", nil) // the passkey suggestion
	}
	if r.Away == nil {
		b.t.Fatalf("password step did not return to the app: %d %s", r.Status, r.Text())
	}
	return r.Away
}

// oauthError reads the error of an authorization response.
func oauthError(u *url.URL) string { return u.Query().Get("error") }

func mustNoError(t *testing.T, u *url.URL) string {
	t.Helper()
	q := u.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in %s", u)
	}
	return q.Get("code")
}

var errNoCode = errors.New("no code")

func fmtURL(base string, q url.Values) string { return fmt.Sprintf("%s?%s", base, q.Encode()) }

type htmlNode = html.Node

// newMember adds a member account.
func newMember(t *testing.T, p *provider, login, pw string) *store.User {
	t.Helper()
	u, err := users.New(users.Input{Username: login, Email: login + "@example.org", PasswordHash: mustHash(t, pw)}, p.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// idTokenFor signs in with the browser and returns the raw ID token.
func idTokenFor(t *testing.T, site *rp, b *browser, login, pw string) string {
	t.Helper()
	tok, _ := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("h"), login, pw)))
	return tok.Extra("id_token").(string)
}

// postForm posts a form as a page of the provider would.
func (b *browser) postForm(path, csrf string, v url.Values) *result {
	b.t.Helper()
	v.Set("csrf_token", csrf)
	req, _ := http.NewRequest(http.MethodPost, b.p.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.p.URL)
	return b.do(req)
}
