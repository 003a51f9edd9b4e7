package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
)

// A stolen session cannot change the email (a sign-in name) or delete a
// passkey without signing in again, as adding a passkey already needed;
// the name alone may still change.
func TestSensitiveChangesNeedARecentSignIn(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	if st, body := b.addPasskeyHTTP(softauthn.New(p.URL)); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	settings, passkeys := b.Get(p.URL+"/settings"), b.Get(p.URL+"/settings/passkeys")
	p.clock.Advance(p.cfg.Sessions.ReauthAfter.D() + time.Minute)

	r := b.Submit(settings.page, "Save profile", map[string]string{"Email": "thief@example.net"})
	if !strings.Contains(r.Text(), "Email or username") {
		t.Fatalf("a stale session changed the email: %s", r.Text())
	}
	r = b.Submit(passkeys.page, "Delete passkey", nil)
	if !strings.Contains(r.Text(), "Email or username") {
		t.Fatalf("a stale session deleted a passkey: %s", r.Text())
	}
	u := userByLogin(t, p, aliceLogin)
	if u.Email != "alice@example.org" {
		t.Fatalf("email is %s", u.Email)
	}
	if pks, _ := p.store.PasskeysByUser(t.Context(), u.ID); len(pks) != 1 {
		t.Fatalf("%d passkeys left, want 1", len(pks))
	}
	if r := b.Submit(b.Get(p.URL+"/settings").page, "Save profile", map[string]string{"Name": "Alice E."}); r.Status != 200 {
		t.Fatalf("a name change: %d %s", r.Status, r.Text())
	}
	// After signing in again, both go through.
	r = b.Get(p.URL + "/login?reauth=1&next=%2Fsettings")
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	if strings.Contains(r.Text(), "Use Password") {
		r = b.Submit(r.page, "Use Password", nil)
	}
	if r = b.Submit(r.page, "Sign in", map[string]string{"Password": alicePassword}); !strings.Contains(r.Text(), "Save profile") {
		t.Fatalf("signing in again: %s", r.Text())
	}
	r = b.Submit(b.Get(p.URL+"/settings").page, "Save profile", map[string]string{"Email": "alice@example.net"})
	if userByLogin(t, p, aliceLogin).Email != "alice@example.net" {
		t.Fatalf("email change after signing in again: %s", r.Text())
	}
	b.Submit(b.Get(p.URL+"/settings/passkeys").page, "Delete passkey", nil)
	if pks, _ := p.store.PasskeysByUser(t.Context(), u.ID); len(pks) != 0 {
		t.Fatalf("%d passkeys after deleting with a recent sign-in", len(pks))
	}
}
