package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/store"
)

// addAdmin creates the admin account of the admin tests.
func addAdmin(t *testing.T, p *provider) *store.User {
	t.Helper()
	u := newMember(t, p, adminLogin, adminPassword)
	if _, err := p.store.UpdateUser(context.Background(), u.ID, func(x *store.User) error { x.Role = store.RoleAdmin; return nil }); err != nil {
		t.Fatal(err)
	}
	return u
}

// events lists the audit events of kind, oldest first.
func events(t *testing.T, p *provider, kind string) []store.AuditEvent {
	t.Helper()
	list, err := p.store.ListAudit(context.Background(), store.AuditFilter{Kinds: []string{kind}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list)
	return list
}

// Members cannot open the console; admins can, and find members.
func TestAdminOnly(t *testing.T) {
	p := startProvider(t, nil)
	addAdmin(t, p)
	member := newBrowser(t, p)
	signInPage(t, member, p, aliceLogin, alicePassword)
	for _, path := range []string{"/admin", "/admin/members", "/admin/rollout", "/admin/audit", "/admin/audit/export"} {
		r := member.Get(p.URL + path)
		if r.Status != http.StatusForbidden || !strings.Contains(r.Text(), "ADMIN-ONLY") {
			t.Errorf("member at %s: %d %s", path, r.Status, r.Text())
		}
	}
	anonymous := newBrowser(t, p)
	if r := anonymous.Get(p.URL + "/admin"); !strings.Contains(r.Text(), "Email or username") {
		t.Errorf("anonymous at /admin: %s", r.Text())
	}
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	r := adm.Get(p.URL + "/admin/members?q=ALICE")
	if r.Status != 200 || !strings.Contains(r.Text(), "alice@example.org") || strings.Contains(r.Text(), "admin@example.org") {
		t.Fatalf("member search: %d %s", r.Status, r.Text())
	}
	r = adm.Get(p.URL + "/admin/clients")
	if !strings.Contains(r.Text(), "community-site") || strings.Contains(r.Body, siteSecret) || strings.Contains(r.Body, "argon2id") {
		t.Fatalf("clients page: %s", r.Text())
	}
}

// memberAndAdmin starts a provider where alice, on her phone, has a
// passkey and the site's tokens (with a refresh token), and an admin is
// signed in to the console.
func memberAndAdmin(t *testing.T) (p *provider, alice string, phone *browser, key *softauthn.Authenticator, tok *oauth2.Token, adm *browser) {
	t.Helper()
	p = startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	addAdmin(t, p)
	alice = userID(t, p, aliceLogin)
	phone, key = signedInWithPasskey(t, p, aliceLogin, alicePassword)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, "openid", "offline_access")
	tok, _ = site.exchange(mustNoError(t, phone.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	adm = newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	return p, alice, phone, key, tok, adm
}

// An admin deletes a member's passkey for a lost device: it no longer
// signs in. Sign out everywhere ends the member's sessions and tokens.
func TestAdminDeletesPasskeyAndSignsOut(t *testing.T) {
	p, alice, phone, key, tok, adm := memberAndAdmin(t)
	r := adm.Get(p.URL + "/admin/members/" + alice)
	if !strings.Contains(r.Text(), "Passkeys") || !strings.Contains(r.Text(), "Synced") {
		t.Fatalf("member page: %s", r.Text())
	}
	r = adm.Submit(r.page, "Delete passkey", nil)
	if !strings.Contains(r.Text(), "The passkey was deleted.") || !strings.Contains(r.Text(), "No passkeys.") {
		t.Fatalf("after delete: %s", r.Text())
	}
	// The deleted passkey cannot sign in.
	b := newBrowser(t, p)
	page := b.Get(p.URL + "/login")
	csrf := csrfOf(page.page)
	_, begin := b.postJSON("/webauthn/login/begin", csrf, map[string]any{"conditional": false})
	st, done := b.finishPasskeySignIn(csrf, key, begin)
	if st != 400 || jsonString(done["error"]) != "PK-UNKNOWN" {
		t.Fatalf("deleted passkey: %d %s", st, done)
	}

	r = adm.Submit(adm.Get(p.URL+"/admin/members/"+alice).page, "Yes, sign out everywhere", nil)
	if !strings.Contains(r.Text(), "signed out everywhere") || !strings.Contains(r.Text(), "Not signed in anywhere.") {
		t.Fatalf("sign out everywhere: %s", r.Text())
	}
	if r := phone.Get(p.URL + "/settings"); !strings.Contains(r.Text(), "Email or username") {
		t.Fatal("the member's session survived")
	}
	st2, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret)
	wantOAuthError(t, "refresh after sign out everywhere", st2, body, 400, "invalid_grant")

	// Disable and enable.
	r = adm.Submit(adm.Get(p.URL+"/admin/members/"+alice).page, "Yes, disable", nil)
	if !strings.Contains(r.Text(), "The account is disabled") {
		t.Fatalf("disable: %s", r.Text())
	}
	r = adm.Submit(r.page, "Enable account", nil)
	if !strings.Contains(r.Text(), "The account is enabled again.") {
		t.Fatalf("enable: %s", r.Text())
	}

	// The audit log holds each admin action, by the admin, about alice.
	adminID := userID(t, p, adminLogin)
	for _, kind := range []string{"passkey.deleted", "admin.sessions.revoked", "admin.user.disabled", "admin.user.enabled"} {
		ev := events(t, p, kind)
		if len(ev) == 0 {
			t.Errorf("no %s event", kind)
			continue
		}
		last := ev[len(ev)-1]
		if last.UserID != alice || last.ActorID != adminID || last.IP == "" || last.UserAgent == "" {
			t.Errorf("%s event: %+v", kind, last)
		}
	}
}

// A recovery link works once and expires; the admin never sees the
// password.
func TestRecoveryLink(t *testing.T) {
	p := startProvider(t, nil)
	addAdmin(t, p)
	alice := userID(t, p, aliceLogin)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	create := func() string {
		r := adm.Submit(adm.Get(p.URL+"/admin/members/"+alice).page, "Create recovery link", nil)
		m := regexp.MustCompile(`http://[^\s<"]+/recover\?token=[A-Za-z0-9_-]+`).FindString(r.Body)
		if m == "" {
			t.Fatalf("no recovery link shown: %s", r.Text())
		}
		return m
	}
	link := create()
	member := newBrowser(t, p)
	r := member.Get(link)
	if !strings.Contains(r.Text(), "Set a new password") {
		t.Fatalf("recovery page: %s", r.Text())
	}
	r = member.Submit(r.page, "Set password", map[string]string{"New password": "recovered passphrase 1"})
	if !strings.Contains(r.Text(), "Your new password is set") {
		t.Fatalf("after recovery: %s", r.Text())
	}
	// Once only.
	if r := newBrowser(t, p).Get(link); r.Status != http.StatusNotFound || !strings.Contains(r.Text(), "RECOVERY-LINK") {
		t.Fatalf("second use: %d %s", r.Status, r.Text())
	}
	// The new password works, the old one does not.
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader)
	mustNoError(t, newBrowser(t, p).signIn(site.oauth.AuthCodeURL("s"), aliceLogin, "recovered passphrase 1"))
	// Expiry.
	link = create()
	p.clock.Advance(p.cfg.Admin.RecoveryLinkLifetime.D() + time.Second)
	if r := newBrowser(t, p).Get(link); r.Status != http.StatusNotFound {
		t.Fatalf("expired link: %d", r.Status)
	}
	created, used := events(t, p, "recovery.created"), events(t, p, "recovery.used")
	if len(created) != 2 || len(used) != 1 || used[0].UserID != alice || created[0].ActorID != userID(t, p, adminLogin) {
		t.Fatalf("recovery events: %+v %+v", created, used)
	}
}

// Changes in the console need a recent sign-in.
func TestAdminChangesNeedRecentSignIn(t *testing.T) {
	p := startProvider(t, nil)
	addAdmin(t, p)
	alice := userID(t, p, aliceLogin)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	page := adm.Get(p.URL + "/admin/members/" + alice)
	p.clock.Advance(p.cfg.Sessions.ReauthAfter.D() + time.Minute)
	r := adm.Submit(page.page, "Yes, disable", nil)
	if !strings.Contains(r.Text(), "Email or username") {
		t.Fatalf("stale admin changed an account: %s", r.Text())
	}
	if u, _ := p.store.UserByID(context.Background(), alice); u.Disabled {
		t.Fatal("the account was disabled without a recent sign-in")
	}
	// Signed in again, the admin finds the action waiting, not done, and
	// one press does it.
	if !strings.Contains(r.Text(), "Enter your password") && !strings.Contains(r.Text(), "Use Password") {
		r = adm.Submit(r.page, "Continue", map[string]string{"Email or username": adminLogin})
	}
	if strings.Contains(r.Text(), "Use Password") {
		r = adm.Submit(r.page, "Use Password", nil)
	}
	r = adm.Submit(r.page, "Sign in", map[string]string{"Password": adminPassword})
	if r.URL.Path != "/admin/confirm" || !strings.Contains(r.Text(), "You signed in again. “Yes, disable” was not done yet") {
		t.Fatalf("after signing in again: %s %s", r.URL, r.Text())
	}
	if u, _ := p.store.UserByID(context.Background(), alice); u.Disabled {
		t.Fatal("disabled before the admin confirmed")
	}
	r = adm.Submit(r.page, "Yes, disable", nil)
	if u, _ := p.store.UserByID(context.Background(), alice); !u.Disabled || !strings.Contains(r.Text(), "disabled") {
		t.Fatalf("the waiting action was not done: %s", r.Text())
	}
	// The confirm page offers only what it was signed for.
	forged := adm.Get(p.URL + "/admin/confirm?do=" + url.QueryEscape("/admin/members/"+alice+"/enable") + "&sig=x")
	if forged.Status != 404 {
		t.Errorf("an unsigned action was offered: %d", forged.Status)
	}
}

// Settings shows the member's last sign-ins; the help page explains the
// codes.
func TestSignInHistoryAndHelp(t *testing.T) {
	p := startProvider(t, nil)
	signInPage(t, newBrowser(t, p), p, aliceLogin, alicePassword)
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	r := b.Get(p.URL + "/settings")
	if !strings.Contains(r.Text(), "Recent sign-ins") || strings.Count(r.Text(), "Password") < 2 || !strings.Contains(r.Text(), "Your last 2 sign-ins") {
		t.Fatalf("history: %s", r.Text())
	}
	r = b.Get(p.URL + "/help/errors")
	for _, code := range []string{"PK-CANCELLED", "PK-ORIGIN", "PK-UNKNOWN", "LOGIN-EXPIRED", "CSRF"} {
		if !strings.Contains(r.Text(), code) {
			t.Errorf("help page lacks %s", code)
		}
	}
}

// The audit log records sign-ins (method, client, IP, user agent, code),
// passkey and password changes, and never a password, token or secret.
func TestAuditEvents(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, "openid", "offline_access")
	b := newBrowser(t, p)
	tok, _ := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	x := newBrowser(t, p)
	r := x.Get(site.oauth.AuthCodeURL("t"))
	r = x.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	x.Submit(r.page, "Sign in", map[string]string{"Password": "not-her-password"})

	key := softauthn.New(p.URL)
	b.addPasskeyHTTP(key)
	pks, _ := p.store.PasskeysByUser(context.Background(), userID(t, p, aliceLogin))
	settings := b.Get(p.URL + "/settings/passkeys")
	b.postForm("/settings/passkeys/"+pks[0].ID+"/rename", csrfOf(settings.page), url.Values{"name": {"Renamed"}})
	r = b.Submit(b.Get(p.URL+"/settings/passkeys").page, "Delete passkey", nil)
	r = b.Submit(b.Get(p.URL+"/settings").page, "Change password", map[string]string{"Current password": alicePassword, "New password": "a new passphrase 77"})
	remember("a new passphrase 77")

	alice := userID(t, p, aliceLogin)
	ok := events(t, p, "signin.success")
	if len(ok) == 0 || ok[0].UserID != alice || ok[0].ClientID != siteID || ok[0].Method != "pwd" || ok[0].Result != "ok" ||
		ok[0].IP != "127.0.0.1" || ok[0].UserAgent == "" {
		t.Errorf("sign-in event: %+v", ok)
	}
	bad := events(t, p, "signin.failure")
	if len(bad) != 1 || bad[0].UserID != alice || bad[0].Code != "LOGIN-WRONG" || bad[0].Result != "fail" || bad[0].ClientID != siteID {
		t.Errorf("failed sign-in event: %+v", bad)
	}
	for _, kind := range []string{"passkey.added", "passkey.renamed", "passkey.deleted", "password.changed", "suggestion.shown"} {
		ev := events(t, p, kind)
		if len(ev) != 1 || ev[0].UserID != alice || ev[0].ActorID != alice {
			t.Errorf("%s: %+v", kind, ev)
		}
	}
	if ev := events(t, p, "passkey.renamed"); len(ev) == 1 && ev[0].Details["name"] != "Renamed" {
		t.Errorf("rename details: %+v", ev[0].Details)
	}
	all, err := p.store.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	dump, _ := json.Marshal(all)
	for _, s := range []string{alicePassword, "not-her-password", "a new passphrase 77", tok.AccessToken, tok.RefreshToken, siteSecret} {
		if strings.Contains(string(dump), s) {
			t.Errorf("the audit log holds a secret (%.6s…)", s)
		}
	}
}

// Passkeys that could not be added are not failed sign-ins: the rollout's
// failure rate, failures by kind and by browser count only sign-ins
// (stage login); registration failures are counted apart.
func TestRolloutCountsOnlySignInFailures(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	addAdmin(t, p)
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	csrf := csrfOf(b.Get(p.URL + "/settings/passkeys").page)
	// Two prompts cancelled while adding a passkey (reported by the page),
	// and one refused by the server (an origin error while adding).
	for range 2 {
		if st, body := b.reportFailure(csrf, "register", "PK-CANCELLED"); st != 204 {
			t.Fatalf("report: %d %s", st, body)
		}
	}
	if st, body := b.addPasskeyHTTP(softauthn.New("http://evil.example")); st != 400 || jsonString(body["error"]) != "PK-ORIGIN" {
		t.Fatalf("registration from another origin: %d %s", st, body)
	}
	// One passkey sign-in prompt cancelled.
	if st, body := b.reportFailure(csrf, "login", "PK-CANCELLED"); st != 204 {
		t.Fatalf("report: %d %s", st, body)
	}
	if n := len(events(t, p, "passkey.failure")); n != 1 {
		t.Errorf("%d sign-in failure events, want 1", n)
	}
	if ev := events(t, p, "passkey.register.failure"); len(ev) != 3 || ev[0].Details["stage"] != "register" {
		t.Errorf("registration failure events: %+v", ev)
	}

	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	text := adm.Get(p.URL + "/admin/rollout").Text()
	// Last 24 hours: no passkey sign-in, 2 password (alice, the admin),
	// none after a failed passkey, 1 passkey failure: 100%.
	for _, want := range []string{
		"Last 24 hours 0 2 0 1 100%",
		"Kind Failures Cancelled or timed out 1 Passkey failures by browser",
		"Unknown browser 1 ",
		"Passkeys that could not be added (not counted as sign-in failures above), last 30 days: 3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("rollout page lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Origin or RP ID mismatch") || strings.Contains(text, "origin errors in the last 7 days") {
		t.Errorf("a registration origin error counts as a sign-in failure:\n%s", text)
	}
}

// Disabling an account in the console ends everything it holds at once:
// its browser session, its refresh and access tokens, and password and
// passkey sign-in. Enabling it again lets the member sign in anew; what
// was ended stays ended.
func TestAdminDisableEndsAccess(t *testing.T) {
	p, alice, phone, key, tok, adm := memberAndAdmin(t)
	r := adm.Submit(adm.Get(p.URL+"/admin/members/"+alice).page, "Yes, disable", nil)
	if !strings.Contains(r.Text(), "The account is disabled") {
		t.Fatalf("disable: %s", r.Text())
	}

	if r := phone.Get(p.URL + "/settings"); !strings.Contains(r.Text(), "Email or username") {
		t.Fatal("the disabled member's session survived")
	}
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret)
	wantOAuthError(t, "refresh of a disabled account", st, body, 400, "invalid_grant")
	if st, _, _ := userinfo(t, p, tok.AccessToken); st != http.StatusUnauthorized {
		t.Fatalf("userinfo with a disabled account's token: %d", st)
	}
	b := newBrowser(t, p)
	r = b.Submit(b.Get(p.URL+"/login").page, "Continue", map[string]string{"Email or username": aliceLogin})
	if form, _ := r.page.FormWithButton("Use Password"); form != nil {
		r = b.Submit(r.page, "Use Password", nil)
	}
	r = b.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword})
	if r.Status != http.StatusForbidden || !strings.Contains(r.Text(), "ACCOUNT-DISABLED") {
		t.Fatalf("password sign-in of a disabled account: %d %s", r.Status, r.Text())
	}
	page := b.Get(p.URL + "/login")
	csrf := csrfOf(page.page)
	_, begin := b.postJSON("/webauthn/login/begin", csrf, map[string]any{"conditional": false})
	st, done := b.finishPasskeySignIn(csrf, key, begin)
	if st < 400 || jsonString(done["error"]) != "ACCOUNT-DISABLED" {
		t.Fatalf("passkey sign-in of a disabled account: %d %s", st, done)
	}

	r = adm.Submit(adm.Get(p.URL+"/admin/members/"+alice).page, "Enable account", nil)
	if !strings.Contains(r.Text(), "The account is enabled again.") {
		t.Fatalf("enable: %s", r.Text())
	}
	signInPage(t, newBrowser(t, p), p, aliceLogin, alicePassword)
	st, body, _ = tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret)
	wantOAuthError(t, "refresh token from before the disable", st, body, 400, "invalid_grant")
}
