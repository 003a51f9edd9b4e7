package e2e

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
)

// rpApp is a small community website for the browser tests: it signs
// members in through the provider with go-oidc and x/oauth2, the way a
// real site would, and shows who signed in and how (amr).
type rpApp struct {
	t        *testing.T
	URL      string
	clientID string
	secret   string
	ln       net.Listener

	mu      sync.Mutex
	pending map[string]string // state -> nonce
	oauth   oauth2.Config
	verify  *oidc.IDTokenVerifier
}

const rpClientID = "community-site-local"

// newRPApp listens on a free port; its client must be registered before
// the provider starts (see client), and start called after.
func newRPApp(t *testing.T) *rpApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	return &rpApp{t: t, ln: ln, URL: "http://localhost:" + port, clientID: rpClientID, secret: siteSecret,
		pending: map[string]string{}}
}

// client is the app's registration in the provider's configuration.
func (a *rpApp) client() config.Client {
	return config.Client{ID: a.clientID, Name: "Community Site", Type: config.ClientConfidential, SecretHash: siteSecretHash(),
		RedirectURIs: []string{a.URL + "/callback"}, PostLogoutRedirectURIs: []string{a.URL + "/"}}
}

func (a *rpApp) start(p *provider) {
	a.t.Helper()
	op, err := oidc.NewProvider(context.Background(), p.URL)
	if err != nil {
		a.t.Fatal(err)
	}
	a.oauth = oauth2.Config{ClientID: a.clientID, ClientSecret: a.secret, Endpoint: op.Endpoint(),
		RedirectURL: a.URL + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	a.verify = op.Verifier(&oidc.Config{ClientID: a.clientID})
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		state, nonce := randomString(), randomString()
		a.mu.Lock()
		a.pending[state] = nonce
		a.mu.Unlock()
		opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce)}
		if l := r.URL.Query().Get("ui_locales"); l != "" {
			// The site passes on the member's language, as OIDC's ui_locales.
			opts = append(opts, oauth2.SetAuthURLParam("ui_locales", l))
		}
		http.Redirect(w, r, a.oauth.AuthCodeURL(state, opts...), http.StatusFound)
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if e := q.Get("error"); e != "" {
			fmt.Fprintf(w, "<p>Sign-in error: %s</p>", html.EscapeString(e))
			return
		}
		a.mu.Lock()
		nonce, ok := a.pending[q.Get("state")]
		delete(a.pending, q.Get("state"))
		a.mu.Unlock()
		if !ok {
			http.Error(w, "unknown state", http.StatusBadRequest)
			return
		}
		tok, err := a.oauth.Exchange(r.Context(), q.Get("code"))
		if err != nil {
			http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
			return
		}
		idt, err := a.verify.Verify(r.Context(), tok.Extra("id_token").(string))
		if err != nil || idt.Nonce != nonce {
			http.Error(w, "bad ID token", http.StatusBadGateway)
			return
		}
		var c struct {
			Username      string   `json:"preferred_username"`
			AMR           []string `json:"amr"`
			EmailVerified bool     `json:"email_verified"`
		}
		idt.Claims(&c)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<h1>Community Site</h1><p>Signed in as %s</p><p>amr: %s</p><p>email_verified: %v</p>",
			html.EscapeString(c.Username), html.EscapeString(strings.Join(c.AMR, " ")), c.EmailVerified)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(a.ln)
	a.t.Cleanup(func() { srv.Close() })
}

func randomString() string { return strings.ReplaceAll(randomToken(), "-", "x") }
