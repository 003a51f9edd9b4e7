package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// rp is a relying party built from the real client libraries a community
// site would use: go-oidc for discovery and ID token checks, x/oauth2 for
// the code exchange.
type rp struct {
	t        *testing.T
	p        *provider
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, p *provider, clientID, secret, redirect string, style oauth2.AuthStyle, scopes ...string) *rp {
	t.Helper()
	op, err := oidc.NewProvider(context.Background(), p.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := op.Endpoint()
	ep.AuthStyle = style
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	return &rp{
		t: t, p: p, provider: op,
		oauth:    oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: ep, RedirectURL: redirect, Scopes: scopes},
		verifier: op.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{"RS256", "ES256"}, Now: p.clock.Now}),
	}
}

// exchange redeems a code and verifies the ID token.
func (r *rp) exchange(code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken) {
	r.t.Helper()
	remember(code)
	tok, err := r.oauth.Exchange(context.Background(), code, opts...)
	if err != nil {
		r.t.Fatalf("code exchange: %v", err)
	}
	remember(tok.AccessToken)
	remember(tok.RefreshToken)
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		r.t.Fatal("no id_token in the token response")
	}
	idt, err := r.verifier.Verify(context.Background(), raw)
	if err != nil {
		r.t.Fatalf("ID token: %v", err)
	}
	return tok, idt
}

// idClaims are the claims the tests look at.
type idClaims struct {
	AuthTime          int64    `json:"auth_time"`
	AMR               []string `json:"amr"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	AZP               string   `json:"azp"`
}

func claimsOf(t *testing.T, idt *oidc.IDToken) idClaims {
	t.Helper()
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenCall posts a form to the token endpoint (or another back-channel
// endpoint) and returns the status and decoded JSON body.
func tokenCall(t *testing.T, endpoint string, form url.Values, user, pass string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := map[string]any{}
	if len(body) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s answered bad JSON %q: %v", endpoint, body, err)
		}
	}
	for _, k := range []string{"access_token", "refresh_token"} {
		if v, ok := m[k].(string); ok {
			remember(v)
		}
	}
	return resp.StatusCode, m, resp.Header
}

// wantOAuthError checks a token endpoint error answer.
func wantOAuthError(t *testing.T, what string, status int, body map[string]any, wantStatus int, wantErr string) {
	t.Helper()
	if status != wantStatus || body["error"] != wantErr {
		t.Fatalf("%s: got %d %v, want %d %s", what, status, body, wantStatus, wantErr)
	}
}

// userinfo calls the userinfo endpoint with a bearer token.
func userinfo(t *testing.T, p *provider, accessToken string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

// jwtAlg returns the alg of a compact JWS.
func jwtAlg(t *testing.T, raw string) string {
	t.Helper()
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Alg, Kid string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Alg
}
