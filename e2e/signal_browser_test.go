package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/store"
)

// The WebAuthn Signal API keeps the member's password manager in step:
// a passkey deleted in Settings disappears from the device, and so does
// one the site no longer knows when the member tries it.
func TestSignalAPI(t *testing.T) {
	p, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.click("Not now")
	c.waitFor("Signed in as admin")
	c.presence(true)
	c.addPasskey(p, "Office Laptop")
	auth := c.auths[0]
	if n := c.credentials(auth); n != 1 {
		t.Fatalf("%d credentials after adding", n)
	}
	c.click("Delete", "Office Laptop")
	c.click("Delete passkey", "Office Laptop")
	c.waitFor("Your passkey was deleted.")
	c.waitCredentials(auth, 0)

	// A passkey deleted by someone else (an admin, another device): the
	// sign-in fails with a code, and the device forgets it.
	c.addPasskey(p, "Office Laptop")
	pks, err := p.store.PasskeysByUser(context.Background(), userID(t, p, adminLogin))
	if err != nil || len(pks) != 1 {
		t.Fatalf("passkeys: %v %v", pks, err)
	}
	c.signOut(p)
	if err := p.store.DeletePasskey(context.Background(), pks[0].UserID, pks[0].ID); err != nil {
		t.Fatal(err)
	}
	c.presence(false)
	c.open(app.URL + "/login")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	// The account has no passkey any more: straight to the password.
	c.waitFor("Enter your password")
	c.open(app.URL + "/login")
	c.presence(true) // the autofill request offers the stale passkey
	c.waitFor("PK-UNKNOWN")
	c.waitCredentials(auth, 0)
}

// waitCredentials waits until the authenticator holds n passkeys.
func (c *chrome) waitCredentials(id webauthn.AuthenticatorID, n int) {
	c.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c.credentials(id) == n {
			return
		}
	}
	c.t.Fatalf("the authenticator holds %d passkeys, want %d", c.credentials(id), n)
}

func userID(t *testing.T, p *provider, login string) string { return userByLogin(t, p, login).ID }

// userByLogin reads a member's account.
func userByLogin(t *testing.T, p *provider, login string) *store.User {
	t.Helper()
	u, err := p.store.UserByLogin(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The password manager learns the member's new name (changed in Settings,
// or by an admin) and forgets a passkey an admin deleted, at the next
// visit to Settings.
func TestSignalDetailsAndAdminDeletion(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	c := newChrome(t)
	c.presence(false)
	c.signInWithPassword(app, aliceLogin, alicePassword)
	c.click("Not now")
	c.waitFor("Signed in as alice")
	c.presence(true)
	c.addPasskey(p, "Phone")
	auth := c.auths[0]
	stored := func() webauthn.Credential {
		t.Helper()
		res, err := chromedp.Call(c.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth})
		if err != nil || len(res.Credentials) != 1 {
			t.Fatalf("credentials: %+v %v", res, err)
		}
		return *res.Credentials[0]
	}
	waitFor(t, "the first name", func() bool { return stored().UserDisplayName == "Alice Example" })

	// The member changes their name in Settings.
	c.open(p.URL + "/settings")
	c.fill("Name", "Alice Liddell")
	c.click("Save profile")
	c.waitFor("Your profile was saved.")
	waitFor(t, "the new name", func() bool { return stored().UserDisplayName == "Alice Liddell" })

	// An admin renames the account: the next visit tells the device.
	alice := mustUser(t, p, aliceLogin)
	if _, err := p.store.UpdateUser(context.Background(), alice.ID, func(u *store.User) error {
		u.Username = "alice.liddell"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.open(p.URL + "/settings")
	waitFor(t, "the new username", func() bool { return stored().UserName == "alice.liddell" })

	// An admin deletes the passkey: the next visit to Settings makes the
	// device forget it.
	pks, _ := p.store.PasskeysByUser(context.Background(), alice.ID)
	if err := p.store.DeletePasskey(context.Background(), alice.ID, pks[0].ID); err != nil {
		t.Fatal(err)
	}
	c.open(p.URL + "/settings")
	c.waitCredentials(auth, 0)
}
