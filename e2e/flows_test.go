package e2e

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
)

// The community website signs a member in with the code flow, with each
// client authentication method a confidential client may use.
func TestCommunitySiteCodeFlow(t *testing.T) {
	p := startProvider(t, nil)
	for _, tc := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"client_secret_basic", oauth2.AuthStyleInHeader}, {"client_secret_post", oauth2.AuthStyleInParams}} {
		t.Run(tc.name, func(t *testing.T) {
			site := newRP(t, p, siteID, siteSecret, siteRedirect, tc.style)
			b := newBrowser(t, p)
			back := b.signIn(site.oauth.AuthCodeURL("state-"+tc.name, oidc.Nonce("nonce-"+tc.name)), aliceLogin, alicePassword)

			if got := back.Scheme + "://" + back.Host + back.Path; got != siteRedirect {
				t.Fatalf("redirected to %s, want %s", got, siteRedirect)
			}
			q := back.Query()
			if q.Get("state") != "state-"+tc.name || q.Get("iss") != p.URL {
				t.Fatalf("state/iss in %s", back)
			}
			tok, idt := site.exchange(mustNoError(t, back))
			if idt.Nonce != "nonce-"+tc.name || idt.Issuer != p.URL || !slices.Equal(idt.Audience, []string{siteID}) {
				t.Fatalf("ID token nonce/iss/aud = %q %q %v", idt.Nonce, idt.Issuer, idt.Audience)
			}
			c := claimsOf(t, idt)
			if !slices.Equal(c.AMR, []string{"pwd"}) || c.AuthTime == 0 || c.Email != "alice@example.org" ||
				!c.EmailVerified || c.Name != "Alice Example" || c.PreferredUsername != "alice" {
				t.Fatalf("ID token claims = %+v", c)
			}
			if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.RefreshToken != "" {
				t.Fatalf("token response = %+v (no offline_access: no refresh token)", tok)
			}

			info, err := site.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if info.Subject != idt.Subject || info.Email != "alice@example.org" {
				t.Fatalf("userinfo = %+v, want sub %s", info, idt.Subject)
			}

			intro := p.URL + "/oauth/introspect"
			st, body, _ := tokenCall(t, intro, url.Values{"token": {tok.AccessToken}}, siteID, siteSecret)
			if st != 200 || body["active"] != true || body["sub"] != idt.Subject || body["client_id"] != siteID || body["username"] != "alice" {
				t.Fatalf("introspection = %d %v", st, body)
			}
			// Another client learns nothing about this token.
			st, body, _ = tokenCall(t, intro, url.Values{"token": {tok.AccessToken}}, otherID, otherSecret)
			if st != 200 || body["active"] != false {
				t.Fatalf("introspection by another client = %d %v", st, body)
			}

			st, _, _ = tokenCall(t, p.URL+"/revoke", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}, siteID, siteSecret)
			if st != 200 {
				t.Fatalf("revocation = %d", st)
			}
			st, body, _ = tokenCall(t, intro, url.Values{"token": {tok.AccessToken}}, siteID, siteSecret)
			if body["active"] != false {
				t.Fatalf("revoked token still active: %d %v", st, body)
			}
			st, _, h := userinfo(t, p, tok.AccessToken)
			if st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("userinfo with a revoked token = %d %q", st, h.Get("WWW-Authenticate"))
			}
		})
	}
}

// The mobile app (public client) signs in with PKCE through its custom
// scheme, and through a loopback redirect on a port it picked (RFC 8252).
func TestMobileAppPKCE(t *testing.T) {
	p := startProvider(t, nil)

	t.Run("custom scheme", func(t *testing.T) {
		app := newRP(t, p, appID, "", appRedirect, oauth2.AuthStyleInParams, oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess)
		verifier := oauth2.GenerateVerifier()
		back := newBrowser(t, p).signIn(app.oauth.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)
		if back.Scheme != "com.example.app" {
			t.Fatalf("redirected to %s", back)
		}
		tok, idt := app.exchange(mustNoError(t, back), oauth2.VerifierOption(verifier))
		if tok.RefreshToken == "" {
			t.Fatal("offline_access gave no refresh token")
		}
		if claimsOf(t, idt).PreferredUsername != "alice" {
			t.Fatal("profile claims missing")
		}
	})

	t.Run("loopback on a random port", func(t *testing.T) {
		// The app listens on a port of its choosing, like a desktop app.
		codes := make(chan url.Values, 1)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			codes <- r.URL.Query()
			w.Write([]byte("You can close this window."))
		})}
		go srv.Serve(ln)
		defer srv.Close()
		redirect := "http://" + ln.Addr().String() + "/callback"
		app := newRP(t, p, appID, "", redirect, oauth2.AuthStyleInParams)
		verifier := oauth2.GenerateVerifier()
		back := newBrowser(t, p).signIn(app.oauth.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)
		resp, err := http.Get(back.String()) // the browser delivers the code to the app
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		q := <-codes
		if q.Get("state") != "s2" {
			t.Fatalf("app received %v", q)
		}
		app.exchange(q.Get("code"), oauth2.VerifierOption(verifier))
	})
}

// Each refresh returns a new refresh token; replaying a used one fails and
// revokes the whole family, including the newest token.
func TestRefreshRotationAndReuse(t *testing.T) {
	p := startProvider(t, nil)
	app := newRP(t, p, appID, "", appRedirect, oauth2.AuthStyleInParams, oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess)
	verifier := oauth2.GenerateVerifier()
	back := newBrowser(t, p).signIn(app.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)
	tok, idt := app.exchange(mustNoError(t, back), oauth2.VerifierOption(verifier))
	authTime := claimsOf(t, idt).AuthTime

	refresh := func(rt string) (int, map[string]any) {
		st, body, h := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {appID}}, "", "")
		if st == 200 && h.Get("Cache-Control") != "no-store" {
			t.Fatalf("token response Cache-Control = %q", h.Get("Cache-Control"))
		}
		return st, body
	}
	p.clock.Advance(5 * time.Second)
	st, body := refresh(tok.RefreshToken)
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, body)
	}
	rt2, _ := body["refresh_token"].(string)
	if rt2 == "" || rt2 == tok.RefreshToken {
		t.Fatalf("refresh did not rotate: %v", body)
	}
	idt2, err := app.verifier.Verify(context.Background(), body["id_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if idt2.Subject != idt.Subject || claimsOf(t, idt2).AuthTime != authTime || idt2.IssuedAt.Before(idt.IssuedAt) {
		t.Fatalf("refreshed ID token: sub %s auth_time %d iat %v (was %s %d %v)", idt2.Subject, claimsOf(t, idt2).AuthTime, idt2.IssuedAt, idt.Subject, authTime, idt.IssuedAt)
	}
	newAccess := body["access_token"].(string)

	// Narrowing scopes works; widening them does not.
	st, body, _ = tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}, "client_id": {appID}, "scope": {"openid email"}}, "", "")
	wantOAuthError(t, "refresh asking for an ungranted scope", st, body, 400, "invalid_scope")

	p.clock.Advance(31 * time.Second)    // past the reuse grace
	st, body = refresh(tok.RefreshToken) // replay
	wantOAuthError(t, "replayed refresh token", st, body, 400, "invalid_grant")
	st, body = refresh(rt2) // the family is gone
	wantOAuthError(t, "refresh token of a revoked family", st, body, 400, "invalid_grant")
	if st, _, _ := userinfo(t, p, newAccess); st != 401 {
		t.Fatalf("access token of a revoked family: userinfo %d", st)
	}
}

// A client that lost the response to a refresh (a crash, a dropped
// connection) may retry with the same token within the reuse grace, where
// the operator set one: it gets the very same answer again. Once the
// successor was used, the old token is a replay again and ends the grant.
func TestRefreshRetryWithinGrace(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Tokens.RefreshTokenReuseInterval = config.Duration(30 * time.Second) })
	app := newRP(t, p, appID, "", appRedirect, oauth2.AuthStyleInParams, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	verifier := oauth2.GenerateVerifier()
	back := newBrowser(t, p).signIn(app.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)
	tok, _ := app.exchange(mustNoError(t, back), oauth2.VerifierOption(verifier))
	refresh := func(rt string) (int, string, map[string]any) {
		st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {appID}}, "", "")
		next, _ := body["refresh_token"].(string)
		return st, next, body
	}

	st, lost, body := refresh(tok.RefreshToken) // the client never sees this answer
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, body)
	}
	p.clock.Advance(10 * time.Second)
	st, kept, body := refresh(tok.RefreshToken) // the retry
	if st != 200 || kept != lost {
		t.Fatalf("retry within the grace: %d %v, want the lost answer's refresh token again", st, body)
	}
	if s, _, _ := userinfo(t, p, body["access_token"].(string)); s != 200 {
		t.Fatalf("the re-sent access token: userinfo %d", s)
	}
	st, next, body := refresh(kept)
	if st != 200 {
		t.Fatalf("the retried grant stopped working: %d %v", st, body)
	}

	// kept is now used: retrying tok again is a replay, even within the
	// grace, and ends the grant.
	st, _, body = refresh(tok.RefreshToken)
	wantOAuthError(t, "a retry after the newer token was used", st, body, 400, "invalid_grant")
	st, _, body = refresh(next)
	wantOAuthError(t, "the grant after a replay", st, body, 400, "invalid_grant")

	// Outside the grace there is no retry either.
	p2 := startProvider(t, func(c *config.Config) { c.Tokens.RefreshTokenReuseInterval = config.Duration(30 * time.Second) })
	rt0 := appGrant(t, p2)
	st, body, _ = tokenCall(t, p2.URL+"/oauth/token", refreshForm(rt0), "", "")
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, body)
	}
	p2.clock.Advance(31 * time.Second)
	st, body, _ = tokenCall(t, p2.URL+"/oauth/token", refreshForm(rt0), "", "")
	wantOAuthError(t, "a retry after the grace", st, body, 400, "invalid_grant")
}

// SSO: a second client (and prompt=none) is answered from the session;
// after RP-initiated logout prompt=none gives login_required.
func TestSessionAndLogout(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	_, idt := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("a"), aliceLogin, alicePassword)))
	raw := idTokenOf(t, site, b)

	p.clock.Advance(3 * time.Second)
	silent := b.Get(site.oauth.AuthCodeURL("b", oauth2.SetAuthURLParam("prompt", "none")))
	if silent.Away == nil {
		t.Fatalf("prompt=none with a session showed a page: %s", silent.Text())
	}
	_, idt2 := site.exchange(mustNoError(t, silent.Away))
	if idt2.Subject != idt.Subject || claimsOf(t, idt2).AuthTime != claimsOf(t, idt).AuthTime {
		t.Fatal("prompt=none changed sub or auth_time")
	}

	// max_age larger than the session's age: no prompt; max_age exceeded: sign in again.
	if r := b.Get(site.oauth.AuthCodeURL("c", oauth2.SetAuthURLParam("max_age", "10000"))); r.Away == nil {
		t.Fatal("max_age=10000 asked to sign in again")
	}
	if r := b.Get(site.oauth.AuthCodeURL("d", oauth2.SetAuthURLParam("max_age", "1"))); r.Away != nil || !strings.Contains(r.Text(), "Email or username") {
		t.Fatal("max_age=1 after 3 s did not ask to sign in again")
	}
	// prompt=login asks again even with a fresh session, and auth_time moves.
	p.clock.Advance(2 * time.Second)
	back := b.signIn(site.oauth.AuthCodeURL("e", oauth2.SetAuthURLParam("prompt", "login")), aliceLogin, alicePassword)
	_, idt3 := site.exchange(mustNoError(t, back))
	if claimsOf(t, idt3).AuthTime <= claimsOf(t, idt).AuthTime {
		t.Fatal("prompt=login did not move auth_time")
	}

	// RP-initiated logout with id_token_hint, a registered post-logout URI and state.
	r := b.Get(p.URL + "/end_session?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {siteLogout}, "state": {"bye"}}.Encode())
	if r.Away == nil || r.Away.Query().Get("state") != "bye" || !strings.HasPrefix(r.Away.String(), siteLogout) {
		t.Fatalf("logout did not return to the site with state: %v %s", r.Away, r.Text())
	}
	after := b.Get(site.oauth.AuthCodeURL("f", oauth2.SetAuthURLParam("prompt", "none")))
	if after.Away == nil || oauthError(after.Away) != "login_required" || after.Away.Query().Get("state") != "f" || after.Away.Query().Get("iss") != p.URL {
		t.Fatalf("prompt=none after logout = %v", after.Away)
	}
}

// idTokenOf signs in with the browser's session and returns a raw ID token.
func idTokenOf(t *testing.T, site *rp, b *browser) string {
	t.Helper()
	r := b.Get(site.oauth.AuthCodeURL("hint", oauth2.SetAuthURLParam("prompt", "none")))
	if r.Away == nil {
		t.Fatal("no SSO")
	}
	tok, err := site.oauth.Exchange(context.Background(), mustNoError(t, r.Away))
	if err != nil {
		t.Fatal(err)
	}
	return tok.Extra("id_token").(string)
}

// Logout without an id_token_hint asks the member to confirm and does not
// redirect to an unverified address.
func TestLogoutWithoutHintAsks(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	mustNoError(t, b.signIn(site.oauth.AuthCodeURL("a"), aliceLogin, alicePassword))

	r := b.Get(p.URL + "/end_session?" + url.Values{"post_logout_redirect_uri": {siteLogout}, "state": {"x"}}.Encode())
	if r.Away != nil || !strings.Contains(r.Text(), "Sign out?") {
		t.Fatalf("logout without hint did not ask: %v %s", r.Away, r.Text())
	}
	r = b.Submit(r.page, "Sign out", nil)
	if r.Away != nil || !strings.Contains(r.Text(), "You are signed out") {
		t.Fatalf("after confirming: %v %s", r.Away, r.Text())
	}
	if after := b.Get(site.oauth.AuthCodeURL("b", oauth2.SetAuthURLParam("prompt", "none"))); after.Away == nil || oauthError(after.Away) != "login_required" {
		t.Fatal("still signed in after confirmed logout")
	}
}

// The community site may use PKCE too (RFC 9700 recommends it): the right
// verifier redeems the code, a wrong one is invalid_grant. With
// require_pkce, a request without a challenge goes back to the site as
// invalid_request.
func TestCommunitySitePKCE(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Clients[0].RequirePKCE = true })
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)

	verifier := oauth2.GenerateVerifier()
	back := b.signIn(site.oauth.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)
	_, idt := site.exchange(mustNoError(t, back), oauth2.VerifierOption(verifier))
	if idt.Subject == "" {
		t.Fatal("no subject")
	}

	back = b.signIn(site.oauth.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"authorization_code"},
		"code": {mustNoError(t, back)}, "redirect_uri": {siteRedirect}, "code_verifier": {oauth2.GenerateVerifier()}}, siteID, siteSecret)
	wantOAuthError(t, "wrong code_verifier", st, body, 400, "invalid_grant")

	back = b.Get(site.oauth.AuthCodeURL("s3")).Away
	if back == nil || oauthError(back) != "invalid_request" || back.Query().Get("state") != "s3" {
		t.Fatalf("no challenge with require_pkce: redirected to %s", back)
	}
}
