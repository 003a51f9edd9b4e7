package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/idp/passkey/softauthn"
)

// target is the provider under load and the client the tool plays.
type target struct {
	issuer    *url.URL
	client    *http.Client // shared keep-alive connections
	oauth     oauth2.Config
	secret    bool // the client is confidential
	verifier  *oidc.IDTokenVerifier
	endpoints struct{ userinfo, introspect, jwks string }
}

func newTarget(ctx context.Context, o options) (*target, error) {
	issuer, err := url.Parse(o.issuer)
	if err != nil || issuer.Host == "" {
		return nil, fmt.Errorf("-issuer %q is not a URL", o.issuer)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 4 * o.workers
	transport.MaxIdleConnsPerHost = 4 * o.workers
	t := &target{issuer: issuer, client: &http.Client{Transport: transport}, secret: o.clientSecret != ""}
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, t.client), o.issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var extra struct {
		Introspect string `json:"introspection_endpoint"`
		Userinfo   string `json:"userinfo_endpoint"`
		JWKS       string `json:"jwks_uri"`
	}
	if err := provider.Claims(&extra); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	t.endpoints.userinfo, t.endpoints.introspect, t.endpoints.jwks = extra.Userinfo, extra.Introspect, extra.JWKS
	t.oauth = oauth2.Config{ClientID: o.clientID, ClientSecret: o.clientSecret, Endpoint: provider.Endpoint(),
		RedirectURL: o.redirectURI, Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
	if !t.secret {
		t.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	} else {
		t.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	}
	t.verifier = provider.Verifier(&oidc.Config{ClientID: o.clientID})
	return t, nil
}

// account is a member the tool signs in as.
type account struct {
	login, password string
	key             *softauthn.Authenticator // nil until a passkey is registered
	passkeyID       string
	settings        *browser // the signed-in browser that registered it
}

func (t *target) ctx(ctx context.Context) context.Context { return oidc.ClientContext(ctx, t.client) }

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authCode runs a whole authorization-code flow as a new browser: the
// authorization request, "Email or username", then the password or the
// passkey, the code, the token request and the ID token check.
func (t *target) authCode(ctx context.Context, a *account, withPasskey bool) (*oauth2.Token, error) {
	return t.authCodeWith(ctx, a, t.signIn(withPasskey))
}

// signIn is the provider's sign-in from its first page: "Email or
// username", then the passkey or the password.
func (t *target) signIn(withPasskey bool) func(*browser, *page, *account) (*page, error) {
	return func(b *browser, p *page, a *account) (*page, error) {
		p, err := b.submit(p, "/login", map[string]string{"login": a.login})
		if err != nil {
			return nil, fmt.Errorf("email or username: %w", err)
		}
		if withPasskey {
			return t.passkeySignIn(b, p, a)
		}
		return passwordSignIn(b, p, a)
	}
}

// engineSignIn answers the login page of zitadel/oidc's example server
// (the engine's ceiling: in memory, one step, no hashing).
func engineSignIn(b *browser, p *page, a *account) (*page, error) {
	return b.submit(p, "/login/username", map[string]string{"username": a.login, "password": a.password})
}

// authCodeWith runs a code flow whose sign-in signIn does, from the
// provider's first page to the redirect back to the client.
func (t *target) authCodeWith(ctx context.Context, a *account, signIn func(*browser, *page, *account) (*page, error)) (*oauth2.Token, error) {
	g, err := t.authorize(a, signIn)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	tok, err := t.oauth.Exchange(t.ctx(ctx), g.code, oauth2.VerifierOption(g.verifier))
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	timeStep(ctx, "token", t0)
	idt, err := t.checkIDToken(ctx, tok)
	if err != nil {
		return nil, err
	}
	if idt.Nonce != g.nonce {
		return nil, errors.New("ID token: nonce does not match")
	}
	return tok, nil
}

// grant is an authorization response and what redeeming it needs.
type grant struct{ code, verifier, nonce string }

// authorize signs a in as a new browser, from the authorization request to
// the code the provider sends back to the client.
func (t *target) authorize(a *account, signIn func(*browser, *page, *account) (*page, error)) (grant, error) {
	g := grant{verifier: oauth2.GenerateVerifier(), nonce: random()}
	state := random()
	b := newBrowser(t.issuer, t.client.Transport)
	p, err := b.get(t.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(g.verifier), oidc.Nonce(g.nonce)))
	if err != nil {
		return g, fmt.Errorf("authorize: %w", err)
	}
	if p.Away != nil {
		return g, fmt.Errorf("authorize: sent back to the client at once: %s", p.Away.Query().Get("error"))
	}
	if p, err = signIn(b, p, a); err != nil {
		return g, err
	}
	if p.Away == nil {
		return g, fmt.Errorf("sign-in ended on %s instead of the client", p.URL.Path)
	}
	q := p.Away.Query()
	if q.Get("error") != "" || q.Get("state") != state || q.Get("code") == "" {
		return g, fmt.Errorf("authorization response: error %q, state ok %v", q.Get("error"), q.Get("state") == state)
	}
	g.code = q.Get("code")
	return g, nil
}

// signedIn is a browser signed in to the provider's own pages as a, with
// its password.
func (t *target) signedIn(a *account) (*browser, error) {
	b := newBrowser(t.issuer, t.client.Transport)
	p, err := b.get(t.issuer.JoinPath("/login").String())
	if err == nil {
		p, err = b.submit(p, "/login", map[string]string{"login": a.login})
	}
	if err == nil {
		_, err = passwordSignIn(b, p, a)
	}
	if err != nil {
		return nil, fmt.Errorf("sign %s in: %w", a.login, err)
	}
	return b, nil
}

// passwordSignIn answers the password step from the page after "Continue".
func passwordSignIn(b *browser, p *page, a *account) (*page, error) {
	var err error
	if p.FormWithAction("/login/password") == nil { // a member with a passkey: "Use Password"
		if p, err = b.submit(p, "/login", map[string]string{"method": "password"}); err != nil {
			return nil, fmt.Errorf("use password: %w", err)
		}
	}
	if p, err = b.submit(p, "/login/password", map[string]string{"password": a.password}); err != nil {
		return nil, fmt.Errorf("password: %w", err)
	}
	if p.Away == nil && p.URL.Path == "/login/suggest" {
		// The passkey suggestion: "Not now", as a member in a hurry.
		if p, err = b.submit(p, "/login/suggest", nil); err != nil {
			return nil, fmt.Errorf("suggestion: %w", err)
		}
	}
	return p, nil
}

// passkeySignIn does what the page script does for "Sign in with a passkey".
func (t *target) passkeySignIn(b *browser, p *page, a *account) (*page, error) {
	if a.key == nil {
		return nil, fmt.Errorf("%s has no passkey registered", a.login)
	}
	redirect, err := a.key.SignIn(b, p.Script("passkey-options"), p.Input("csrf_token"), a.login, p.Input("authRequestID"))
	if err != nil {
		return nil, err
	}
	next, err := p.URL.Parse(redirect)
	if err != nil {
		return nil, fmt.Errorf("passkey sign-in: bad redirect %q", redirect)
	}
	if next.Scheme+"://"+next.Host != b.origin() {
		return &page{URL: p.URL, Away: next}, nil // the page script goes to the client
	}
	return b.get(next.String())
}

func (t *target) checkIDToken(ctx context.Context, tok *oauth2.Token) (*oidc.IDToken, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("token response without an id_token")
	}
	idt, err := t.verifier.Verify(t.ctx(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	return idt, nil
}

// registerPasskey signs a into Settings with the password and adds a
// passkey through the real registration endpoints.
func (t *target) registerPasskey(ctx context.Context, a *account) error {
	b, err := t.signedIn(a)
	var p *page
	if err == nil {
		p, err = b.get(t.issuer.JoinPath("/settings/passkeys").String())
	}
	if err != nil {
		return fmt.Errorf("sign %s in to Settings: %w", a.login, err)
	}
	// Like a synced passkey (iCloud Keychain, Google Password Manager):
	// backed up, and no signature counter, so workers sharing an account
	// may sign in at the same time.
	key := softauthn.New(b.origin())
	key.FreezeCounter, key.BackupEligible, key.BackupState = true, true, true
	id, err := key.Register(b, p.Input("csrf_token"), "settings")
	if err != nil {
		return fmt.Errorf("register a passkey for %s: %w", a.login, err)
	}
	a.key, a.passkeyID, a.settings = key, id, b
	return nil
}

// removePasskey deletes the passkey the tool registered, leaving the
// account as it found it.
func (t *target) removePasskey(a *account) error {
	if a.settings == nil {
		return nil
	}
	p, err := a.settings.get(t.issuer.JoinPath("/settings/passkeys").String())
	if err != nil {
		return err
	}
	action := "/settings/passkeys/" + url.PathEscape(a.passkeyID) + "/delete"
	if _, err := a.settings.submit(p, action, nil); err != nil {
		return fmt.Errorf("remove the passkey of %s: %w", a.login, err)
	}
	return nil
}

// refresh uses a refresh token once and returns the next one.
func (t *target) refresh(ctx context.Context, refreshToken string) (string, error) {
	src := t.oauth.TokenSource(t.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken})
	tok, err := src.Token()
	if err != nil {
		return "", fmt.Errorf("refresh: %w", err)
	}
	if _, err := t.checkIDToken(ctx, tok); err != nil {
		return "", err
	}
	if tok.RefreshToken == "" || tok.RefreshToken == refreshToken {
		return "", errors.New("refresh: the refresh token was not rotated")
	}
	return tok.RefreshToken, nil
}

// userinfo calls the userinfo endpoint with an access token.
func (t *target) userinfo(ctx context.Context, access string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.endpoints.userinfo, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	var out struct {
		Sub string `json:"sub"`
	}
	if err := t.call(req, &out); err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	if out.Sub == "" {
		return errors.New("userinfo: no sub")
	}
	return nil
}

// introspect asks whether an access token is active (confidential clients).
func (t *target) introspect(ctx context.Context, access string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoints.introspect,
		strings.NewReader(url.Values{"token": {access}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(t.oauth.ClientID), url.QueryEscape(t.oauth.ClientSecret))
	var out struct {
		Active bool `json:"active"`
	}
	if err := t.call(req, &out); err != nil {
		return fmt.Errorf("introspect: %w", err)
	}
	if !out.Active {
		return errors.New("introspect: token not active")
	}
	return nil
}

// fetch GETs a public document (discovery, JWKS) and checks it is JSON.
func (t *target) fetch(ctx context.Context, u string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	var out map[string]any
	return t.call(req, &out)
}

func (t *target) call(req *http.Request, out any) error {
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("HTTP %d %s", resp.StatusCode, e.Error)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
