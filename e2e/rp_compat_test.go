package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
)

// RFC 6749 section 3.3: a client_credentials answer says which scope it
// grants when that differs from what was asked, or the request is refused
// with invalid_scope. There is no member here, so member scopes are
// refused; other scopes are granted as asked, and said.
func TestClientCredentialsScope(t *testing.T) {
	p := startProvider(t, nil)
	tokenURL := p.URL + "/oauth/token"
	for _, scope := range []string{"openid", "profile email", "api.read openid"} {
		st, body, _ := tokenCall(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, siteID, siteSecret)
		wantOAuthError(t, "client_credentials asking for "+scope, st, body, 400, "invalid_scope")
	}
	st, body, _ := tokenCall(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read api.write"}}, siteID, siteSecret)
	if st != 200 || body["scope"] != "api.read api.write" {
		t.Fatalf("client_credentials with service scopes: %d %v", st, body)
	}
	st, body, _ = tokenCall(t, tokenURL, url.Values{"grant_type": {"client_credentials"}}, siteID, siteSecret)
	if st != 200 || body["scope"] != nil {
		t.Fatalf("client_credentials without a scope: %d %v", st, body)
	}
}

// Introspection and revocation take the client authentication the token
// endpoint takes, and discovery says exactly which each accepts.
func TestBackChannelClientAuthentication(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	tok, _ := site.exchange(mustNoError(t, newBrowser(t, p).signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))

	resp, err := http.Get(p.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	methods := func(k string) []string {
		var out []string
		for _, m := range d[k].([]any) {
			out = append(out, m.(string))
		}
		slices.Sort(out)
		return out
	}
	want := map[string][]string{
		"token_endpoint_auth_methods_supported":         {"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    {"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
	}
	for k, w := range want {
		if got := methods(k); !slices.Equal(got, w) {
			t.Errorf("%s = %v, want %v", k, got, w)
		}
	}

	intro := p.URL + "/oauth/introspect"
	// client_secret_basic and client_secret_post both work.
	if st, body, _ := tokenCall(t, intro, url.Values{"token": {tok.AccessToken}}, siteID, siteSecret); st != 200 || body["active"] != true {
		t.Fatalf("introspection, client_secret_basic: %d %v", st, body)
	}
	st, body, _ := tokenCall(t, intro, url.Values{"token": {tok.AccessToken}, "client_id": {siteID}, "client_secret": {siteSecret}}, "", "")
	if st != 200 || body["active"] != true {
		t.Fatalf("introspection, client_secret_post: %d %v", st, body)
	}
	// A wrong secret, and a public client (none is not offered here).
	st, body, h := tokenCall(t, intro, url.Values{"token": {tok.AccessToken}, "client_id": {siteID}, "client_secret": {"wrong-secret-0123456789abcdef"}}, "", "")
	if st != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("introspection with a wrong secret in the body: %d %v", st, body)
	}
	if st, body, _ := tokenCall(t, intro, url.Values{"token": {tok.AccessToken}, "client_id": {appID}}, "", ""); st != 401 || body["error"] != "invalid_client" {
		t.Fatalf("introspection by a public client: %d %v", st, body)
	}
	// Revocation: post works as basic does.
	st, _, _ = tokenCall(t, p.URL+"/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {siteID}, "client_secret": {siteSecret}}, "", "")
	if st != 200 {
		t.Fatalf("revocation, client_secret_post: %d", st)
	}
	if st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret); st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("the revoked refresh token: %d %v", st, body)
	}
}

// RFC 6749 section 4.1.2.1: an unsupported response_type, from a known
// client with a registered redirect URI, goes back to the client with
// unsupported_response_type and the state, whatever the redirect URI
// (the app's loopback one included).
func TestUnsupportedResponseTypeGoesBack(t *testing.T) {
	const devSite = "http://localhost:3000/oidc/callback" // a website in development
	p := startProvider(t, func(c *config.Config) { c.Clients[0].RedirectURIs = append(c.Clients[0].RedirectURIs, devSite) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	loopback := "http://" + ln.Addr().String() + "/callback"
	for _, tc := range []struct{ client, redirect, responseType string }{
		{appID, loopback, "token"},
		{appID, appRedirect, "id_token token"},
		{siteID, siteRedirect, "token"},
		{siteID, siteRedirect, "code id_token"},
		{siteID, devSite, "token"},
	} {
		r := newBrowser(t, p).Get(authorizeURL(p, map[string]string{"client_id": tc.client, "redirect_uri": tc.redirect,
			"response_type": tc.responseType, "scope": "openid", "state": "keep-me", "code_challenge": strings.Repeat("a", 43),
			"code_challenge_method": "S256"}))
		if r.Away == nil || !strings.HasPrefix(r.Away.String(), tc.redirect) || oauthError(r.Away) != "unsupported_response_type" ||
			r.Away.Query().Get("state") != "keep-me" || r.Away.Query().Get("iss") != p.URL {
			t.Errorf("%s to %s with response_type=%s: %v %d %.300s", tc.client, tc.redirect, tc.responseType, r.Away, r.Status, r.Text())
		}
	}
}

// end_session called from a server (oauth2-proxy's backend_logout_url:
// no cookie, no browser) cannot end the member's browser session, so it
// must not answer as if it had: 400, with what to do instead. The member
// stays signed in; a browser sent there signs out.
func TestEndSessionWithoutTheBrowser(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	mustNoError(t, b.signIn(site.oauth.AuthCodeURL("a"), aliceLogin, alicePassword))
	raw := idTokenOf(t, site, b)
	q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {siteLogout}, "state": {"x"}}.Encode()

	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
		Get(p.URL + "/end_session?" + q)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "browser") {
		t.Fatalf("end_session from a server: %d %s", resp.StatusCode, body)
	}
	if r := b.Get(site.oauth.AuthCodeURL("b", oauth2.SetAuthURLParam("prompt", "none"))); r.Away == nil || oauthError(r.Away) != "" {
		t.Fatalf("the member was signed out by a server's call: %v", r.Away)
	}
	// The browser itself signs out and goes back to the site.
	if r := b.Get(p.URL + "/end_session?" + q); r.Away == nil || r.Away.Query().Get("state") != "x" {
		t.Fatalf("end_session in the browser: %v %s", r.Away, r.Text())
	}
}
