package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/formclient"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/store"
)

// postJSON calls a JSON endpoint as the page script does.
func (b *browser) postJSON(path, csrf string, body any) (int, map[string]json.RawMessage) {
	b.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, b.p.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", b.p.URL)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]json.RawMessage{}
	json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

func jsonString(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// csrfOf reads a page's CSRF token, as the page script does.
func csrfOf(p *page) string { return inputValue(p, "csrf_token") }

// addPasskeyHTTP adds a passkey with a software authenticator, as the
// Settings page script would, for a signed-in browser: the status and
// answer of the step that refused it, or 200.
func (b *browser) addPasskeyHTTP(a *softauthn.Authenticator) (int, map[string]json.RawMessage) {
	b.t.Helper()
	settings := b.Get(b.p.URL + "/settings/passkeys")
	_, err := a.Register(b, csrfOf(settings.page), "")
	var refused *formclient.Refused
	switch {
	case errors.As(err, &refused):
		out := map[string]json.RawMessage{}
		json.Unmarshal(refused.Body, &out)
		return refused.Status, out
	case err != nil:
		b.t.Fatal(err)
	}
	return http.StatusOK, nil
}

// PostJSON makes the browser a softauthn.Poster: it calls a JSON endpoint
// as the page script does.
func (b *browser) PostJSON(path, csrf string, body, out any) error {
	return formclient.PostJSON(b.client, b.p.URL, path, csrf, body, out)
}

func signInPage(t *testing.T, b *browser, p *provider, login, pw string) {
	t.Helper()
	r := b.Get(p.URL + "/login")
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": login})
	if strings.Contains(r.Text(), "Use Password") {
		r = b.Submit(r.page, "Use Password", nil)
	}
	r = b.Submit(r.page, "Sign in", map[string]string{"Password": pw})
	if !strings.Contains(r.URL.Path, "/settings") && !strings.Contains(r.URL.Path, "/login/suggest") {
		t.Fatalf("sign-in ended at %s: %s", r.URL, r.Text())
	}
}

// A passkey sign-in through a client's code flow: the ID token carries
// amr ["hwk","user","mfa"] and a fresh auth_time.
func TestPasskeySignInOverHTTP(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	key := softauthn.New(p.URL)
	memberWithPasskey(t, p, aliceLogin, alicePassword, key)

	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	b := newBrowser(t, p)
	p.clock.Advance(time.Minute)
	r := b.Get(site.oauth.AuthCodeURL("s1"))
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	if !strings.Contains(r.Text(), "Sign in with a passkey") || !strings.Contains(r.Text(), "Use Password") {
		t.Fatalf("passkey step: %s", r.Text())
	}
	authRequestID := r.URL.Query().Get("authRequestID")
	if authRequestID == "" {
		authRequestID = inputValue(r.page, "authRequestID")
	}
	csrf := csrfOf(r.page)
	st, begin := b.postJSON("/webauthn/login/begin", csrf, map[string]any{"login": aliceLogin})
	if st != 200 {
		t.Fatalf("begin: %d %s", st, begin)
	}
	answer, err := key.Get(begin["publicKey"])
	if err != nil {
		t.Fatal(err)
	}
	st, done := b.postJSON("/webauthn/login/finish", csrf, map[string]any{"ceremony": jsonString(begin["ceremony"]),
		"credential": json.RawMessage(answer), "authRequestID": authRequestID})
	if st != 200 {
		t.Fatalf("finish: %d %s", st, done)
	}
	// The answer goes to the site at once, not through the callback.
	to, err := url.Parse(jsonString(done["redirect"]))
	if err != nil || !strings.HasPrefix(to.String(), siteRedirect+"?") || to.Query().Get("code") == "" ||
		to.Query().Get("state") != "s1" || to.Query().Get("iss") != p.URL {
		t.Fatalf("finish sends the browser to %q, want the site's redirect URI with code, state and iss", to)
	}
	_, idt := site.exchange(mustNoError(t, to))
	c := claimsOf(t, idt)
	if !slices.Equal(c.AMR, []string{"hwk", "user", "mfa"}) || time.Since(time.Unix(c.AuthTime, 0)) > time.Minute+5*time.Second {
		t.Fatalf("amr %v auth_time %d", c.AMR, c.AuthTime)
	}
	var signals struct {
		RPID     string   `json:"rpId"`
		Accepted []string `json:"allAcceptedCredentialIds"`
	}
	json.Unmarshal(done["signals"], &signals)
	if signals.RPID != "localhost" || len(signals.Accepted) != 1 {
		t.Fatalf("signals %s", done["signals"])
	}

	// form_post needs a page: the callback, in the browser that signed in.
	b = newBrowser(t, p)
	r = b.Get(site.oauth.AuthCodeURL("s2", oauth2.SetAuthURLParam("response_mode", "form_post")))
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	csrf = csrfOf(r.page)
	_, begin = b.postJSON("/webauthn/login/begin", csrf, map[string]any{"login": aliceLogin})
	answer, err = key.Get(begin["publicKey"])
	if err != nil {
		t.Fatal(err)
	}
	st, done = b.postJSON("/webauthn/login/finish", csrf, map[string]any{"ceremony": jsonString(begin["ceremony"]),
		"credential": json.RawMessage(answer), "authRequestID": inputValue(r.page, "authRequestID")})
	if st != 200 || !strings.HasPrefix(jsonString(done["redirect"]), p.URL+"/authorize/callback?") {
		t.Fatalf("form_post finish: %d, redirect %q", st, done["redirect"])
	}
	fields := formFields(t, b.Get(jsonString(done["redirect"])).page, siteRedirect)
	if fields["code"] == "" || fields["state"] != "s2" {
		t.Fatalf("form_post answer: %v", fields)
	}
}

// The JSON endpoints need the page's CSRF token and a JSON body; adding a
// passkey needs a recent sign-in and a rollout that includes the member;
// a ceremony belongs to the browser that began it.
func TestPasskeyEndpointGuards(t *testing.T) {
	p := startProvider(t, nil) // rollout: admins
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	page := b.Get(p.URL + "/settings")
	csrf := csrfOf(page.page)

	if st, body := b.postJSON("/webauthn/login/begin", "", map[string]any{}); st != 403 || jsonString(body["error"]) != "CSRF" {
		t.Errorf("begin without CSRF token: %d %s", st, body)
	}
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/webauthn/login/begin", strings.NewReader(`login=alice`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", csrf)
	if resp, err := b.client.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("form body to a JSON endpoint: %v %d", err, resp.StatusCode)
	}
	if st, body := b.postJSON("/webauthn/register/begin", csrf, map[string]any{}); st != 403 || jsonString(body["error"]) != "PK-ROLLOUT" {
		t.Errorf("registration for a member outside the rollout: %d %s", st, body)
	}
	anonymous := newBrowser(t, p)
	anon := anonymous.Get(p.URL + "/login")
	if st, body := anonymous.postJSON("/webauthn/register/begin", csrfOf(anon.page), map[string]any{}); st != 401 {
		t.Errorf("registration without a session: %d %s", st, body)
	}

	// An admin must have signed in recently.
	if _, err := p.store.UpdateUser(context.Background(), userID(t, p, aliceLogin), func(u *store.User) error {
		u.Role = store.RoleAdmin
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(p.cfg.Sessions.ReauthAfter.D() + time.Minute)
	st, body := b.postJSON("/webauthn/register/begin", csrf, map[string]any{})
	if st != 401 || jsonString(body["error"]) != "PK-REAUTH" || jsonString(body["reauth"]) == "" {
		t.Fatalf("stale sign-in: %d %s", st, body)
	}
	// The re-authentication link asks for the sign-in again, then returns.
	r := b.Get(p.URL + jsonString(body["reauth"]))
	if !strings.Contains(r.Text(), "Email or username") || !strings.Contains(r.Body, `value="alice"`) {
		t.Fatalf("reauth page: %s", r.Text())
	}
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	r = b.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword})
	if !strings.HasSuffix(r.URL.Path, "/settings/passkeys") {
		t.Fatalf("after re-authentication: %s", r.URL)
	}
	key := softauthn.New(p.URL)
	if st, body := b.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("add after re-authentication: %d %s", st, body)
	}

	// A ceremony begun in one browser cannot be finished in another.
	other := newBrowser(t, p)
	otherPage := other.Get(p.URL + "/login")
	loginPage := b.Get(p.URL + "/settings/passkeys")
	st, begin := b.postJSON("/webauthn/login/begin", csrfOf(loginPage.page), map[string]any{"login": aliceLogin})
	if st != 200 {
		t.Fatal(st)
	}
	answer, _ := key.Get(begin["publicKey"])
	st, body = other.postJSON("/webauthn/login/finish", csrfOf(otherPage.page), map[string]any{"ceremony": jsonString(begin["ceremony"]),
		"credential": json.RawMessage(answer)})
	if st != 400 || jsonString(body["error"]) != "PK-EXPIRED" {
		t.Fatalf("finish in another browser: %d %s", st, body)
	}
}

// The app association files are served from the configuration.
func TestWellKnownServed(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.Passkeys.Android = []config.AndroidApp{{PackageName: "com.example.app",
			SHA256CertFingerprints: []string{"14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"}}}
		c.Passkeys.IOS = []config.IOSApp{{AppID: "ABCDE12345.com.example.app"}}
	})
	// Byte for byte what the configuration says.
	for path, want := range map[string]string{
		"/.well-known/assetlinks.json": `[{"relation":["delegate_permission/common.get_login_creds"],"target":{"namespace":"android_app",` +
			`"package_name":"com.example.app","sha256_cert_fingerprints":["14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"]}}]`,
		"/.well-known/apple-app-site-association": `{"webcredentials":{"apps":["ABCDE12345.com.example.app"]}}`,
	} {
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || string(body) != want {
			t.Errorf("%s: %d %s\n%s\nwant\n%s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
		}
	}
	// No extra origins configured: no related origins file.
	resp, _ := http.Get(p.URL + "/.well-known/webauthn")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/.well-known/webauthn without extra origins: %d", resp.StatusCode)
	}

	// Extra web origins are published as related origins.
	q := startProvider(t, func(c *config.Config) { c.Passkeys.Origins = []string{"https://community.example"} })
	resp, err := http.Get(q.URL + "/.well-known/webauthn")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"origins":["` + q.URL + `","https://community.example"]}`; resp.StatusCode != 200 || string(body) != want {
		t.Errorf("/.well-known/webauthn: %d\n%s\nwant\n%s", resp.StatusCode, body, want)
	}
}

// pageSignals reads what Settings > Passkeys asks the page script to tell
// the password manager (the WebAuthn Signal API).
func pageSignals(t *testing.T, p *page) (signals struct {
	RPID     string   `json:"rpId"`
	Accepted []string `json:"allAcceptedCredentialIds"`
	Unknown  string   `json:"unknownCredentialId"`
}) {
	t.Helper()
	el := findByID(p.Doc, "passkey-signals")
	if el == nil {
		t.Fatalf("no passkey-signals on %s: %s", p.URL, p.Text())
	}
	if err := json.Unmarshal([]byte(textOf(el)), &signals); err != nil {
		t.Fatalf("passkey-signals %q: %v", textOf(el), err)
	}
	return signals
}

// finishPasskeySignIn answers the options of /webauthn/login/begin with
// key, as the page script does, and posts the assertion to
// /webauthn/login/finish.
func (b *browser) finishPasskeySignIn(csrf string, key *softauthn.Authenticator, begin map[string]json.RawMessage) (int, map[string]json.RawMessage) {
	b.t.Helper()
	answer, err := key.Get(begin["publicKey"])
	if err != nil {
		b.t.Fatalf("authenticator: %v (begin answered %s)", err, begin)
	}
	return b.postJSON("/webauthn/login/finish", csrf, map[string]any{"ceremony": jsonString(begin["ceremony"]), "credential": json.RawMessage(answer)})
}

// signedInWithPasskey signs login in to Settings in a new browser and adds
// a passkey on a software authenticator.
func signedInWithPasskey(t *testing.T, p *provider, login, pw string) (*browser, *softauthn.Authenticator) {
	t.Helper()
	b := newBrowser(t, p)
	signInPage(t, b, p, login, pw)
	key := softauthn.New(p.URL)
	if st, body := b.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("add passkey for %s: %d %s", login, st, body)
	}
	return b, key
}

// A link to Settings > Passkeys cannot make the member's password manager
// forget a passkey that still works: ?unknown= is only signalled after
// this member deleted that passkey in this browser, shortly before, and
// never while the passkey is still registered.
func TestUnknownSignalOnlyAfterRealDelete(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	b, key := signedInWithPasskey(t, p, aliceLogin, alicePassword)
	first := mustOnlyPasskey(t, p)
	live := base64.RawURLEncoding.EncodeToString(first.CredentialID)

	// Forged: the id of a live passkey (anyone gets it from
	// /webauthn/login/begin), with no signature or a made-up one.
	for _, q := range []string{
		"?unknown=" + live,
		"?done=deleted&unknown=" + live,
		"?done=deleted&unknown=" + live + "&usig=" + strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10) + ".AAAA",
	} {
		r := b.Get(p.URL + "/settings/passkeys" + q)
		s := pageSignals(t, r.page)
		if s.Unknown != "" || strings.Contains(r.Body, `"unknownCredentialId"`) {
			t.Errorf("%s: the page signals %q as unknown", q, s.Unknown)
		}
		if len(s.Accepted) != 1 || s.Accepted[0] != live {
			t.Errorf("%s: accepted %v", q, s.Accepted)
		}
	}

	// A real delete: the page after it signals the deleted passkey.
	r := b.Submit(b.Get(p.URL+"/settings/passkeys").page, "Delete passkey", nil)
	if !strings.Contains(r.Text(), "Your passkey was deleted.") {
		t.Fatalf("after delete: %s", r.Text())
	}
	if s := pageSignals(t, r.page); s.Unknown != live || len(s.Accepted) != 0 {
		t.Fatalf("after a real delete: unknown %q accepted %v, want %q and none", s.Unknown, s.Accepted, live)
	}
	afterDelete := r.URL.String()

	// That link is for this browser only: another of alice's browsers gets
	// no signal from it.
	other := newBrowser(t, p)
	signInPage(t, other, p, aliceLogin, alicePassword)
	if s := pageSignals(t, other.Get(afterDelete).page); s.Unknown != "" {
		t.Errorf("the link after a delete signals in another browser: %q", s.Unknown)
	}

	// If the same credential is registered again, the old link no longer
	// signals it: a passkey in the list is never reported unknown.
	key.FixedCredentialID = first.CredentialID
	if st, body := b.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("add the passkey again: %d %s", st, body)
	}
	if s := pageSignals(t, b.Get(afterDelete).page); s.Unknown != "" || len(s.Accepted) != 1 {
		t.Errorf("the old link signals a registered passkey: unknown %q accepted %v", s.Unknown, s.Accepted)
	}

	// And the link expires within minutes.
	if err := p.store.DeletePasskey(context.Background(), first.UserID, mustOnlyPasskey(t, p).ID); err != nil {
		t.Fatal(err)
	}
	if s := pageSignals(t, b.Get(afterDelete).page); s.Unknown != live {
		t.Fatalf("before expiry: unknown %q", s.Unknown)
	}
	p.clock.Advance(5 * time.Minute)
	if s := pageSignals(t, b.Get(afterDelete).page); s.Unknown != "" {
		t.Errorf("an expired link still signals: %q", s.Unknown)
	}
}

func mustOnlyPasskey(t *testing.T, p *provider) store.Passkey {
	t.Helper()
	pks, err := p.store.PasskeysByUser(context.Background(), userID(t, p, aliceLogin))
	if err != nil || len(pks) != 1 {
		t.Fatalf("passkeys: %v %v", pks, err)
	}
	return pks[0]
}

// A sign-in with a passkey the site no longer knows answers with the
// credential and the configured RP ID, which the page script passes to
// signalUnknownCredential (passkeys.rp_id may be a parent domain of the
// page's host, so the page must not guess it from its own address).
func TestUnknownPasskeyAnswerNamesRPID(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	_, key := signedInWithPasskey(t, p, aliceLogin, alicePassword)
	pk := mustOnlyPasskey(t, p)
	if err := p.store.DeletePasskey(context.Background(), pk.UserID, pk.ID); err != nil {
		t.Fatal(err)
	}
	anon := newBrowser(t, p)
	csrf := csrfOf(anon.Get(p.URL + "/login").page)
	st, begin := anon.postJSON("/webauthn/login/begin", csrf, map[string]any{"conditional": true})
	if st != 200 {
		t.Fatalf("begin: %d %s", st, begin)
	}
	st, done := anon.finishPasskeySignIn(csrf, key, begin)
	if st != 400 || jsonString(done["error"]) != "PK-UNKNOWN" ||
		jsonString(done["credentialId"]) != base64.RawURLEncoding.EncodeToString(pk.CredentialID) {
		t.Fatalf("unknown passkey: %d %s", st, done)
	}
	if got := jsonString(done["rpId"]); got == "" || got != p.cfg.Passkeys.RPID {
		t.Fatalf("rpId %q in the answer, want the configured %q", got, p.cfg.Passkeys.RPID)
	}
	// The page script uses it, not the page's own host name.
	resp, err := http.Get(p.URL + "/static/passkey.js")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(js), "location.hostname") || !strings.Contains(string(js), "rpId: d.rpId") {
		t.Fatalf("passkey.js (%d) does not take the RP ID from the server", resp.StatusCode)
	}
}

// reportFailure begins a ceremony of stage (register or login) and
// reports it failed in the browser with code, as the page script does
// after a cancelled prompt. It returns the report's status.
func (b *browser) reportFailure(csrf, stage, code string) (int, map[string]json.RawMessage) {
	b.t.Helper()
	path := "/webauthn/login/begin"
	if stage == "register" {
		path = "/webauthn/register/begin"
	}
	st, begin := b.postJSON(path, csrf, map[string]any{})
	if st != 200 {
		b.t.Fatalf("begin a %s ceremony: %d %s", stage, st, begin)
	}
	return b.postJSON("/webauthn/failure", csrf, map[string]any{"stage": stage, "code": code, "ceremony": jsonString(begin["ceremony"])})
}

// memberWithPasskey signs login in to Settings in a new browser and adds
// key's passkey there, as the Settings page script does, and returns the
// signed-in browser.
func memberWithPasskey(t *testing.T, p *provider, login, pw string, key *softauthn.Authenticator) *browser {
	t.Helper()
	b := newBrowser(t, p)
	signInPage(t, b, p, login, pw)
	if st, body := b.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("add a passkey for %s: %d %s", login, st, body)
	}
	return b
}

// The passkey step comes with its ceremony begun: options for the
// member's own passkeys, which sign in with no call to begin, once, and
// only in the browser that was shown them. An app's built-in browser,
// which gets no passkey prompt, and the password step get none.
func TestPasskeyStepCarriesItsCeremony(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	key := softauthn.New(p.URL)
	memberWithPasskey(t, p, aliceLogin, alicePassword, key)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	passkeyStep := func(b *browser, state string) *result {
		r := b.Get(site.oauth.AuthCodeURL(state))
		return b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	}

	type options struct {
		Ceremony  string          `json:"ceremony"`
		PublicKey json.RawMessage `json:"publicKey"`
	}
	optionsOf := func(r *result) options {
		t.Helper()
		var opts options
		var pk struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
			Allow     []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
		}
		raw := r.page.Script("passkey-options")
		if err := json.Unmarshal([]byte(raw), &opts); err != nil || json.Unmarshal(opts.PublicKey, &pk) != nil {
			t.Fatalf("the passkey step's options %q: %v\n%s", raw, err, r.Body)
		}
		own := base64.RawURLEncoding.EncodeToString(key.Credentials()[0])
		if opts.Ceremony == "" || pk.Challenge == "" || pk.RPID != "localhost" || len(pk.Allow) != 1 || pk.Allow[0].ID != own {
			t.Fatalf("options %s: want a ceremony for the member's passkey %s", raw, own)
		}
		return opts
	}
	finish := func(b *browser, csrf string, opts options, authRequestID string) (int, map[string]json.RawMessage) {
		t.Helper()
		answer, err := key.Get(opts.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return b.postJSON("/webauthn/login/finish", csrf, map[string]any{"ceremony": opts.Ceremony,
			"credential": json.RawMessage(answer), "authRequestID": authRequestID})
	}

	b := newBrowser(t, p)
	r := passkeyStep(b, "s1")
	opts := optionsOf(r)
	st, done := finish(b, csrfOf(r.page), opts, inputValue(r.page, "authRequestID"))
	if st != 200 {
		t.Fatalf("finish with the page's options: %d %s", st, done)
	}
	to, err := url.Parse(jsonString(done["redirect"]))
	if err != nil || to.Query().Get("code") == "" || to.Query().Get("state") != "s1" {
		t.Fatalf("finish sends the browser to %q, want the site with a code", done["redirect"])
	}
	if _, idt := site.exchange(to.Query().Get("code")); !slices.Contains(claimsOf(t, idt).AMR, "hwk") {
		t.Fatal("the ID token does not say a passkey signed in")
	}
	if st, body := finish(b, csrfOf(r.page), opts, inputValue(r.page, "authRequestID")); st == 200 ||
		!strings.Contains(string(body["error"]), "PK-EXPIRED") {
		t.Fatalf("the page's ceremony finished twice: %d %s", st, body)
	}
	// Another browser that learnt a page's options cannot finish with them.
	b = newBrowser(t, p)
	r = passkeyStep(b, "s2")
	other := newBrowser(t, p)
	if st, body := finish(other, csrfOf(other.Get(p.URL+"/login").page), optionsOf(r), inputValue(r.page, "authRequestID")); st == 200 {
		t.Fatalf("a ceremony finished in a browser it was not begun in: %s", body)
	}

	// "Use Password" and an app's built-in browser: no ceremony.
	pw := b.Submit(passkeyStep(b, "s3").page, "Use Password", nil)
	if pw.page.Script("passkey-options") != "" {
		t.Error("the password step carries passkey options")
	}
	wv := newBrowser(t, p)
	wv.client.Transport = userAgent{"Mozilla/5.0 (Linux; Android 14; Pixel 8; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0 Mobile Safari/537.36"}
	if r := passkeyStep(wv, "s4"); r.page.Script("passkey-options") != "" || !strings.Contains(r.Text(), "PK-WEBVIEW") {
		t.Errorf("in a WebView: want the way out and no ceremony:\n%s", r.Text())
	}
}

// The ceremonies the passkey step begins count against the address's
// allowance like those of the begin endpoint: past it, the page comes
// without options and begin refuses too.
func TestPasskeyStepCeremonyThrottled(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.Passkeys.Rollout = config.RolloutEveryone
		c.Throttle.CeremonyPerMinute = 2
	})
	memberWithPasskey(t, p, aliceLogin, alicePassword, softauthn.New(p.URL)) // the minute's first ceremony
	step := func() *result {
		b := newBrowser(t, p)
		r := b.Get(p.URL + "/login")
		return b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	}
	if r := step(); r.page.Script("passkey-options") == "" {
		t.Fatal("the second ceremony of the minute: no options on the page")
	}
	b := newBrowser(t, p)
	r := b.Submit(b.Get(p.URL+"/login").page, "Continue", map[string]string{"Email or username": aliceLogin})
	if !strings.Contains(r.Text(), "Sign in with a passkey") || r.page.Script("passkey-options") != "" {
		t.Fatalf("past the allowance: want the passkey step without options:\n%s", r.Body)
	}
	if st, body := b.postJSON("/webauthn/login/begin", csrfOf(r.page), map[string]any{"login": aliceLogin}); st != http.StatusTooManyRequests {
		t.Fatalf("begin past the allowance: %d %s", st, body)
	}
}
