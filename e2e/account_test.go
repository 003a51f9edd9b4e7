package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/store"
)

// Settings > Sign out everywhere ends every browser session of the member,
// the one that asked too, and revokes every app's refresh token.
func TestMemberSignsOutEverywhere(t *testing.T) {
	p := startProvider(t, nil)
	app := newRP(t, p, appID, "", appRedirect, oauth2.AuthStyleInParams, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	verifier := oauth2.GenerateVerifier()
	back := newBrowser(t, p).signIn(app.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), aliceLogin, alicePassword)
	tok, _ := app.exchange(mustNoError(t, back), oauth2.VerifierOption(verifier))

	laptop, phone := newBrowser(t, p), newBrowser(t, p)
	signInPage(t, laptop, p, aliceLogin, alicePassword)
	signInPage(t, phone, p, aliceLogin, alicePassword)

	settings := phone.Get(p.URL + "/settings")
	r := phone.Submit(settings.page, "Sign out everywhere", nil)
	if r.URL.Path != "/logout/done" {
		t.Fatalf("after Sign out everywhere: %s %s", r.URL, r.Text())
	}
	for name, b := range map[string]*browser{"phone": phone, "laptop": laptop} {
		if r := b.Get(p.URL + "/settings"); !strings.HasPrefix(r.URL.Path, "/login") {
			t.Errorf("%s still signed in: %s", name, r.URL)
		}
	}
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tok.RefreshToken}, "client_id": {appID}}, "", "")
	wantOAuthError(t, "the app's refresh token after Sign out everywhere", st, body, 400, "invalid_grant")

	// A form on another site cannot do it for the member, even with the
	// token: the Origin gives it away.
	signInPage(t, laptop, p, aliceLogin, alicePassword)
	csrf := csrfOf(laptop.Get(p.URL + "/settings").page)
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/settings/signout-everywhere", strings.NewReader(url.Values{"csrf_token": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r := laptop.do(req); r.Status != 403 {
		t.Fatalf("cross-origin Sign out everywhere: %d", r.Status)
	}
	if r := laptop.Get(p.URL + "/settings"); r.URL.Path != "/settings" {
		t.Fatalf("the refused request signed the laptop out: %s", r.URL)
	}
}

// A password hash made with weaker argon2id parameters is upgraded when the
// member next signs in with it.
func TestPasswordRehashedOnSignIn(t *testing.T) {
	p := startProvider(t, nil)
	ctx := t.Context()
	weak, err := password.HashWith(alicePassword, password.Params{Memory: 4096, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	u, err := p.store.UserByLogin(ctx, aliceLogin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.store.UpdateUser(ctx, u.ID, func(u *store.User) error { u.PasswordHash = weak; return nil }); err != nil {
		t.Fatal(err)
	}
	signInPage(t, newBrowser(t, p), p, aliceLogin, alicePassword)
	u, err = p.store.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	params, _, _, err := password.Parse(u.PasswordHash)
	if err != nil || params != password.DefaultParams {
		t.Fatalf("hash after sign-in has %+v (%v), want %+v", params, err, password.DefaultParams)
	}
	signInPage(t, newBrowser(t, p), p, aliceLogin, alicePassword) // and it still works
}
