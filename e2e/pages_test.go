package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/idp/store"
)

// Unknown accounts and wrong passwords get the same answer.
func TestNoAccountEnumeration(t *testing.T) {
	p := startProvider(t, nil)
	answer := func(login, pw string) (int, string) {
		b := newBrowser(t, p)
		r := b.Get(p.URL + "/login")
		r = b.Submit(r.page, "Continue", map[string]string{"Email or username": login})
		if !strings.Contains(r.Text(), "Password") {
			t.Fatalf("identifier step for %q: %s", login, r.Text())
		}
		r = b.Submit(r.page, "Sign in", map[string]string{"Password": pw})
		text := strings.ReplaceAll(r.Text(), login, "LOGIN")
		return r.Status, text
	}
	st1, wrongPassword := answer("alice", "not her password")
	st2, unknown := answer("mallory", "not her password")
	if st1 != http.StatusUnauthorized || st1 != st2 || wrongPassword != unknown {
		t.Fatalf("wrong password: %d %q\nunknown account: %d %q", st1, wrongPassword, st2, unknown)
	}
	if !strings.Contains(unknown, "The email, username or password is not right.") {
		t.Fatalf("message: %q", unknown)
	}
	// Email works as well as the username, in any case.
	b := newBrowser(t, p)
	r := b.Get(p.URL + "/login")
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": "Alice@Example.org"})
	r = b.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword})
	if !strings.Contains(r.Text(), "Settings") {
		t.Fatalf("sign-in by email: %d %s", r.Status, r.Text())
	}
}

// Every form needs its CSRF token and a same-origin request.
func TestCSRF(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	r := b.Get(p.URL + "/login")
	form := func(token, origin string) int {
		v := url.Values{"login": {"alice"}, "password": {alicePassword}}
		if token != "" {
			v.Set("csrf_token", token)
		}
		req, _ := http.NewRequest(http.MethodPost, p.URL+"/login/password", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		return b.do(req).Status
	}
	token := ""
	walk(r.Doc, func(n *htmlNode) {
		if attr(n, "name") == "csrf_token" {
			token = attr(n, "value")
		}
	})
	if token == "" {
		t.Fatal("no CSRF token in the sign-in form")
	}
	if st := form("", p.URL); st != http.StatusForbidden {
		t.Errorf("no token: %d", st)
	}
	if st := form("forged", p.URL); st != http.StatusForbidden {
		t.Errorf("forged token: %d", st)
	}
	if st := form(token, "https://evil.example"); st != http.StatusForbidden {
		t.Errorf("foreign Origin: %d", st)
	}
	// Another browser's token does not fit this browser's cookie.
	other := newBrowser(t, p)
	r2 := other.Get(p.URL + "/login")
	otherToken := ""
	walk(r2.Doc, func(n *htmlNode) {
		if attr(n, "name") == "csrf_token" {
			otherToken = attr(n, "value")
		}
	})
	if st := form(otherToken, p.URL); st != http.StatusForbidden {
		t.Errorf("token of another browser: %d", st)
	}
	if st := form(token, p.URL); st != http.StatusSeeOther && st != http.StatusOK {
		t.Errorf("valid token: %d", st)
	}
}

// Security headers on the sign-in pages and the authorization endpoint.
func TestSecurityHeaders(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	for _, u := range []string{p.URL + "/login", site.oauth.AuthCodeURL("s"), p.URL + "/logout/done", p.URL + "/nowhere"} {
		r := b.Get(u)
		h := r.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", u, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows unsafe-inline", u)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", u, h)
		}
		if strings.Contains(r.Body, "http://") && strings.Contains(r.Body, "<script src=\"http") {
			t.Errorf("%s loads a third-party script", u)
		}
	}
	// The session cookie is HttpOnly and SameSite=Lax; the credential POST
	// answers 303, never 307.
	r := b.Get(p.URL + "/login")
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	form, _ := r.FormWithButton("Sign in")
	v := url.Values{"csrf_token": {inputValue(r.page, "csrf_token")}, "login": {aliceLogin}, "password": {alicePassword}}
	req, _ := http.NewRequest(http.MethodPost, p.URL+attr(form, "action"), strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("credential POST answered %d", resp.StatusCode)
	}
	found := false
	for _, c := range resp.Cookies() {
		if c.Name == "idp_session" {
			found = true
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || len(c.Value) < 43 {
				t.Errorf("session cookie %+v", c)
			}
		}
	}
	if !found {
		t.Error("no session cookie")
	}
	// CORS: allowed for a registered origin, never with credentials.
	req, _ = http.NewRequest(http.MethodGet, p.URL+"/.well-known/openid-configuration", nil)
	req.Header.Set("Origin", "https://community.example")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://community.example" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("CORS for a client origin: %v", resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS for a foreign origin: %v", resp.Header)
	}
	req, _ = http.NewRequest(http.MethodOptions, p.URL+"/oauth/token", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("token preflight for a foreign origin allowed")
	}
}

func inputValue(p *page, name string) string {
	v := ""
	walk(p.Doc, func(n *htmlNode) {
		if n.Data == "input" && attr(n, "name") == name {
			v = attr(n, "value")
		}
	})
	return v
}

// ?next= only ever leads to a page of the provider.
func TestNoOpenRedirect(t *testing.T) {
	p := startProvider(t, nil)
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		b := newBrowser(t, p)
		r := b.Get(p.URL + "/login?next=" + url.QueryEscape(next))
		r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
		r = b.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword})
		if r.Away != nil || !strings.HasSuffix(r.URL.Path, "/settings") {
			t.Errorf("next=%q led to %v %s", next, r.Away, r.URL)
		}
	}
}

// Settings: profile and password change; a new password needs the
// current one and signs the member out elsewhere, refresh tokens included.
func TestSettings(t *testing.T) {
	p := startProvider(t, nil)
	app := newRP(t, p, appID, "", appRedirect, oauth2.AuthStyleInParams, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	phone := newBrowser(t, p)
	verifier := oauth2.GenerateVerifier()
	tok, _ := app.exchange(mustNoError(t, phone.signIn(app.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)), oauth2.VerifierOption(verifier))

	laptop := newBrowser(t, p)
	r := laptop.Get(p.URL + "/settings")
	if !strings.Contains(r.Text(), "Email or username") {
		t.Fatalf("settings without a session did not ask to sign in: %s", r.Text())
	}
	r = laptop.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	r = laptop.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword})
	if !strings.Contains(r.Body, `value="alice@example.org"`) {
		t.Fatalf("settings: %s", r.Text())
	}
	r = laptop.Submit(r.page, "Save profile", map[string]string{"Name": "Alice Renamed", "Email": "alice@example.org"})
	if !strings.Contains(r.Text(), "Your profile was saved.") || !strings.Contains(r.Body, `value="Alice Renamed"`) {
		t.Fatalf("profile: %s", r.Text())
	}
	r = laptop.Submit(r.page, "Change password", map[string]string{"Current password": "wrong", "New password": "a brand new passphrase"})
	if r.Status != 400 || !strings.Contains(r.Text(), "The current password is not right.") {
		t.Fatalf("wrong current password: %d %s", r.Status, r.Text())
	}
	r = laptop.Submit(r.page, "Change password", map[string]string{"Current password": alicePassword, "New password": "short"})
	if r.Status != 400 || !strings.Contains(r.Text(), "at least 8") {
		t.Fatalf("short new password: %d %s", r.Status, r.Text())
	}
	for pw, want := range map[string]string{
		"Password123":       "most common",
		"alice@example.org": "cannot be your username, your email",
	} {
		r = laptop.Submit(r.page, "Change password", map[string]string{"Current password": alicePassword, "New password": pw})
		if r.Status != 400 || !strings.Contains(r.Text(), want) {
			t.Fatalf("new password %q: %d %s", pw, r.Status, r.Text())
		}
	}
	r = laptop.Submit(r.page, "Change password", map[string]string{"Current password": alicePassword, "New password": "a brand new passphrase"})
	if !strings.Contains(r.Text(), "Your password was changed.") {
		t.Fatalf("change password: %d %s", r.Status, r.Text())
	}
	// The laptop stays signed in; the phone's session and the app's refresh token end.
	if r := laptop.Get(p.URL + "/settings"); !strings.Contains(r.Text(), "Change password") {
		t.Fatal("the laptop was signed out")
	}
	if r := phone.Get(p.URL + "/settings"); !strings.Contains(r.Text(), "Email or username") {
		t.Fatal("the phone is still signed in after a password change")
	}
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {appID}}, "", "")
	wantOAuthError(t, "refresh after password change", st, body, 400, "invalid_grant")
	// The new password works, the old one does not.
	b := newBrowser(t, p)
	if back := b.signIn(app.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), aliceLogin, "a brand new passphrase"); oauthError(back) != "" {
		t.Fatal("new password refused")
	}
	// Sign out from settings.
	r = laptop.Get(p.URL + "/settings")
	r = laptop.Submit(r.page, "Sign out", nil)
	if !strings.Contains(r.Text(), "You are signed out") {
		t.Fatalf("sign out: %s", r.Text())
	}
	if r := laptop.Get(p.URL + "/settings"); !strings.Contains(r.Text(), "Email or username") {
		t.Fatal("still signed in after signing out")
	}
}

// A disabled account cannot sign in or refresh.
func TestDisabledAccount(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	b := newBrowser(t, p)
	tok, idt := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	if _, err := p.store.UpdateUser(context.Background(), idt.Subject, func(u *store.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret)
	wantOAuthError(t, "refresh of a disabled account", st, body, 400, "invalid_grant")
	if st, _, _ := userinfo(t, p, tok.AccessToken); st != 401 {
		t.Errorf("userinfo of a disabled account: %d", st)
	}
	// The session no longer counts, and signing in again is refused.
	r := b.Get(site.oauth.AuthCodeURL("s2", oauth2.SetAuthURLParam("prompt", "none")))
	if r.Away == nil || oauthError(r.Away) != "login_required" {
		t.Fatalf("prompt=none for a disabled account: %v", r.Away)
	}
	r = b.Get(site.oauth.AuthCodeURL("s3"))
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	r = b.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword})
	if r.Away != nil || r.Status != http.StatusForbidden || !strings.Contains(r.Text(), "ACCOUNT-DISABLED") {
		t.Fatalf("sign-in of a disabled account: %d %v %s", r.Status, r.Away, r.Text())
	}
}

// An authorization request expires if the member takes too long.
func TestAuthRequestExpires(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	r := b.Get(site.oauth.AuthCodeURL("s"))
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	p.clock.Advance(p.cfg.Tokens.AuthRequestLifetime.D() + time.Second)
	r = b.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword})
	if r.Away != nil || !strings.Contains(r.Text(), "LOGIN-EXPIRED") {
		t.Fatalf("expired sign-in: %v %s", r.Away, r.Text())
	}
}

// A failed password step shows its error code, linked to its explanation
// on /help/errors, like every other failure page.
func TestPasswordFailureShowsCode(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	r := b.Get(p.URL + "/login")
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	form := r.page
	r = b.Submit(form, "Sign in", map[string]string{"Password": "not her password"})
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Text(), "Error code LOGIN-WRONG") ||
		!strings.Contains(r.Body, `href="/help/errors#LOGIN-WRONG"`) {
		t.Fatalf("wrong password: %d %s", r.Status, r.Text())
	}
	for tries := 1; r.Status != http.StatusTooManyRequests; tries++ {
		if r.Status != http.StatusUnauthorized || tries > 30 {
			t.Fatalf("wrong password: %d %s", r.Status, r.Text())
		}
		r = b.Submit(form, "Sign in", map[string]string{"Password": "not her password"})
	}
	if !strings.Contains(r.Text(), "Error code LOGIN-THROTTLED") || !strings.Contains(r.Body, `href="/help/errors#LOGIN-THROTTLED"`) {
		t.Fatalf("throttled: %s", r.Text())
	}
	help := b.Get(p.URL + "/help/errors")
	for _, code := range []string{"LOGIN-WRONG", "LOGIN-THROTTLED", "PK-ROLLOUT", "SIGNED-OUT", "NOT-FOUND"} {
		if !strings.Contains(help.Body, `<dt id="`+code+`">`) {
			t.Errorf("/help/errors has no entry for %s", code)
		}
	}
}
