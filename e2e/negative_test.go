package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// authorizeURL builds an authorization request by hand, so tests can send
// what no well-behaved client library would.
func authorizeURL(p *provider, params map[string]string) string {
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	return p.URL + "/authorize?" + q.Encode()
}

// siteParams is a valid request of the community site, to vary.
func siteParams(edit map[string]string) map[string]string {
	return withParams(map[string]string{"client_id": siteID, "redirect_uri": siteRedirect, "response_type": "code",
		"scope": "openid profile", "state": "st", "nonce": "nn"}, edit)
}

// withParams applies edit to base: a value replaces, "" removes.
func withParams(base, edit map[string]string) map[string]string {
	for k, v := range edit {
		if v == "" {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	return base
}

// Redirect URIs match exactly: anything else gets an error page and no
// redirect at all, so a code can never be sent to an attacker.
func TestRedirectURIExactMatch(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	nearMisses := []string{
		"https://community.example/oidc/callback/",
		"https://Community.example/oidc/callback",
		"https://community.example/oidc/Callback",
		"https://community.example/oidc/callback?x=1",
		"https://community.example:8443/oidc/callback",
		"http://community.example/oidc/callback",
		"https://evil.community.example/oidc/callback",
		"https://community.example/oidc/callback/extra",
		"https://community.example/oidc%2Fcallback",
		"https://attacker@community.example/oidc/callback",
		"https://community.example/oidc/callback#frag",
		"https://attacker.example/cb",
		"com.example.app:/oauth2redirect", // the app's, not the site's
	}
	for _, uri := range nearMisses {
		r := b.Get(authorizeURL(p, siteParams(map[string]string{"redirect_uri": uri})))
		if r.Away != nil {
			t.Errorf("redirect_uri %q: redirected to %s", uri, r.Away)
			continue
		}
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Text(), "cannot continue") {
			t.Errorf("redirect_uri %q: %d %q", uri, r.Status, r.Text())
		}
	}
	// The app's loopback redirect: any port, but not another path or host,
	// and the site (a confidential client) gets no such leeway.
	for uri, ok := range map[string]bool{
		"http://127.0.0.1:49152/callback":   true,
		"http://127.0.0.1/callback":         true,
		"http://127.0.0.1:49152/other":      false,
		"http://127.0.0.2:49152/callback":   false,
		"http://example.org:49152/callback": false,
		"com.example.app:/oauth2redirect/x": false,
		"com.example.app:/oauth2redirect":   true,
	} {
		r := b.Get(authorizeURL(p, map[string]string{"client_id": appID, "redirect_uri": uri, "response_type": "code",
			"scope": "openid", "code_challenge": strings.Repeat("a", 43), "code_challenge_method": "S256"}))
		if got := r.Away == nil && r.Status == http.StatusOK; got != ok {
			t.Errorf("app redirect_uri %q accepted=%v, want %v (status %d, away %v)", uri, got, ok, r.Status, r.Away)
		}
	}
	for _, params := range []map[string]string{
		siteParams(map[string]string{"client_id": "nobody"}),
		siteParams(map[string]string{"client_id": ""}),
		siteParams(map[string]string{"redirect_uri": ""}),
	} {
		if r := b.Get(authorizeURL(p, params)); r.Away != nil || r.Status != http.StatusBadRequest {
			t.Errorf("%v: status %d away %v", params, r.Status, r.Away)
		}
	}
	// A duplicated redirect_uri cannot be trusted either way.
	r := b.Get(p.URL + "/authorize?" + url.Values{"client_id": {siteID}, "redirect_uri": {siteRedirect, "https://attacker.example/cb"},
		"response_type": {"code"}, "scope": {"openid"}}.Encode())
	if r.Away != nil || r.Status != http.StatusBadRequest {
		t.Errorf("duplicated redirect_uri: %d %v", r.Status, r.Away)
	}
}

// Errors after the redirect URI is validated go back to the client, with
// state and iss, and the exact error code.
func TestAuthorizationErrors(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	app := func(edit map[string]string) map[string]string {
		return withParams(map[string]string{"client_id": appID, "redirect_uri": appRedirect, "response_type": "code", "scope": "openid",
			"state": "st", "code_challenge": challenge, "code_challenge_method": "S256"}, edit)
	}
	cases := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"public client without PKCE", app(map[string]string{"code_challenge": "", "code_challenge_method": ""}), "invalid_request"},
		{"PKCE plain", app(map[string]string{"code_challenge": strings.Repeat("a", 43), "code_challenge_method": "plain"}), "invalid_request"},
		{"PKCE method absent (plain)", app(map[string]string{"code_challenge_method": ""}), "invalid_request"},
		{"PKCE challenge malformed", app(map[string]string{"code_challenge": "short"}), "invalid_request"},
		{"response_type token", siteParams(map[string]string{"response_type": "token"}), "unsupported_response_type"},
		{"response_type id_token", siteParams(map[string]string{"response_type": "id_token"}), "unsupported_response_type"},
		{"response_type code id_token", siteParams(map[string]string{"response_type": "code id_token"}), "unsupported_response_type"},
		{"response_type missing", siteParams(map[string]string{"response_type": ""}), "invalid_request"},
		{"no openid scope", siteParams(map[string]string{"scope": "profile"}), "invalid_scope"},
		{"request object", siteParams(map[string]string{"request": "eyJhbGciOiJub25lIn0.e30."}), "request_not_supported"},
		{"prompt=none without a session", siteParams(map[string]string{"prompt": "none"}), "login_required"},
		{"prompt none and login", siteParams(map[string]string{"prompt": "none login"}), "invalid_request"},
	}
	for _, c := range cases {
		r := b.Get(authorizeURL(p, c.params))
		if r.Away == nil {
			t.Errorf("%s: no redirect (%d %s)", c.name, r.Status, r.Text())
			continue
		}
		q := responseParams(r.Away)
		if q.Get("error") != c.want || q.Get("state") != "st" || q.Get("iss") != p.URL || q.Get("code") != "" {
			t.Errorf("%s: redirected with %v, want error=%s state=st iss", c.name, q, c.want)
		}
		if strings.ContainsAny(q.Get("error_description"), "\r\n\t") {
			t.Errorf("%s: control characters in error_description", c.name)
		}
	}

	// A duplicated state is refused (RFC 6749 section 3.1).
	r := b.Get(p.URL + "/authorize?" + url.Values{"client_id": {siteID}, "redirect_uri": {siteRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"a", "b"}}.Encode())
	if r.Away == nil || oauthError(r.Away) != "invalid_request" {
		t.Errorf("duplicated state: %v", r.Away)
	}

	// Unknown parameters, reordered scopes, display, ui_locales, acr_values
	// and a POST authorization request are all fine.
	ok := siteParams(map[string]string{"extra": "foobar", "scope": "profile openid", "display": "page", "ui_locales": "fr en",
		"acr_values": "urn:mace:incommon:iap:silver", "login_hint": "alice", "claims_locales": "fr"})
	r = b.Get(authorizeURL(p, ok))
	if r.Away != nil || r.Status != 200 || !strings.Contains(r.Body, `value="alice"`) {
		t.Errorf("lenient request: %d %v", r.Status, r.Away)
	}
	form := url.Values{}
	for k, v := range siteParams(nil) {
		form.Set(k, v)
	}
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := b.do(req); r.Away != nil || r.Status != 200 {
		t.Errorf("POST authorization request: %d %v", r.Status, r.Away)
	}

	// The member cancels: access_denied goes back with state.
	r = b.Get(authorizeURL(p, siteParams(nil)))
	r = b.Submit(r.page, "Cancel", nil)
	if r.Away == nil || oauthError(r.Away) != "access_denied" || r.Away.Query().Get("state") != "st" {
		t.Errorf("cancel: %v", r.Away)
	}
}

// The token endpoint answers every misuse with the exact OAuth error.
func TestTokenEndpointErrors(t *testing.T) {
	p := startProvider(t, nil)
	tokenURL := p.URL + "/oauth/token"
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	b := newBrowser(t, p)
	code := func() string {
		t.Helper()
		return mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword))
	}
	redeem := func(c, user, pass string, extra url.Values) (int, map[string]any, http.Header) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {siteRedirect}}
		for k, v := range extra {
			form[k] = v
		}
		return tokenCall(t, tokenURL, form, user, pass)
	}

	t.Run("wrong client secret", func(t *testing.T) {
		st, body, h := redeem(code(), siteID, "not-the-secret-0123456789", nil)
		wantOAuthError(t, "wrong secret", st, body, 401, "invalid_client")
		if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("401 without WWW-Authenticate: %q", h.Get("WWW-Authenticate"))
		}
		st, body, _ = redeem(code(), "", "", url.Values{"client_id": {siteID}})
		wantOAuthError(t, "no client authentication", st, body, 401, "invalid_client")
	})
	t.Run("code reused revokes what it issued", func(t *testing.T) {
		c := code()
		st, first, h := redeem(c, siteID, siteSecret, nil)
		if st != 200 || h.Get("Cache-Control") != "no-store" || first["token_type"] != "Bearer" {
			t.Fatalf("first redemption: %d %v %q", st, first, h.Get("Cache-Control"))
		}
		st, body, _ := redeem(c, siteID, siteSecret, nil)
		wantOAuthError(t, "reused code", st, body, 400, "invalid_grant")
		if st, _, _ := userinfo(t, p, first["access_token"].(string)); st != 401 {
			t.Errorf("access token of a replayed code still works: %d", st)
		}
		st, body, _ = tokenCall(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}, siteID, siteSecret)
		wantOAuthError(t, "refresh token of a replayed code", st, body, 400, "invalid_grant")
	})
	t.Run("code of another client", func(t *testing.T) {
		st, body, _ := redeem(code(), otherID, otherSecret, nil)
		wantOAuthError(t, "code redeemed by another client", st, body, 400, "invalid_grant")
	})
	t.Run("redirect_uri differs or is missing", func(t *testing.T) {
		c := code()
		st, body, _ := redeem(c, siteID, siteSecret, url.Values{"redirect_uri": {"https://community.example/other"}})
		wantOAuthError(t, "other redirect_uri", st, body, 400, "invalid_grant")
		st, body, _ = redeem(c, siteID, siteSecret, url.Values{"redirect_uri": {""}})
		wantOAuthError(t, "missing redirect_uri", st, body, 400, "invalid_grant")
	})
	t.Run("expired code", func(t *testing.T) {
		c := code()
		p.clock.Advance(p.cfg.Tokens.CodeLifetime.D() + 1)
		st, body, _ := redeem(c, siteID, siteSecret, nil)
		wantOAuthError(t, "expired code", st, body, 400, "invalid_grant")
	})
	t.Run("PKCE downgrade", func(t *testing.T) {
		// No challenge at authorization, a verifier at the token endpoint.
		st, body, _ := redeem(code(), siteID, siteSecret, url.Values{"code_verifier": {oauth2.GenerateVerifier()}})
		wantOAuthError(t, "verifier without challenge", st, body, 400, "invalid_request")
	})
	t.Run("unsupported grants", func(t *testing.T) {
		st, body, _ := tokenCall(t, tokenURL, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}, siteID, siteSecret)
		wantOAuthError(t, "password grant", st, body, 400, "unsupported_grant_type")
		st, body, _ = tokenCall(t, tokenURL, url.Values{"grant_type": {"client_credentials"}}, otherID, otherSecret)
		wantOAuthError(t, "client_credentials for a client without the grant", st, body, 400, "unauthorized_client")
		st, body, _ = tokenCall(t, tokenURL, url.Values{"grant_type": {"client_credentials"}}, siteID, siteSecret)
		if st != 200 || body["access_token"] == nil || body["refresh_token"] != nil {
			t.Errorf("client_credentials for the site: %d %v", st, body)
		}
	})
	t.Run("refresh token of another client", func(t *testing.T) {
		_, first, _ := redeem(code(), siteID, siteSecret, nil)
		st, body, _ := tokenCall(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}, otherID, otherSecret)
		wantOAuthError(t, "refresh token used by another client", st, body, 400, "invalid_grant")
	})
}

// PKCE at the token endpoint for the public client.
func TestPKCETokenErrors(t *testing.T) {
	p := startProvider(t, nil)
	app := newRP(t, p, appID, "", appRedirect, oauth2.AuthStyleInParams)
	b := newBrowser(t, p)
	tokenURL := p.URL + "/oauth/token"
	code := func(verifier string) string {
		return mustNoError(t, b.signIn(app.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword))
	}
	redeem := func(c string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {appRedirect}, "client_id": {appID}}
		for k, v := range extra {
			form[k] = v
		}
		st, body, _ := tokenCall(t, tokenURL, form, "", "")
		return st, body
	}
	verifier := oauth2.GenerateVerifier()
	c := code(verifier)
	st, body := redeem(c, url.Values{"code_verifier": {oauth2.GenerateVerifier()}})
	wantOAuthError(t, "wrong code_verifier", st, body, 400, "invalid_grant")
	st, body = redeem(c, nil)
	wantOAuthError(t, "missing code_verifier", st, body, 400, "invalid_request")
	// The failed attempts did not burn the code for its rightful holder.
	if st, body = redeem(c, url.Values{"code_verifier": {verifier}}); st != 200 {
		t.Fatalf("right verifier after failed attempts: %d %v", st, body)
	}
	// A "secret" sent by the public client is not authentication.
	st, _, _ = tokenCall(t, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code(verifier)}, "redirect_uri": {appRedirect},
		"code_verifier": {verifier}}, appID, "made-up-secret")
	if st == 200 {
		t.Fatal("public client accepted with a made-up secret")
	}
	// Same client, but someone else's verifier length rules.
	for _, v := range []string{strings.Repeat("a", 42), strings.Repeat("a", 129), strings.Repeat("!", 43)} {
		st, body = redeem(code(oauth2.GenerateVerifier()), url.Values{"code_verifier": {v}})
		if st != 400 {
			t.Errorf("verifier %q: %d %v", v, st, body)
		}
	}
}

// Userinfo answers a missing or bad token the RFC 6750 way.
func TestUserinfoBearerErrors(t *testing.T) {
	p := startProvider(t, nil)
	for _, tok := range []string{"", "garbage", "eyJhbGciOiJSUzI1NiJ9.e30.sig"} {
		st, _, h := userinfo(t, p, tok)
		if st != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("token %q: %d %q", tok, st, h.Get("WWW-Authenticate"))
		}
	}
	// An ID token is not an access token.
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	tok, _ := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	if st, _, _ := userinfo(t, p, tok.Extra("id_token").(string)); st != 401 {
		t.Errorf("ID token accepted as access token: %d", st)
	}
	if _, err := site.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err != nil {
		t.Errorf("valid token: %v", err)
	}
}

// responseParams reads an authorization response from the query, or from
// the fragment where the requested response type defaults to it.
func responseParams(u *url.URL) url.Values {
	if q := u.Query(); len(q) > 0 {
		return q
	}
	q, _ := url.ParseQuery(u.Fragment)
	return q
}
