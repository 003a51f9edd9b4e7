package e2e

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/examples/native/flow"
	"github.com/communityidp/idp/examples/site/app"
	"github.com/communityidp/idp/idp/password"
)

// The example relying parties under examples/, run in-process against a
// provider started by the test, with the clients registered as their
// documentation says (the site's addresses on the port the test gives it).
// (The test configuration already has community-site and mobile-app, the
// ids examples/idp.yaml uses, so the examples get ids of their own here.)
const (
	exampleSiteID = "example-site"
	exampleAppID  = "example-app"
)

// exampleSite is examples/site serving on a free port.
type exampleSite struct {
	URL string
}

// startExampleSite starts a provider that knows the example site, and the
// site itself.
func startExampleSite(t *testing.T) (*provider, *exampleSite) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// localhost, as in the README: the site and the provider share the
	// browser's cookies for that host (ports do not separate cookies).
	siteURL := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	p := startProvider(t, func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{ID: exampleSiteID, Name: "Community Site", Type: config.ClientConfidential,
			SecretHash: siteSecretHash(), RedirectURIs: []string{siteURL + "/oidc/callback"},
			PostLogoutRedirectURIs: []string{siteURL + "/"}, BackchannelLogoutURI: siteURL + "/oidc/backchannel-logout"})
	})
	site, err := app.New(app.Config{Issuer: p.URL, ClientID: exampleSiteID, ClientSecret: siteSecret, PublicURL: siteURL})
	if err != nil {
		t.Fatal(err)
	}
	if site.RedirectURL() != siteURL+"/oidc/callback" || site.PostLogoutURL() != siteURL+"/" {
		t.Fatalf("site addresses %s %s", site.RedirectURL(), site.PostLogoutURL())
	}
	srv := &http.Server{Handler: site}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p, &exampleSite{URL: siteURL}
}

// onSite follows the redirects of r that stay on the site (the harness's
// browser follows only the provider's) and returns where it ends.
func onSite(t *testing.T, b *browser, site *exampleSite, r *result) *result {
	t.Helper()
	for i := 0; r.Away != nil && strings.HasPrefix(r.Away.String(), site.URL+"/"); i++ {
		if i == 10 {
			t.Fatal("too many redirects on the site")
		}
		r = b.Get(r.Away.String())
	}
	return r
}

// startSignIn presses the home page's Sign in button without following the
// redirect and returns the authorization request the site makes.
func startSignIn(t *testing.T, b *browser, site *exampleSite) *url.URL {
	t.Helper()
	home := b.Get(site.URL + "/")
	if home.Status != http.StatusOK || !strings.Contains(home.Text(), "Welcome to the community") {
		t.Fatalf("site home: %d %s", home.Status, home.Text())
	}
	form, _ := home.FormWithButton("Sign in")
	if form == nil {
		t.Fatalf("no Sign in button on the site's home: %s", home.Body)
	}
	action, _ := home.URL.Parse(attr(form, "action"))
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), b.p.URL+"/authorize?") {
		t.Fatalf("Sign in answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The flow's secrets travel in a short-lived HttpOnly, SameSite=Lax cookie.
	var login *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "site_login" {
			login = c
		}
	}
	if login == nil || !login.HttpOnly || login.SameSite != http.SameSiteLaxMode || login.MaxAge <= 0 || login.MaxAge > 900 || login.Path != "/oidc/callback" {
		t.Fatalf("login cookie = %+v", login)
	}
	return loc
}

// The community site: home, Sign in, the provider's password sign-in, back
// to the site with the claims and amr, Refresh, and Sign out through
// RP-initiated logout, after which the provider's session is gone.
func TestExampleSite(t *testing.T) {
	p, site := startExampleSite(t)
	b := newBrowser(t, p)

	auth := startSignIn(t, b, site)
	q := auth.Query()
	if q.Get("client_id") != exampleSiteID || q.Get("redirect_uri") != site.URL+"/oidc/callback" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("state") == "" || q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "offline_access") {
		t.Fatalf("authorization request %s", auth)
	}

	back := b.signIn(auth.String(), aliceLogin, alicePassword)
	if !strings.HasPrefix(back.String(), site.URL+"/oidc/callback?") || back.Query().Get("code") == "" {
		t.Fatalf("the provider sent the browser to %s", back)
	}
	remember(back.Query().Get("code"))
	acct := onSite(t, b, site, b.Get(back.String()))
	if acct.URL.Path != "/account" || acct.Status != http.StatusOK {
		t.Fatalf("after the callback: %s %d %s", acct.URL, acct.Status, acct.Text())
	}
	text := acct.Text()
	for _, want := range []string{"Hello, Alice Example", "You signed in with a password", "amr: pwd",
		"preferred_username alice", "name Alice Example", "email alice@example.org (verified)", "Refresh token yes"} {
		if !strings.Contains(text, want) {
			t.Errorf("account page lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`sub \S{8,}`).MatchString(text) || !regexp.MustCompile(`auth_time \d{4}-\d\d-\d\d \d\d:\d\d:\d\d`).MatchString(text) {
		t.Errorf("account page lacks sub or auth_time:\n%s", text)
	}
	if cc := acct.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("account page Cache-Control %q", cc)
	}
	for _, c := range b.client.Jar.Cookies(exampleURL(t, site.URL+"/oidc/callback")) {
		if c.Name == "site_login" {
			t.Error("the login cookie outlived the callback")
		}
	}
	// A form without its CSRF token is refused.
	if r := b.do(examplePost(t, site.URL+"/refresh", "")); r.Status != http.StatusForbidden {
		t.Errorf("refresh without the CSRF token: %d", r.Status)
	}

	// Refresh tokens: the refresh grant, and the new expiry on the page.
	acct = onSite(t, b, site, b.Submit(acct.page, "Refresh tokens", nil))
	if acct.URL.Path != "/account" || !regexp.MustCompile(`Tokens refreshed\. The new access token expires at \d\d:\d\d:\d\d`).MatchString(acct.Text()) {
		t.Fatalf("after Refresh tokens: %s %s", acct.URL, acct.Text())
	}
	if !strings.Contains(acct.Text(), "amr: pwd") {
		t.Errorf("after a refresh the page lost the amr: %s", acct.Text())
	}

	// Sign out: the site ends its session, the provider its own, and the
	// browser lands on the site's home with the state the site sent.
	r := b.Submit(acct.page, "Sign out", nil)
	if r.Away == nil || !strings.HasPrefix(r.Away.String(), site.URL+"/?") || r.Away.Query().Get("state") == "" {
		t.Fatalf("Sign out ended at %v (%d %s)", r.Away, r.Status, r.Text())
	}
	home := onSite(t, b, site, r)
	if home.URL.Path != "/" || !strings.Contains(home.Text(), "You are signed out") || !strings.Contains(home.Text(), "Sign in") {
		t.Fatalf("after Sign out: %s %s", home.URL, home.Text())
	}
	if r := b.Get(site.URL + "/account"); r.Away == nil || r.Away.Path != "/" {
		t.Fatalf("the site's session survived Sign out: %d %s", r.Status, r.Text())
	}
	silent := oauth2.Config{ClientID: exampleSiteID, RedirectURL: site.URL + "/oidc/callback",
		Endpoint: oauth2.Endpoint{AuthURL: p.URL + "/authorize"}, Scopes: []string{"openid"}}
	after := b.Get(silent.AuthCodeURL("s", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if after.Away == nil || oauthError(after.Away) != "login_required" {
		t.Fatalf("prompt=none after Sign out = %v %s", after.Away, after.Text())
	}
}

// The site's error pages: an OAuth error returned to the callback, and an
// answer that belongs to no sign-in of this browser.
func TestExampleSiteErrors(t *testing.T) {
	p, site := startExampleSite(t)
	b := newBrowser(t, p)

	auth := startSignIn(t, b, site)
	cb := site.URL + "/oidc/callback?" + url.Values{"error": {"access_denied"}, "error_description": {"The member cancelled"},
		"state": {auth.Query().Get("state")}, "iss": {p.URL}}.Encode()
	r := b.Get(cb)
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Text(), "Sign-in was not completed") ||
		!strings.Contains(r.Text(), "access_denied") || !strings.Contains(r.Text(), "The member cancelled") ||
		!strings.Contains(r.Text(), "Try again") {
		t.Fatalf("error callback: %d %s", r.Status, r.Text())
	}
	// The same answer again (the login cookie is gone), or a forged state.
	for _, u := range []string{cb, site.URL + "/oidc/callback?code=x&state=forged"} {
		if r := b.Get(u); r.Status != http.StatusBadRequest || !strings.Contains(r.Text(), "This sign-in cannot be finished") {
			t.Errorf("%s: %d %s", u, r.Status, r.Text())
		}
	}
	// A code the provider never issued: the token endpoint's error is shown.
	auth = startSignIn(t, b, site)
	r = b.Get(site.URL + "/oidc/callback?" + url.Values{"code": {"not-a-code"}, "state": {auth.Query().Get("state")}}.Encode())
	if r.Status != http.StatusBadGateway || !strings.Contains(r.Text(), "invalid_grant") {
		t.Fatalf("bad code: %d %s", r.Status, r.Text())
	}
}

// examplePrinted polls out until re matches, and returns the match.
func examplePrinted(t *testing.T, out *lockedBuffer, re *regexp.Regexp, done <-chan struct{}) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := re.FindString(out.String()); m != "" {
			return m
		}
		select {
		case <-deadline:
			t.Fatalf("the app did not print %s:\n%s", re, out)
		case <-done:
			t.Fatalf("the app ended without printing %s:\n%s", re, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// The native app: its flow runs in-process with -no-browser; the test's
// browser opens the address it prints, signs in, and is sent back to the
// app's loopback redirect; the app gets tokens, prints the claims and amr,
// and refreshes once.
func TestExampleNative(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{ID: exampleAppID, Name: "Community App", Type: config.ClientPublic,
			RedirectURIs: []string{"http://127.0.0.1/callback"}})
	})
	run := func(o flow.Options) (*lockedBuffer, chan struct{}, *flow.Result, *error) {
		out := &lockedBuffer{}
		o.Issuer, o.ClientID, o.NoBrowser, o.Out = p.URL, exampleAppID, true, out
		o.Open = func(string) error { t.Error("-no-browser opened a browser"); return nil }
		done := make(chan struct{})
		res, err := new(flow.Result), new(error)
		go func() {
			defer close(done)
			r, e := flow.Run(context.Background(), o)
			if r != nil {
				*res = *r
			}
			*err = e
		}()
		return out, done, res, err
	}

	t.Run("sign in and refresh", func(t *testing.T) {
		out, done, res, errp := run(flow.Options{Refresh: true, Timeout: 30 * time.Second})
		authURL := examplePrinted(t, out, regexp.MustCompile(regexp.QuoteMeta(p.URL)+`/authorize\?\S+`), done)
		auth := exampleURL(t, authURL)
		q := auth.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" ||
			!regexp.MustCompile(`^http://127\.0\.0\.1:\d+/callback$`).MatchString(q.Get("redirect_uri")) {
			t.Fatalf("authorization request %s", auth)
		}
		br := newBrowser(t, p)
		back := br.signIn(authURL, aliceLogin, alicePassword)
		if !strings.HasPrefix(back.String(), q.Get("redirect_uri")+"?") {
			t.Fatalf("the provider sent the browser to %s, not the app's loopback redirect", back)
		}
		remember(back.Query().Get("code"))
		page := br.Get(back.String())
		if page.Status != http.StatusOK || !strings.Contains(page.Text(), "go back to the app") {
			t.Fatalf("loopback page: %d %s", page.Status, page.Text())
		}
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("the app did not finish:\n%s", out)
		}
		if *errp != nil {
			t.Fatalf("the app failed: %v\n%s", *errp, out)
		}
		remember(res.Token.AccessToken)
		remember(res.Token.RefreshToken)
		remember(res.Refreshed.AccessToken)
		remember(res.Refreshed.RefreshToken)
		text := out.String()
		for _, want := range []string{"Signed in with a password.", "preferred_username: alice", "name:               Alice Example",
			"email:              alice@example.org (verified)", "amr:                pwd", "refresh token: yes",
			"Refreshed. The new access token expires at", "refresh token rotated: yes"} {
			if !strings.Contains(text, want) {
				t.Errorf("the app's output lacks %q:\n%s", want, text)
			}
		}
		if res.Claims.PreferredUsername != aliceLogin || len(res.Claims.AMR) == 0 || res.Claims.AMR[0] != "pwd" || res.Refreshed == nil {
			t.Errorf("result %+v", res.Claims)
		}
	})

	t.Run("times out", func(t *testing.T) {
		out, done, _, errp := run(flow.Options{Timeout: 300 * time.Millisecond})
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the app did not time out")
		}
		if *errp == nil || !strings.Contains((*errp).Error(), "within 300ms") || !strings.Contains(out.String(), "/authorize?") {
			t.Fatalf("err %v, output:\n%s", *errp, out)
		}
	})
}

// examples/idp.yaml, the configuration the README runs the examples with,
// is valid and registers both examples as their documentation says.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "examples", "idp.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "http://localhost:8080" {
		t.Errorf("issuer %s: the examples default to http://localhost:8080", cfg.Issuer)
	}
	clients := map[string]config.Client{}
	for _, c := range cfg.Clients {
		clients[c.ID] = c
	}
	site, native := clients["community-site"], clients["mobile-app"]
	if site.Type != config.ClientConfidential || strings.Join(site.RedirectURIs, " ") != "http://localhost:3000/oidc/callback" ||
		strings.Join(site.PostLogoutRedirectURIs, " ") != "http://localhost:3000/" {
		t.Errorf("community-site = %+v", site)
	}
	if ok, _, err := password.Verify(site.SecretHash, "example-only-community-site-secret-2a8f"); !ok || err != nil {
		t.Errorf("the site's secret_hash is not the hash of the secret the README gives the site (%v)", err)
	}
	if native.Type != config.ClientPublic || !slices.Contains(native.RedirectURIs, "http://127.0.0.1/callback") {
		t.Errorf("mobile-app = %+v", native)
	}
}

func exampleURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func examplePost(t *testing.T, u, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// The README's example walk-through in Chromium. The first admin, signed
// in at the provider (as the setup link leaves them), adds a passkey in
// Settings; signs in to the example site (at once: the provider's session
// answers), refreshes, signs out from the site, and signs in again with the
// passkey; the site says how each time.
func TestExampleSitePasskeyChromium(t *testing.T) {
	p, site := startExampleSite(t)
	addAdmin(t, p)
	c := newChrome(t)
	c.presence(false)

	c.open(p.URL + "/settings")
	c.waitFor("Email or username")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.waitFor("Password")
	c.fill("Password", adminPassword)
	c.click("Sign in")
	c.waitFor("Sign in faster with a passkey") // an admin without a passkey
	c.click("Not now")
	c.waitFor("Passkeys")
	c.presence(true)
	c.addPasskey(p, "Laptop")

	c.open(site.URL + "/")
	c.click("Sign in")
	c.waitFor("You signed in with a password")
	c.waitFor("amr: pwd")
	c.screenshot("example-site-password")
	c.click("Refresh tokens")
	c.waitFor("Tokens refreshed.")

	c.click("Sign out")
	c.waitFor("You are signed out")
	c.presence(false)
	c.click("Sign in")
	c.waitFor("Email or username")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.waitFor("Sign in with a passkey")
	c.presence(true)
	c.click("Sign in with a passkey")
	c.waitFor("You signed in with a passkey")
	c.waitFor("amr: hwk user mfa")
	c.screenshot("example-site-passkey")
	if !strings.HasPrefix(c.url(), site.URL+"/account") {
		t.Fatalf("signed in at %s", c.url())
	}
}
