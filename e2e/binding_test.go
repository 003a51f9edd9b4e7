package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"
)

// An authorization request belongs to the browser that sent it. An
// attacker who starts one and lures a signed-in member to its sign-in
// link gets neither the member's sign-in nor the code.
func TestAuthRequestBoundToBrowser(t *testing.T) {
	p := startProvider(t, nil)
	victim := newBrowser(t, p)
	signInPage(t, victim, p, aliceLogin, alicePassword)

	attacker := newBrowser(t, p)
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	start := attacker.Get(authorizeURL(p, map[string]string{"client_id": appID, "redirect_uri": "http://127.0.0.1:4444/callback",
		"response_type": "code", "scope": "openid offline_access", "code_challenge": challenge, "code_challenge_method": "S256", "state": "x"}))
	// The sign-in page answers the request; the link to it names its id.
	id := inputValue(start.page, "authRequestID")
	if id == "" {
		t.Fatalf("no sign-in page for the request: %s", start.Text())
	}
	loginURL := p.URL + "/login?authRequestID=" + url.QueryEscape(id)

	// The victim opens the link: SSO must not complete the attacker's request.
	r := victim.Get(loginURL)
	if r.Away != nil || !strings.Contains(r.Text(), "LOGIN-BROWSER") {
		t.Fatalf("victim's browser: %v %s", r.Away, r.Text())
	}
	// Polling the callback without the victim's session yields no code.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := plain.Get(p.URL + "/authorize/callback?id=" + url.QueryEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(resp.Header.Get("Location"), "code=") || strings.Contains(string(body), "code=") {
		t.Fatalf("callback handed out a code: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// Errors for a form_post request are posted too; form_post works for a
// private-use scheme.
func TestFormPostErrorsAndSchemes(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	r := b.Get(authorizeURL(p, siteParams(map[string]string{"response_mode": "form_post", "prompt": "none"})))
	if r.Away != nil {
		t.Fatalf("form_post error redirected: %s", r.Away)
	}
	fields := formFields(t, r.page, siteRedirect)
	if fields["error"] != "login_required" || fields["state"] != "st" || fields["iss"] != p.URL {
		t.Fatalf("form_post error fields: %v", fields)
	}

	verifier := oauth2.GenerateVerifier()
	app := newRP(t, p, appID, "", appRedirect, oauth2.AuthStyleInParams)
	r = b.Get(app.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "form_post")))
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	r = b.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword})
	fields = formFields(t, r.page, appRedirect)
	if fields["code"] == "" {
		t.Fatalf("form_post to the app: %v", fields)
	}
}

func formFields(t *testing.T, p *page, action string) map[string]string {
	t.Helper()
	form, _ := p.FormWithButton("Continue")
	if form == nil || attr(form, "action") != action {
		t.Fatalf("no form posting to %s: %s", action, p.Body)
	}
	fields := map[string]string{}
	walk(form, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" {
			fields[attr(n, "name")] = attr(n, "value")
		}
	})
	return fields
}

// Hostile or odd requests get a clear 4xx, never a 500, and never a
// redirect to an address that is not exactly registered.
func TestHostileRequests(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// As a browser navigating (no cookie yet): end_session is a page.
	get := func(u string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	for _, u := range []string{
		p.URL + "/end_session?client_id=nobody",
		p.URL + "/end_session?state=%zz",
		p.URL + "/end_session?id_token_hint=not.a.token&post_logout_redirect_uri=" + url.QueryEscape(siteLogout),
		p.URL + "/end_session?client_id=" + appID + "&post_logout_redirect_uri=" + url.QueryEscape("com.example.app:/oauth2redirect#x"),
	} {
		st, loc := get(u)
		if st != http.StatusSeeOther || loc != "/logout" {
			t.Errorf("%s: %d %s, want the logout confirmation", u, st, loc)
		}
		// From a server (no browser at all) it is refused outright, once
		// the request can be read.
		if strings.Contains(u, "%zz") {
			continue
		}
		if resp, err := noRedirect.Get(u); err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s from a server: %v %v, want 400", u, resp.StatusCode, err)
		} else {
			resp.Body.Close()
		}
	}
	if st, _ := get(p.URL + "/authorize?client_id=" + siteID + "&redirect_uri=" + url.QueryEscape(siteRedirect) + "&response_type=code&scope=openid&state=a&x=%zz"); st != http.StatusBadRequest {
		t.Errorf("unparsable authorization request: %d", st)
	}
	r := b.Get(authorizeURL(p, siteParams(map[string]string{"request_uri": "https://attacker.example/req"})))
	if r.Away == nil || oauthError(r.Away) != "request_uri_not_supported" {
		t.Errorf("request_uri: %v", r.Away)
	}
	// Loopback near-misses for the app.
	for _, uri := range []string{"http://127.0.0.1:5555/callback#frag", "http://evil@127.0.0.1:5555/callback", "http://127.0.0.1:5555/call%62ack"} {
		r := b.Get(authorizeURL(p, map[string]string{"client_id": appID, "redirect_uri": uri, "response_type": "code", "scope": "openid",
			"code_challenge": strings.Repeat("a", 43), "code_challenge_method": "S256"}))
		if r.Away != nil || r.Status != http.StatusBadRequest {
			t.Errorf("loopback near-miss %s: %d %v", uri, r.Status, r.Away)
		}
	}

	tokenURL := p.URL + "/oauth/token"
	st, body, _ := tokenCall(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"a.b.c"}}, "", "")
	wantOAuthError(t, "JWT client assertion", st, body, 401, "invalid_client")
	st, body, _ = tokenCall(t, tokenURL, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"a.b.c"}}, siteID, siteSecret)
	wantOAuthError(t, "jwt-bearer grant", st, body, 400, "unsupported_grant_type")
	st, body, _ = tokenCall(t, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {"%zz"}}, siteID, siteSecret)
	if st >= 500 {
		t.Errorf("odd code: %d %v", st, body)
	}
	st, body, h := tokenCall(t, p.URL+"/oauth/introspect", url.Values{"token": {"x"}}, "", "")
	if st != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("introspection without client authentication: %d %v", st, body)
	}

	// Userinfo: no token in the URL; a bad token in the body is invalid_token.
	resp, _ := http.Get(p.URL + "/userinfo?access_token=abc")
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("access token in the URL: %d", resp.StatusCode)
	}
	st, body, h = tokenCall(t, p.URL+"/userinfo", url.Values{"access_token": {"garbage"}}, "", "")
	if st != 401 || body["error"] != "invalid_token" || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("bad token in the body: %d %v %q", st, body, h.Get("WWW-Authenticate"))
	}
}

// A refresh token revoked with the wrong token_type_hint is still revoked.
func TestRevokeWithWrongHint(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, "openid", "offline_access")
	tok, _ := site.exchange(mustNoError(t, newBrowser(t, p).signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	st, _, _ := tokenCall(t, p.URL+"/revoke", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"access_token"}}, siteID, siteSecret)
	if st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret)
	wantOAuthError(t, "refresh after revocation", st, body, 400, "invalid_grant")
}

// An id_token_hint names the account the client expects; signing in as
// someone else does not hand the client a code for them.
func TestIDTokenHintNamesTheAccount(t *testing.T) {
	p := startProvider(t, nil)
	newMember(t, p, "bob", "bob password 123")
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	hint := idTokenFor(t, site, b, aliceLogin, alicePassword)
	fresh := newBrowser(t, p)
	r := fresh.Get(site.oauth.AuthCodeURL("s", oauth2.SetAuthURLParam("id_token_hint", hint)))
	r = fresh.Submit(r.page, "Continue", map[string]string{"Email or username": "bob"})
	r = fresh.Submit(r.page, "Sign in", map[string]string{"Password": "bob password 123"})
	if r.Away != nil || !strings.Contains(r.Text(), "LOGIN-OTHER-ACCOUNT") {
		t.Fatalf("signed in as bob with alice's hint: %v %s", r.Away, r.Text())
	}
}

// The authorization endpoint answers with the sign-in page itself, in the
// request's language, with no redirect to a login address first; a
// browser already signed in goes back to the client at once, and
// prompt=none without a session gets login_required there.
func TestAuthorizeAnswersWithTheSignInPage(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	var hops []string
	b.client.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		hops = append(hops, r.URL.Path)
		return http.ErrUseLastResponse
	}
	r := b.Get(authorizeURL(p, siteParams(map[string]string{"ui_locales": "de"})))
	if r.Status != http.StatusOK || r.URL.Path != "/authorize" || len(hops) != 0 || inputValue(r.page, "authRequestID") == "" {
		t.Fatalf("authorize: %d at %s after %v, want the sign-in page at once", r.Status, r.URL.Path, hops)
	}
	lang := ""
	walk(r.Doc, func(n *htmlNode) {
		if n.Data == "html" {
			lang = attr(n, "lang")
		}
	})
	if lang != "de" {
		t.Errorf("the page is in %q, want the request's ui_locales (de)", lang)
	}
	away := b.signIn(authorizeURL(p, siteParams(nil)), aliceLogin, alicePassword)
	if mustNoError(t, away) == "" {
		t.Fatal("no code after signing in")
	}
	hops = nil
	r = b.Get(authorizeURL(p, siteParams(map[string]string{"state": "again"})))
	if r.Away == nil || r.Away.Query().Get("code") == "" || r.Away.Query().Get("state") != "again" || len(hops) != 1 {
		t.Fatalf("signed in: %v after %v, want the client with a code in one redirect", r.Away, hops)
	}
	r = newBrowser(t, p).Get(authorizeURL(p, siteParams(map[string]string{"prompt": "none"})))
	if r.Away == nil || r.Away.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none signed out: %v %s", r.Away, r.Text())
	}
}
