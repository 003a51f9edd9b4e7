package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"
)

// A restart keeps accounts, browser sessions, signing keys and refresh
// tokens: nothing lives only in the process.
func TestRestartKeepsEverything(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	b := newBrowser(t, p)
	tok, idt := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("a"), aliceLogin, alicePassword)))
	rawID := tok.Extra("id_token").(string)
	jwksBefore := get(t, p.URL+"/keys")

	p.restart()

	if got := get(t, p.URL+"/keys"); got != jwksBefore {
		t.Fatalf("signing keys changed across a restart:\n%s\n%s", jwksBefore, got)
	}
	// A fresh relying party (new JWKS fetch) still accepts the old ID token.
	site2 := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	if _, err := site2.verifier.Verify(context.Background(), rawID); err != nil {
		t.Fatalf("ID token from before the restart: %v", err)
	}
	// The access token still works (the op crypto key persisted).
	if st, body, _ := userinfo(t, p, tok.AccessToken); st != 200 || body["sub"] != idt.Subject {
		t.Fatalf("access token after restart: %d %v", st, body)
	}
	// The refresh token still refreshes.
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret)
	if st != 200 {
		t.Fatalf("refresh after restart: %d %v", st, body)
	}
	// The browser is still signed in.
	r := b.Get(site.oauth.AuthCodeURL("b", oauth2.SetAuthURLParam("prompt", "none")))
	if r.Away == nil || oauthError(r.Away) != "" {
		t.Fatalf("session lost across restart: %v", r.Away)
	}
	_, idt2 := site.exchange(mustNoError(t, r.Away))
	if idt2.Subject != idt.Subject {
		t.Fatal("subject changed across a restart")
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String()
}

// A client configured for ES256 gets ES256 ID tokens; others RS256.
func TestPerClientSigningAlgorithm(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	for _, c := range []struct{ id, secret, redirect, alg string }{
		{siteID, siteSecret, siteRedirect, "RS256"},
		{otherID, otherSecret, otherRedir, "ES256"},
	} {
		r := newRP(t, p, c.id, c.secret, c.redirect, oauth2.AuthStyleInHeader)
		tok, _ := r.exchange(mustNoError(t, b.signIn(r.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
		raw := tok.Extra("id_token").(string)
		if alg := jwtAlg(t, raw); alg != c.alg {
			t.Errorf("%s: ID token alg %s, want %s", c.id, alg, c.alg)
		}
	}
}

// response_mode=form_post delivers the code in an auto-submitted form,
// with iss, and never in the URL.
func TestFormPost(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	r := b.Get(site.oauth.AuthCodeURL("fp", oauth2.SetAuthURLParam("response_mode", "form_post")))
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	r = b.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword})
	if r.Away != nil {
		t.Fatalf("form_post redirected: %s", r.Away)
	}
	if !strings.Contains(r.URL.String(), "/authorize/callback") || strings.Contains(r.URL.RawQuery, "code=") {
		t.Fatalf("form_post page at %s", r.URL)
	}
	form, _ := r.FormWithButton("Continue")
	if form == nil || attr(form, "action") != siteRedirect || attr(form, "method") != "post" {
		t.Fatalf("form_post form: %s", r.Body)
	}
	fields := map[string]string{}
	walk(form, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			fields[attr(n, "name")] = attr(n, "value")
		}
	})
	if fields["state"] != "fp" || fields["iss"] != p.URL || fields["code"] == "" {
		t.Fatalf("form_post fields: %v", fields)
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action https://community.example") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("form_post CSP: %q", csp)
	}
	site.exchange(fields["code"])
}
