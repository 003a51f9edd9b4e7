package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
)

// State keeps the synthetic check's software passkey between runs, so it
// is registered once for the test account. Load returns nil, nil when
// there is none yet.
type State interface {
	Load(ctx context.Context) ([]byte, error)
	Save(ctx context.Context, data []byte) error
}

// Step is one timed step of the synthetic check.
type Step struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration"`
	Err      string        `json:"error,omitempty"`
}

// Result is the synthetic check's outcome; it stops at the first failure.
type Result struct {
	OK    bool
	Steps []Step
}

// Synthetic signs the configured test account in through the configured
// public client, end to end, as a member and an app would: with the
// password, then with a software passkey (registered on the first run),
// checking the tokens each time.
func Synthetic(ctx context.Context, cfg config.Config, state State) Result {
	s := &synthetic{ctx: ctx, cfg: cfg, state: state, http: &http.Client{Timeout: 15 * time.Second}}
	s.run()
	return s.res
}

type synthetic struct {
	ctx   context.Context
	cfg   config.Config
	state State
	http  *http.Client
	res   Result

	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	signedIn *browser
	key      *softauthn.Authenticator
}

// step runs fn as the named step; it reports whether to go on.
func (s *synthetic) step(name string, fn func() error) bool {
	start := time.Now()
	err := fn()
	st := Step{Name: name, Duration: time.Since(start).Round(time.Millisecond)}
	if err != nil {
		st.Err = err.Error()
	}
	s.res.Steps = append(s.res.Steps, st)
	return err == nil
}

func (s *synthetic) run() {
	d := s.cfg.Doctor
	if d.Username == "" || d.ClientID == "" {
		s.step("configuration", func() error {
			return errors.New("set doctor.username, doctor.password(_file), doctor.client_id and doctor.redirect_uri")
		})
		return
	}
	ctx := oidc.ClientContext(s.ctx, s.http)
	ok := s.step("discovery", func() error {
		p, err := oidc.NewProvider(ctx, s.cfg.Issuer)
		if err != nil {
			return err
		}
		s.provider = p
		s.oauth = oauth2.Config{ClientID: d.ClientID, Endpoint: p.Endpoint(), RedirectURL: d.RedirectURI,
			Scopes: []string{oidc.ScopeOpenID, "profile"}}
		s.verifier = p.Verifier(&oidc.Config{ClientID: d.ClientID})
		return nil
	}) &&
		s.step("sign in with the password", func() error { return s.signIn(ctx, "pwd") }) &&
		s.step("passkey registration", func() error { return s.ensurePasskey() }) &&
		s.step("sign in with the passkey", func() error { return s.signIn(ctx, "hwk") })
	s.res.OK = ok
}

// signIn runs one authorization code flow with PKCE and checks the tokens
// carry amr method.
func (s *synthetic) signIn(ctx context.Context, method string) error {
	b := newBrowser(s.cfg.Issuer, 15*time.Second)
	verifier := oauth2.GenerateVerifier()
	nonce := oauth2.GenerateVerifier()[:22]
	p, err := b.get(s.oauth.AuthCodeURL("doctor", oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}
	if p.Away != nil {
		return fmt.Errorf("authorize: redirected to the app without signing in: %s", p.Away.Query().Get("error_description"))
	}
	if p.Status != http.StatusOK || !strings.Contains(p.Text(), "Email or username") {
		return fmt.Errorf("authorize: no sign-in page (%d): %s", p.Status, cut(p.Text(), 200))
	}
	if p, err = b.submit(p, "Continue", map[string]string{"Email or username": s.cfg.Doctor.Username}); err != nil {
		return err
	}
	if method == "pwd" {
		p, err = s.password(b, p)
	} else {
		p, err = s.passkey(b, p)
	}
	if err != nil {
		return err
	}
	if p.Away == nil {
		return fmt.Errorf("no redirect to the app: %s", cut(p.Text(), 200))
	}
	q := p.Away.Query()
	if e := q.Get("error"); e != "" {
		return fmt.Errorf("the provider answered %s: %s", e, q.Get("error_description"))
	}
	tok, err := s.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return fmt.Errorf("token exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := s.verifier.Verify(ctx, raw)
	if err != nil {
		return fmt.Errorf("ID token: %w", err)
	}
	var claims struct {
		AMR []string `json:"amr"`
	}
	_ = idt.Claims(&claims)
	if idt.Nonce != nonce || !slices.Contains(claims.AMR, method) {
		return fmt.Errorf("ID token: nonce or amr %v wrong (want %s)", claims.AMR, method)
	}
	if _, err := s.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	if method == "pwd" {
		s.signedIn = b
	}
	return nil
}

func (s *synthetic) password(b *browser, p *page) (*page, error) {
	var err error
	if hasButton(p, "Use Password") {
		if p, err = b.submit(p, "Use Password", nil); err != nil {
			return nil, err
		}
	}
	if p, err = b.submit(p, "Sign in", map[string]string{"Password": s.cfg.Doctor.Password}); err != nil {
		return nil, err
	}
	if p.Away == nil && hasButton(p, "Not now") {
		return b.submit(p, "Not now", nil) // the passkey suggestion
	}
	if p.Away == nil {
		return nil, fmt.Errorf("password refused: %s", cut(p.Text(), 200))
	}
	return p, nil
}

// begin is the provider's answer to a ceremony's first step.
func (s *synthetic) authenticator() *softauthn.Authenticator {
	if s.key == nil {
		s.key = softauthn.New(origin(s.cfg.Issuer))
		// A counter of 0 means "no counter" (like synced passkeys), so
		// runs that do not save the state never look like a clone.
		s.key.FreezeCounter = true
	}
	return s.key
}

// ensurePasskey registers the test account's software passkey on the
// first run (through the real Settings > Passkeys endpoints) and loads it
// on later runs.
func (s *synthetic) ensurePasskey() error {
	saved, err := s.state.Load(s.ctx)
	if err != nil {
		return fmt.Errorf("load the saved passkey: %w", err)
	}
	key := s.authenticator()
	if saved != nil {
		return key.Load(saved)
	}
	settings, err := s.signedIn.get(s.cfg.Issuer + "/settings/passkeys")
	if err != nil {
		return err
	}
	if _, err := key.Register(s.signedIn, settings.Input("csrf_token"), "doctor"); err != nil {
		return err
	}
	data, err := key.Save()
	if err == nil {
		err = s.state.Save(s.ctx, data)
	}
	return err
}

func (s *synthetic) passkey(b *browser, p *page) (*page, error) {
	if !strings.Contains(p.Text(), "Sign in with a passkey") {
		return nil, fmt.Errorf("no passkey step for the test account: %s", cut(p.Text(), 200))
	}
	redirect, err := s.authenticator().SignIn(b, p.Script("passkey-options"), p.Input("csrf_token"), s.cfg.Doctor.Username, p.Input("authRequestID"))
	if err != nil {
		return nil, err
	}
	target, err := p.URL.Parse(redirect)
	if err != nil {
		return nil, fmt.Errorf("unexpected redirect %q", redirect)
	}
	if sameEndpoint(target, s.cfg.Doctor.RedirectURI) {
		return &page{URL: p.URL, Away: target}, nil // the code, handed to the client at once
	}
	if !strings.HasPrefix(redirect, origin(s.cfg.Issuer)) && !strings.HasPrefix(redirect, "/") {
		return nil, fmt.Errorf("unexpected redirect %q", redirect)
	}
	return b.get(target.String())
}

// sameEndpoint reports whether u is the redirect URI uri, its query aside.
func sameEndpoint(u *url.URL, uri string) bool {
	want, err := url.Parse(uri)
	return err == nil && u.Scheme == want.Scheme && u.Host == want.Host && u.Path == want.Path
}

func hasButton(p *page, text string) bool {
	form, _ := p.FormWithButton(text)
	return form != nil
}
