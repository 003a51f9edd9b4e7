package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/examples/site/app"
)

// logoutReceiver is a second app that takes back-channel logout: it
// signs in with the code flow and records, checked, every logout token
// it is sent. While down, nothing listens on its port.
type logoutReceiver struct {
	t        *testing.T
	id       string
	addr     string
	URL      string
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config

	mu     sync.Mutex
	srv    *http.Server
	tokens []logoutClaims
}

// logoutClaims are what a receiver checks in a logout token.
type logoutClaims struct {
	Issuer   string                     `json:"iss"`
	Audience any                        `json:"aud"`
	IssuedAt int64                      `json:"iat"`
	Expires  int64                      `json:"exp"`
	JTI      string                     `json:"jti"`
	Subject  string                     `json:"sub"`
	SID      string                     `json:"sid"`
	Events   map[string]json.RawMessage `json:"events"`
	Nonce    *string                    `json:"nonce"`
	typ      string
}

func newLogoutReceiver(t *testing.T, id string) *logoutReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &logoutReceiver{t: t, id: id, addr: ln.Addr().String()}
	r.URL = "http://" + r.addr
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *logoutReceiver) client() config.Client {
	return config.Client{ID: r.id, Name: "Logout Receiver", Type: config.ClientConfidential, SecretHash: siteSecretHash(),
		RedirectURIs: []string{r.URL + "/callback"}, BackchannelLogoutURI: r.URL + "/backchannel",
		BackchannelLogoutSessionRequired: true}
}

// start discovers the provider; skipIssuer is for replicas that each
// have their own test address (real replicas share one issuer).
func (r *logoutReceiver) start(p *provider, skipIssuer bool) {
	op, err := oidc.NewProvider(context.Background(), p.URL)
	if err != nil {
		r.t.Fatal(err)
	}
	r.verifier = op.Verifier(&oidc.Config{ClientID: r.id, SkipIssuerCheck: skipIssuer})
	r.oauth = oauth2.Config{ClientID: r.id, ClientSecret: siteSecret, Endpoint: op.Endpoint(), RedirectURL: r.URL + "/callback",
		Scopes: []string{oidc.ScopeOpenID}}
}

func (r *logoutReceiver) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /backchannel", func(w http.ResponseWriter, req *http.Request) {
		raw := req.PostFormValue("logout_token")
		tok, err := r.verifier.Verify(req.Context(), raw)
		if err != nil {
			r.t.Errorf("%s: logout token does not verify: %v", r.id, err)
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		var c logoutClaims
		if err := tok.Claims(&c); err != nil {
			r.t.Errorf("%s: logout token claims: %v", r.id, err)
		}
		head, _, _ := strings.Cut(raw, ".")
		b, _ := base64.RawURLEncoding.DecodeString(head)
		var h struct {
			Typ string `json:"typ"`
		}
		_ = json.Unmarshal(b, &h)
		c.typ = h.Typ
		r.mu.Lock()
		r.tokens = append(r.tokens, c)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	r.mu.Lock()
	r.srv = &http.Server{Handler: mux}
	srv := r.srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

func (r *logoutReceiver) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

func (r *logoutReceiver) up() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("listen again on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

// signIn signs the browser's session in to the receiver (SSO when the
// browser is signed in) and returns the ID token's sid.
func (r *logoutReceiver) signIn(b *browser, login, pw string) string {
	r.t.Helper()
	verifier := oauth2.GenerateVerifier()
	back := b.signIn(r.oauth.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier)), login, pw)
	code := back.Query().Get("code")
	if code == "" {
		r.t.Fatalf("%s: no code: %s", r.id, back)
	}
	tok, err := r.oauth.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		r.t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(context.Background(), raw)
	if err != nil {
		r.t.Fatal(err)
	}
	var c struct {
		SID string `json:"sid"`
	}
	_ = idt.Claims(&c)
	if c.SID == "" {
		r.t.Fatalf("%s: the ID token has no sid", r.id)
	}
	return c.SID
}

// sidOf is the sid of tok's ID token.
func (r *logoutReceiver) sidOf(tok *oauth2.Token) string {
	r.t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(context.Background(), raw)
	if err != nil {
		r.t.Fatalf("ID token: %v", err)
	}
	var c struct {
		SID string `json:"sid"`
	}
	_ = idt.Claims(&c)
	return c.SID
}

// received waits until the receiver holds n tokens and returns them.
func (r *logoutReceiver) received(n int) []logoutClaims {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r.mu.Lock()
		got := append([]logoutClaims(nil), r.tokens...)
		r.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				r.t.Fatalf("%s received %d logout tokens, want %d", r.id, len(got), n)
			}
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkLogoutToken checks a logout token as Back-Channel Logout 1.0
// section 2.4 and 2.6 say an app must.
func checkLogoutToken(t *testing.T, c logoutClaims, issuer, aud, sub, sid string) {
	t.Helper()
	audOK := c.Audience == aud
	if l, ok := c.Audience.([]any); ok && len(l) == 1 && l[0] == aud {
		audOK = true
	}
	switch {
	case c.typ != "logout+jwt":
		t.Errorf("typ %q", c.typ)
	case issuer != "" && c.Issuer != issuer, !audOK:
		t.Errorf("iss %q aud %v", c.Issuer, c.Audience)
	case c.IssuedAt == 0 || c.Expires <= c.IssuedAt || c.Expires-c.IssuedAt > 300 || c.JTI == "":
		t.Errorf("iat %d exp %d jti %q", c.IssuedAt, c.Expires, c.JTI)
	case c.Events["http://schemas.openid.net/event/backchannel-logout"] == nil:
		t.Errorf("events %v", c.Events)
	case c.Nonce != nil:
		t.Errorf("a logout token with a nonce")
	case c.Subject != sub || c.SID != sid:
		t.Errorf("sub %q sid %q, want %q %q", c.Subject, c.SID, sub, sid)
	}
}

// Each way a session ends tells both apps it signed in to, once, with a
// valid logout token: RP-initiated logout, Sign out in Settings, Sign out
// everywhere (the member, an admin), disabling, deleting the account, and
// a password reset by link. The example site ends its own session.
func TestBackchannelLogout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	siteURL := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	recv := newLogoutReceiver(t, "receiver")
	p := startProvider(t, func(c *config.Config) {
		c.Clients = append(c.Clients, recv.client(), config.Client{ID: exampleSiteID, Name: "Community Site",
			Type: config.ClientConfidential, SecretHash: siteSecretHash(), RedirectURIs: []string{siteURL + "/oidc/callback"},
			PostLogoutRedirectURIs: []string{siteURL + "/"}, BackchannelLogoutURI: siteURL + "/oidc/backchannel-logout",
			BackchannelLogoutSessionRequired: true})
	})
	site, err := app.New(app.Config{Issuer: p.URL, ClientID: exampleSiteID, ClientSecret: siteSecret, PublicURL: siteURL})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: site}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	recv.start(p, false)
	addAdmin(t, p)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)

	d, err := oidc.NewProvider(context.Background(), p.URL)
	if err != nil {
		t.Fatal(err)
	}
	var disco struct {
		Supported        bool `json:"backchannel_logout_supported"`
		SessionSupported bool `json:"backchannel_logout_session_supported"`
	}
	if err := d.Claims(&disco); err != nil || !disco.Supported || !disco.SessionSupported {
		t.Fatalf("discovery: %+v %v", disco, err)
	}

	ex := &exampleSite{URL: siteURL}
	want := 0
	for _, trigger := range []struct {
		name string
		end  func(b *browser, acct *result, login string)
	}{
		{"RP-initiated logout", func(b *browser, acct *result, _ string) { b.Submit(acct.page, "Sign out", nil) }},
		{"Sign out in Settings", func(b *browser, _ *result, _ string) {
			b.Submit(b.Get(p.URL+"/settings").page, "Sign out", nil)
		}},
		{"Sign out everywhere", func(b *browser, _ *result, _ string) {
			b.Submit(b.Get(p.URL+"/settings").page, "Sign out everywhere", nil)
		}},
		{"an admin signs the member out everywhere", func(_ *browser, _ *result, login string) {
			adm.Submit(adm.Get(p.URL+"/admin/members/"+userID(t, p, login)).page, "Yes, sign out everywhere", nil)
		}},
		{"an admin disables the account", func(_ *browser, _ *result, login string) {
			adm.Submit(adm.Get(p.URL+"/admin/members/"+userID(t, p, login)).page, "Yes, disable", nil)
		}},
		{"the member deletes the account", func(b *browser, _ *result, login string) {
			r := b.Get(p.URL + "/settings/delete")
			b.Submit(r.page, "Delete account", map[string]string{"Type your username to confirm": login})
		}},
		{"a password reset by link", func(_ *browser, _ *result, login string) {
			r := adm.Submit(adm.Get(p.URL+"/admin/members/"+userID(t, p, login)).page, "Create recovery link", nil)
			link := ""
			walk(r.Doc, func(n *htmlNode) {
				if n.Data == "code" && strings.Contains(textOf(n), "/recover?token=") {
					link = strings.TrimSpace(textOf(n))
				}
			})
			other := newBrowser(t, p)
			other.Submit(other.Get(link).page, "Set password", map[string]string{"New password": "a brand new passphrase"})
		}},
	} {
		t.Run(trigger.name, func(t *testing.T) {
			login := fmt.Sprintf("member%d", want)
			u := newMember(t, p, login, "member passphrase 2026")
			b := newBrowser(t, p)
			back := b.signIn(startSignIn(t, b, ex).String(), login, "member passphrase 2026")
			acct := onSite(t, b, ex, b.Get(back.String()))
			if acct.URL.Path != "/account" {
				t.Fatalf("the site did not sign in: %s %s", acct.URL, acct.Text())
			}
			sid := recv.signIn(b, login, "member passphrase 2026")
			if !strings.Contains(acct.Text(), `"sid": "`+sid+`"`) {
				t.Errorf("the site's ID token has not the session's sid %q: %s", sid, acct.Text())
			}

			trigger.end(b, acct, login)
			want++
			got := recv.received(want)
			checkLogoutToken(t, got[want-1], p.URL, recv.id, u.ID, sid)
			// The example site ended its own session.
			deadline := time.Now().Add(15 * time.Second)
			for {
				r := b.Get(siteURL + "/account")
				if r.Away != nil && r.Away.Path == "/" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the site still shows the member signed in: %s", r.Text())
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	// Nothing was sent twice.
	time.Sleep(200 * time.Millisecond)
	recv.received(want)
}

// An app that is down gets its logout token once it is back (the outbox
// retries after 30 seconds), and two replicas on one database deliver it
// once.
func TestBackchannelLogoutRetriedOnce(t *testing.T) {
	recv := newLogoutReceiver(t, "receiver")
	p1, _ := throttleProviders(t, func(c *config.Config) { c.Clients = append(c.Clients, recv.client()) })
	recv.start(p1, true)
	u := mustUser(t, p1, aliceLogin)
	b := newBrowser(t, p1)
	sid := recv.signIn(b, aliceLogin, alicePassword)

	recv.down()
	b.Submit(b.Get(p1.URL+"/settings").page, "Sign out", nil)
	// Both replicas try (one claims it); it fails and waits its back-off.
	waitFor(t, "a failed delivery", func() bool {
		list, err := p1.store.ListOutbox(context.Background(), 10)
		return err == nil && len(list) == 1 && list[0].Attempts == 1
	})
	// The console lists it, with the member it is about.
	addAdmin(t, p1)
	adm := newBrowser(t, p1)
	signInPage(t, adm, p1, adminLogin, adminPassword)
	page := adm.Get(p1.URL + "/admin/clients").Text()
	if !strings.Contains(page, "Logout notices that keep failing") || !strings.Contains(page, "receiver") ||
		!strings.Contains(page, aliceLogin) {
		t.Errorf("the console does not list the failing notice: %s", page)
	}
	recv.up()
	p1.clock.Advance(31 * time.Second)
	got := recv.received(1)
	checkLogoutToken(t, got[0], "", recv.id, u.ID, sid)
	// Both replicas keep polling; neither sends it again.
	p1.clock.Advance(time.Hour)
	time.Sleep(6 * time.Second)
	recv.received(1)
}

// Remove access (Settings > Devices and apps) revokes the app's refresh
// token and tells the app by back-channel logout, with sub and no sid.
func TestRemoveAppAccess(t *testing.T) {
	recv := newLogoutReceiver(t, "receiver")
	p := startProvider(t, func(c *config.Config) { c.Clients = append(c.Clients, recv.client()) })
	recv.start(p, false)
	recv.oauth.Scopes = append(recv.oauth.Scopes, oidc.ScopeOfflineAccess)
	b := newBrowser(t, p)
	verifier := oauth2.GenerateVerifier()
	back := b.signIn(recv.oauth.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)
	tok, err := recv.oauth.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v %+v", err, tok)
	}
	// An ID token issued on refresh names the same session.
	sid := recv.sidOf(tok)
	refreshed, err := recv.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if got := recv.sidOf(refreshed); got != sid || sid == "" {
		t.Fatalf("sid after a refresh %q, want %q", got, sid)
	}
	tok = refreshed
	page := b.Get(p.URL + "/settings/devices")
	if !strings.Contains(page.Text(), "Logout Receiver") {
		t.Fatalf("the app is not listed: %s", page.Text())
	}
	r := b.Submit(page.page, "Yes, remove access", nil)
	if !strings.Contains(r.Text(), "The app's access is removed.") || !strings.Contains(r.Text(), "No app keeps access to your account.") {
		t.Fatalf("after Remove access: %s", r.Text())
	}
	got := recv.received(1)
	checkLogoutToken(t, got[0], p.URL, recv.id, mustUser(t, p, aliceLogin).ID, "")
	_, err = recv.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("the removed app's refresh token still works: %v", err)
	}
	// The member's own session goes on.
	if r := b.Get(p.URL + "/settings"); r.URL.Path != "/settings" {
		t.Fatalf("signed out of the provider: %s", r.URL)
	}
}
