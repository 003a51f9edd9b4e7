package e2e

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/store"
)

// follow opens the link whose text is text, as a click would.
func (b *browser) follow(r *result, text string) *result {
	b.t.Helper()
	href := ""
	walk(r.Doc, func(n *htmlNode) {
		if n.Data == "a" && href == "" && strings.TrimSpace(textOf(n)) == text {
			href = attr(n, "href")
		}
	})
	if href == "" {
		b.t.Fatalf("no link %q on %s: %s", text, r.URL, r.Text())
	}
	u, err := r.URL.Parse(href)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.Get(u.String())
}

// variable are the parts of a page that differ between two loads of it
// (CSRF token, script nonce): the rest must be the same.
var variable = regexp.MustCompile(`(value|nonce|content)="[A-Za-z0-9_\-+/=]{16,}"`)

func sameBody(a, b string) bool {
	return variable.ReplaceAllString(a, "") == variable.ReplaceAllString(b, "")
}

// "Forgot password?" end to end: the link in the mail sets a new password
// in any browser, signs the member in and offers a passkey; it works
// once; a passkey member is reminded the passkey still works.
func TestForgotPassword(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, func(c *config.Config) {
		mp.configure(c)
		c.Passkeys.Rollout = config.RolloutEveryone
	})
	b := newBrowser(t, p)
	r := b.follow(&result{page: passwordPage(t, b, aliceLogin)}, "Forgot password?")
	if r.URL.Path != "/forgot" || !strings.Contains(r.Text(), "Email or username") {
		t.Fatalf("forgot page: %s %s", r.URL, r.Text())
	}
	r = b.Submit(r.page, "Send link", map[string]string{"Email or username": aliceLogin})
	if r.Status != 200 || !strings.Contains(r.Text(), "If an account exists, we sent a link.") {
		t.Fatalf("after Send link: %d %s", r.Status, r.Text())
	}
	msg := mp.one("alice@example.org", "Reset your password for Community")
	if strings.Contains(msg.Text, "passkey still works") {
		t.Error("a member without passkeys is told their passkey still works")
	}
	if msg.HTML == "" || !strings.Contains(msg.HTML, "Set a new password") {
		t.Errorf("the mail has no HTML part with the button: %q", msg.HTML)
	}
	link := msg.link(t, "/recover")

	// Opened on the phone: another browser.
	phone := newBrowser(t, p)
	r = phone.Get(link)
	r = phone.Submit(r.page, "Set password", map[string]string{"New password": "a brand new passphrase 42"})
	if r.URL.Path != "/login/suggest" || !strings.Contains(r.Text(), "passkey") {
		t.Fatalf("after Set password: %s %s", r.URL, r.Text())
	}
	if again := newBrowser(t, p).Get(link); again.Status < 400 {
		t.Errorf("the link worked twice: %d %s", again.Status, again.Text())
	}
	// The old password is gone, the new one signs in, and the member is
	// told a recovery link was used.
	old := newBrowser(t, p)
	if r := old.Submit(passwordPage(t, old, aliceLogin), "Sign in",
		map[string]string{"Password": alicePassword}); r.Status != http.StatusUnauthorized {
		t.Errorf("old password after the reset: %d", r.Status)
	}
	signInPage(t, newBrowser(t, p), p, aliceLogin, "a brand new passphrase 42")
	mp.one("alice@example.org", "Your Community password was reset")

	// With a passkey, the mail says it still works; a newer link ends the
	// older one.
	if st, body := phone.addPasskeyHTTP(softauthn.New(p.URL)); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	before := len(mp.to("alice@example.org"))
	for range 2 {
		f := newBrowser(t, p)
		f.Submit(f.Get(p.URL+"/forgot").page, "Send link", map[string]string{"Email or username": "alice@example.org"})
	}
	ms := mp.wait("alice@example.org", before+2)
	var resets []mail
	for _, m := range ms {
		if strings.HasPrefix(m.Subject, "Reset your password") {
			resets = append(resets, m)
		}
	}
	if len(resets) != 3 || !strings.Contains(resets[2].Text, "Your passkey still works") {
		t.Fatalf("resets: %v", subjects(resets))
	}
	if r := newBrowser(t, p).Get(resets[1].link(t, "/recover")); r.Status < 400 {
		t.Errorf("an older reset link still works after a newer one: %d", r.Status)
	}
	if r := newBrowser(t, p).Get(resets[2].link(t, "/recover")); r.Status != 200 {
		t.Errorf("the newest reset link: %d", r.Status)
	}
}

// Forgot password answers a name nobody has exactly like a member's:
// the same status and page, after the same padded time, and no mail.
func TestForgotPasswordSameForUnknown(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, mp.configure)
	ask := func(login string) (int, string, time.Duration) {
		b := newBrowser(t, p)
		form := b.Get(p.URL + "/forgot")
		start := time.Now()
		r := b.Submit(form.page, "Send link", map[string]string{"Email or username": login})
		return r.Status, r.Body, time.Since(start)
	}
	var known, unknown []time.Duration
	var bodies []string
	for range 3 {
		st1, b1, d1 := ask(aliceLogin)
		st2, b2, d2 := ask("nobody-here")
		if st1 != st2 || !sameBody(b1, b2) {
			t.Fatalf("member %d, unknown %d; pages differ:\n%s\n---\n%s", st1, st2, b1, b2)
		}
		known, unknown, bodies = append(known, d1), append(unknown, d2), append(bodies, b1)
	}
	slices.Sort(known)
	slices.Sort(unknown)
	t.Logf("forgot password: member %v, unknown %v (median)", known[1], unknown[1])
	// Both answers wait out the same floor, whatever the lookup found.
	if known[0] < 300*time.Millisecond || unknown[0] < 300*time.Millisecond {
		t.Errorf("answers not padded: member %v, unknown %v", known, unknown)
	}
	mp.wait("alice@example.org", 3)
	if n := mp.total(); n != 3 {
		t.Errorf("%d mails in all, want 3 (none for the unknown name)", n)
	}
}

// Sign-up with registration: open: "Create account" from the sign-in
// page, a verification mail whose link works in any browser, and
// email_verified true only after it. A taken username is said; a taken
// email gets the same answer as a new one, and its owner a mail.
func TestSignUpAndVerify(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, func(c *config.Config) {
		mp.configure(c)
		c.Registration.Mode = config.RegistrationOpen
	})
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, "openid", "email", "profile")
	b := newBrowser(t, p)
	r := b.Get(p.URL + "/login")
	r = b.follow(r, "Create account")
	fields := map[string]string{"Username": "newbie", "Email": "newbie@example.org", "Password": "my own passphrase 77"}
	r = b.Submit(r.page, "Create account", fields)
	if r.Status != 200 || !strings.Contains(r.Text(), "If that email is new, we sent a link.") {
		t.Fatalf("sign-up: %d %s", r.Status, r.Text())
	}
	newPage := r.Body
	verify := mp.one("newbie@example.org", "Confirm your email address").link(t, "/verify")

	// registration.require_verified_email is off: the account signs in at
	// once, unverified.
	claims := idTokenClaims(t, site, newBrowser(t, p), "newbie", "my own passphrase 77")
	if claims["email_verified"] != false {
		t.Errorf("email_verified before verification: %v", claims["email_verified"])
	}
	r = newBrowser(t, p).Get(verify) // the phone
	if r.Status != 200 || !strings.Contains(r.Text(), "Your email is verified") {
		t.Fatalf("verify link: %d %s", r.Status, r.Text())
	}
	if again := newBrowser(t, p).Get(verify); again.Status < 400 {
		t.Errorf("the verify link worked twice: %d", again.Status)
	}
	claims = idTokenClaims(t, site, newBrowser(t, p), "newbie", "my own passphrase 77")
	if claims["email_verified"] != true {
		t.Errorf("email_verified after verification: %v", claims["email_verified"])
	}

	// A taken username is said; a taken email is not.
	b2 := newBrowser(t, p)
	form := b2.Get(p.URL + "/signup")
	r = b2.Submit(form.page, "Create account", map[string]string{"Username": "alice", "Email": "x@example.org", "Password": "my own passphrase 77"})
	if r.Status != http.StatusConflict || !strings.Contains(r.Text(), "That username is taken") {
		t.Errorf("taken username: %d %s", r.Status, r.Text())
	}
	b3 := newBrowser(t, p)
	form = b3.Get(p.URL + "/signup")
	r = b3.Submit(form.page, "Create account", map[string]string{"Username": "alice2", "Email": "alice@example.org", "Password": "my own passphrase 77"})
	if r.Status != 200 || !sameBody(r.Body, newPage) {
		t.Errorf("taken email answered differently from a new one: %d %s", r.Status, r.Text())
	}
	mp.one("alice@example.org", "Someone tried to create an account")
	if _, err := p.store.UserByLogin(context.Background(), "alice2"); err == nil {
		t.Error("an account was created with a taken email")
	}
}

// registration.require_verified_email: no sign-in until the address is
// verified; trying sends a fresh link.
func TestSignUpRequiresVerifiedEmail(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, func(c *config.Config) {
		mp.configure(c)
		c.Registration.Mode = config.RegistrationOpen
		c.Registration.RequireVerifiedEmail = true
	})
	b := newBrowser(t, p)
	form := b.Get(p.URL + "/signup")
	b.Submit(form.page, "Create account", map[string]string{"Username": "carol", "Email": "carol@example.org", "Password": "carol's passphrase 1"})
	mp.one("carol@example.org", "Confirm your email address")
	r := b.Submit(passwordPage(t, b, "carol"), "Sign in", map[string]string{"Password": "carol's passphrase 1"})
	if r.Status != http.StatusForbidden || !strings.Contains(r.Text(), "EMAIL-UNVERIFIED") {
		t.Fatalf("unverified sign-in: %d %s", r.Status, r.Text())
	}
	ms := mp.wait("carol@example.org", 2)
	if r := newBrowser(t, p).Get(ms[0].link(t, "/verify")); r.Status < 400 {
		t.Error("the first link still works after a newer one")
	}
	if r := newBrowser(t, p).Get(ms[1].link(t, "/verify")); r.Status != 200 {
		t.Fatalf("newest link: %d %s", r.Status, r.Text())
	}
	signInPage(t, newBrowser(t, p), p, "carol", "carol's passphrase 1")
}

// An admin invites a member from the console; the mail's link lets them
// choose a password (their address is then verified) and works once.
// registration: invite shows no "Create account".
func TestInvitation(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, func(c *config.Config) {
		mp.configure(c)
		c.Registration.Mode = config.RegistrationInvite
		c.Passkeys.Rollout = config.RolloutEveryone
	})
	addAdmin(t, p)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	r := adm.Get(p.URL + "/admin/members")
	r = adm.Submit(r.page, "Send invitation", map[string]string{"Email": "Dana@Example.org"})
	if r.Status != 200 || !strings.Contains(r.Text(), "dana") {
		t.Fatalf("invite: %d %s", r.Status, r.Text())
	}
	msg := mp.one("dana@example.org", "You are invited to Community")
	if !strings.Contains(msg.Text, "Your username: dana") || !strings.Contains(msg.Text, "7 days") {
		t.Errorf("invitation text: %s", msg.Text)
	}
	if strings.Contains(newBrowser(t, p).Get(p.URL+"/login").Text(), "Create account") {
		t.Error("registration: invite offers Create account")
	}
	if r := newBrowser(t, p).Get(p.URL + "/signup"); r.Status != http.StatusNotFound {
		t.Errorf("/signup with registration: invite: %d", r.Status)
	}
	m := newBrowser(t, p)
	r = m.Get(msg.link(t, "/recover"))
	r = m.Submit(r.page, "Set password", map[string]string{"New password": "dana's first passphrase"})
	if r.URL.Path != "/login/suggest" {
		t.Fatalf("after accepting: %s %s", r.URL, r.Text())
	}
	if st, body := m.addPasskeyHTTP(softauthn.New(p.URL)); st != 200 {
		t.Fatalf("passkey right after: %d %s", st, body)
	}
	u, err := p.store.UserByLogin(context.Background(), "dana")
	if err != nil || !u.EmailVerified || u.PasswordHash == "" {
		t.Fatalf("invited account: %+v %v", u, err)
	}
	if again := newBrowser(t, p).Get(msg.link(t, "/recover")); again.Status < 400 {
		t.Errorf("the invitation worked twice: %d", again.Status)
	}
	if len(events(t, p, "invite.accepted")) != 1 {
		t.Error("no invite.accepted event")
	}
}

// Changing the email: the old address is told, the new one gets a link,
// and email_verified is false until it is used.
func TestEmailChangeMails(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, mp.configure)
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	r := b.Get(p.URL + "/settings")
	r = b.Submit(r.page, "Save profile", map[string]string{"Email": "alice@new.example"})
	if !strings.Contains(r.Text(), "alice@new.example") {
		t.Fatalf("after the change: %s", r.Text())
	}
	old := mp.one("alice@example.org", "Your Community email address was changed")
	if !strings.Contains(old.Text, "tell the admins") {
		t.Errorf("old address notice: %s", old.Text)
	}
	link := mp.one("alice@new.example", "Confirm your email address").link(t, "/verify")
	if u, _ := p.store.UserByLogin(context.Background(), aliceLogin); u.EmailVerified {
		t.Error("the new address counts as verified before its link is used")
	}
	newBrowser(t, p).Get(link)
	if u, _ := p.store.UserByLogin(context.Background(), aliceLogin); !u.EmailVerified || u.Email != "alice@new.example" {
		t.Errorf("after the link: %+v", u)
	}
	// "Verify email" in Settings sends a link on demand.
	r = b.Submit(b.Get(p.URL+"/settings").page, "Save profile", map[string]string{"Email": "alice@third.example"})
	mp.one("alice@third.example", "Confirm your email address")
	r = b.Submit(b.Get(p.URL+"/settings").page, "Verify email", nil)
	mp.wait("alice@third.example", 2)
}

// Every security notice arrives once, in the member's language, naming
// the device that made the change.
func TestSecurityNotices(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, func(c *config.Config) {
		mp.configure(c)
		c.Passkeys.Rollout = config.RolloutEveryone
	})
	addAdmin(t, p)
	const windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	// Alice signs in once in German: her mail is in German from then on,
	// whatever language the next page is in.
	de := newBrowser(t, p)
	de.client.Transport = headers{"Accept-Language": "de-DE,de;q=0.9"}
	r := de.Get(p.URL + "/login")
	r = de.Submit(r.page, "Weiter", map[string]string{"E-Mail-Adresse oder Nutzername": aliceLogin})
	r = de.Submit(r.page, "Anmelden", map[string]string{"Passwort": alicePassword})
	if r.URL.Path != "/settings" && r.URL.Path != "/login/suggest" {
		t.Fatalf("German sign-in: %s %s", r.URL, r.Text())
	}
	b := newBrowser(t, p)
	b.client.Transport = headers{"User-Agent": windows}
	signInPage(t, b, p, aliceLogin, alicePassword)
	to := "alice@example.org"
	n := 0
	expect := func(subject string, device bool) {
		t.Helper()
		n++
		ms := mp.wait(to, n)
		got := ms[n-1]
		if !strings.Contains(got.Subject, subject) {
			t.Fatalf("notice %d: %q, want %q", n, got.Subject, subject)
		}
		if device && !strings.Contains(got.Text, "Gerät: Chrome auf Windows") {
			t.Errorf("%q does not name the device:\n%s\nHTML: %s", got.Subject, got.Text, got.HTML)
		}
	}
	if st, body := b.addPasskeyHTTP(softauthn.New(p.URL)); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	expect("ein Passkey hinzugefügt", true)
	pks, _ := p.store.PasskeysByUser(context.Background(), mustUser(t, p, aliceLogin).ID)
	r = b.Get(p.URL + "/settings/passkeys")
	b.postForm("/settings/passkeys/"+pks[0].ID+"/delete", csrfOf(r.page), url.Values{})
	expect("ein Passkey gelöscht", true)
	r = b.Get(p.URL + "/settings")
	b.Submit(r.page, "Change password", map[string]string{"Current password": alicePassword, "New password": "another passphrase 2026"})
	expect("Ihr Passwort bei", true)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	id := mustUser(t, p, aliceLogin).ID
	r = adm.Get(p.URL + "/admin/members/" + id)
	adm.Submit(r.page, "Yes, disable", nil)
	expect("deaktiviert", false)
	r = adm.Get(p.URL + "/admin/members/" + id)
	adm.Submit(r.page, "Enable account", nil)
	expect("wieder aktiviert", false)
	mp.quiet(to, n)
}

// headers is a transport that sets request headers, as a given browser
// would send them.
type headers map[string]string

func (h headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func mustUser(t *testing.T, p *provider, login string) *store.User {
	t.Helper()
	u, err := p.store.UserByLogin(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// idTokenClaims signs in through the site and returns the ID token's
// claims.
func idTokenClaims(t *testing.T, site *rp, b *browser, login, pw string) map[string]any {
	t.Helper()
	_, idt := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), login, pw)))
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// An imported hash signs its member in and is argon2id afterwards.
func isArgon2id(hash string) bool {
	s, err := password.SchemeOf(hash)
	return err == nil && s == password.SchemeArgon2id
}

// "Download my data" gives the member's profile, passkeys' public
// metadata, sessions and recent sign-ins as JSON, and no secret.
func TestDownloadMyData(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	if st, body := b.addPasskeyHTTP(softauthn.New(p.URL)); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	wrong := newBrowser(t, p)
	wrong.Submit(passwordPage(t, wrong, aliceLogin), "Sign in", map[string]string{"Password": "not it"})
	r := b.follow(b.Get(p.URL+"/settings"), "Download my data")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("download: %d %v", r.Status, r.Header)
	}
	var data struct {
		Profile struct {
			Subject, Username, Email string
			EmailVerified            bool `json:"email_verified"`
			HasPassword              bool `json:"has_password"`
		}
		Passkeys []map[string]any
		Sessions []struct {
			Current bool
			Device  string
		}
		SignIns []struct{ Event, Result, Method string } `json:"sign_in_history"`
	}
	if err := json.Unmarshal([]byte(r.Body), &data); err != nil {
		t.Fatalf("not JSON: %v %s", err, r.Body)
	}
	u := mustUser(t, p, aliceLogin)
	if data.Profile.Subject != u.ID || data.Profile.Email != "alice@example.org" || !data.Profile.HasPassword {
		t.Errorf("profile: %+v", data.Profile)
	}
	if len(data.Passkeys) != 1 || data.Passkeys[0]["credential_id"] == "" || data.Passkeys[0]["public_key"] != nil {
		t.Errorf("passkeys: %v", data.Passkeys)
	}
	if len(data.Sessions) != 1 || !data.Sessions[0].Current {
		t.Errorf("sessions: %+v", data.Sessions)
	}
	var ok, failed int
	for _, e := range data.SignIns {
		switch e.Event {
		case "signin.success":
			ok++
		case "signin.failure":
			failed++
		}
	}
	if ok != 1 || failed != 1 {
		t.Errorf("sign-in history: %+v", data.SignIns)
	}
	for _, secret := range []string{u.PasswordHash, "argon2id", "csrf"} {
		if strings.Contains(r.Body, secret) {
			t.Errorf("the download holds %q", secret)
		}
	}
	// An old sign-in signs in again first.
	p.clock.Advance(time.Hour)
	if r := b.Get(p.URL + "/settings/data"); r.URL.Path != "/login" || r.URL.Query().Get("reauth") != "1" {
		t.Errorf("download with an old sign-in: %d %s", r.Status, r.URL)
	}
}

// "Delete account": a recent sign-in and the typed username, then the
// account is gone with its sessions and tokens, the audit log keeps an
// anonymous trace, and the last admin cannot go.
func TestDeleteAccount(t *testing.T) {
	p := startProvider(t, nil)
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, "openid", "offline_access")
	b := newBrowser(t, p)
	tok, _ := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	u := mustUser(t, p, aliceLogin)

	r := b.follow(b.Get(p.URL+"/settings"), "Delete account")
	if !strings.Contains(r.Text(), "Type your username to confirm") {
		t.Fatalf("delete page: %s", r.Text())
	}
	r = b.Submit(r.page, "Delete account", map[string]string{"Type your username to confirm": "alicia"})
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Text(), "That is not your username") {
		t.Fatalf("wrong username: %d %s", r.Status, r.Text())
	}
	r = b.Submit(r.page, "Delete account", map[string]string{"Type your username to confirm": "Alice"})
	if r.Status != 200 || !strings.Contains(r.Text(), "Your account is deleted") {
		t.Fatalf("delete: %d %s", r.Status, r.Text())
	}
	if _, err := p.store.UserByID(context.Background(), u.ID); err == nil {
		t.Error("the account is still there")
	}
	if r := b.Get(p.URL + "/settings"); r.URL.Path != "/login" {
		t.Errorf("the session outlived the account: %s", r.URL)
	}
	if _, err := site.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("the refresh token outlived the account")
	}
	all, _ := p.store.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	deleted := 0
	for _, e := range all {
		if e.UserID == u.ID || e.ActorID == u.ID || strings.Contains(fmt.Sprint(e.Details), "alice") {
			t.Errorf("the audit log still names the member: %+v", e)
		}
		if e.Kind == "user.deleted" {
			deleted++
			if e.IP != "" || e.Device != "" {
				t.Errorf("the deletion's trace says where from: %+v", e)
			}
		}
	}
	if deleted != 1 {
		t.Errorf("%d user.deleted events, want 1", deleted)
	}

	// The last admin stays.
	addAdmin(t, p)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	r = adm.Submit(adm.Get(p.URL+"/settings/delete").page, "Delete account", map[string]string{"Type your username to confirm": adminLogin})
	if r.Status != http.StatusConflict || !strings.Contains(r.Text(), "You are the last admin") {
		t.Errorf("last admin: %d %s", r.Status, r.Text())
	}
	// A sign-in older than sessions.reauth_after signs in again first.
	bob := newMember(t, p, "bob", "bob's long passphrase")
	bb := newBrowser(t, p)
	signInPage(t, bb, p, "bob", "bob's long passphrase")
	form := bb.Get(p.URL + "/settings/delete")
	p.clock.Advance(time.Hour)
	r = bb.Submit(form.page, "Delete account", map[string]string{"Type your username to confirm": "bob"})
	if r.URL.Path != "/login" {
		t.Errorf("delete with an old sign-in: %s %s", r.URL, r.Text())
	}
	if _, err := p.store.UserByID(context.Background(), bob.ID); err != nil {
		t.Errorf("deleted on an old sign-in: %v", err)
	}
}

// Asking for reset links is throttled per name, a member's and nobody's
// alike (so the throttle tells nothing either), and sign-ups per
// address: nobody's mailbox is flooded.
func TestLifecycleThrottled(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, func(c *config.Config) {
		mp.configure(c)
		c.Registration.Mode = config.RegistrationOpen
		c.Throttle.AddressFailures = 3
		c.TrustedProxies = []string{"127.0.0.1"}
	})
	for _, name := range []string{aliceLogin, "nobody-here"} {
		var statuses []int
		for i := range 5 {
			b := browserFrom(t, p, fmt.Sprintf("198.51.100.%d", i+1))
			r := b.Submit(b.Get(p.URL+"/forgot").page, "Send link", map[string]string{"Email or username": name})
			statuses = append(statuses, r.Status)
			if r.Status == http.StatusTooManyRequests && (r.Header.Get("Retry-After") == "" || !strings.Contains(r.Text(), "Too many requests")) {
				t.Errorf("%s: throttled without saying how long: %s", name, r.Text())
			}
		}
		if !slices.Equal(statuses, []int{200, 200, 200, 429, 429}) {
			t.Errorf("%s: %v, want three links then a wait", name, statuses)
		}
	}
	mp.wait("alice@example.org", 3)
	mp.quiet("alice@example.org", 3)

	// Sign-ups from one address.
	var statuses []int
	for i := range 5 {
		b := browserFrom(t, p, "203.0.113.7")
		r := b.Submit(b.Get(p.URL+"/signup").page, "Create account", map[string]string{"Username": fmt.Sprintf("new%d", i),
			"Email": fmt.Sprintf("new%d@example.org", i), "Password": "a new member passphrase"})
		statuses = append(statuses, r.Status)
	}
	if !slices.Equal(statuses, []int{200, 200, 200, 429, 429}) {
		t.Errorf("sign-ups from one address: %v", statuses)
	}
	other := browserFrom(t, p, "203.0.113.8")
	if r := other.Submit(other.Get(p.URL+"/signup").page, "Create account", map[string]string{"Username": "elsewhere",
		"Email": "elsewhere@example.org", "Password": "a new member passphrase"}); r.Status != 200 {
		t.Errorf("a sign-up from another address: %d", r.Status)
	}
}
