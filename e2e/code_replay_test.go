package e2e

import (
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
)

// A used code in a stranger's hands (it leaked from a log or a proxy) must
// not let them revoke the member's tokens: only the code's own client,
// authenticated, presenting the right redirect URI (and PKCE verifier)
// ends the grant by replaying it. Anyone else gets the plain refusal.
func TestCodeReplayNeedsTheClientsOwnAuthentication(t *testing.T) {
	eachStore(t, func(t *testing.T, useStore func(*config.Config)) {
		p := startProvider(t, useStore)
		tokenURL := p.URL + "/oauth/token"
		site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		code := mustNoError(t, newBrowser(t, p).signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword))
		form := func(extra url.Values) url.Values {
			f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {siteRedirect}}
			for k, v := range extra {
				f[k] = v
			}
			return f
		}
		st, first, _ := tokenCall(t, tokenURL, form(nil), siteID, siteSecret)
		if st != 200 {
			t.Fatalf("redemption: %d %v", st, first)
		}
		alive := func(what string) {
			t.Helper()
			if st, _, _ := userinfo(t, p, first["access_token"].(string)); st != 200 {
				t.Fatalf("%s revoked the member's access token (userinfo %d)", what, st)
			}
		}
		strangers := []struct {
			name       string
			extra      url.Values
			user, pass string
		}{
			{"a public client's id, no secret, a wrong redirect_uri",
				url.Values{"client_id": {appID}, "redirect_uri": {"com.example.app:/oauth2redirect"}}, "", ""},
			{"the site's id without its secret", url.Values{"client_id": {siteID}}, "", ""},
			{"the site's id with a wrong secret", nil, siteID, "not-the-secret-0123456789"},
			{"another confidential client, authenticated", nil, otherID, otherSecret},
			{"the site, authenticated, with another redirect_uri", url.Values{"redirect_uri": {"https://community.example/x"}}, siteID, siteSecret},
		}
		for _, s := range strangers {
			st, body, _ := tokenCall(t, tokenURL, form(s.extra), s.user, s.pass)
			if st == 200 {
				t.Fatalf("%s: a used code was redeemed again: %v", s.name, body)
			}
			alive(s.name)
		}
		// The site itself replaying its code: the grant ends (RFC 6749 4.1.2).
		st, body, _ := tokenCall(t, tokenURL, form(nil), siteID, siteSecret)
		wantOAuthError(t, "the client's own replay", st, body, 400, "invalid_grant")
		if st, _, _ := userinfo(t, p, first["access_token"].(string)); st != 401 {
			t.Fatalf("after the client's own replay the access token still works: %d", st)
		}
	})
}
