package e2e

import (
	"testing"
	"time"

	"github.com/communityidp/idp/config"
)

// Member support in a real browser, as an admin does it: a member cannot
// open the console; the admin deletes the member's passkey (a lost device)
// and that passkey, still on the device, no longer signs in; a recovery
// link sets a new password once, and a link opened after its lifetime is
// refused.
func TestAdminSupportInBrowser(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	c := newChrome(t)
	alice := userID(t, p, aliceLogin)
	signedIn := func(login, pw string) {
		t.Helper()
		c.presence(false) // the autofill prompt waits while a name is typed
		c.signInWithPassword(app, login, pw)
		c.waitJS(`document.body.innerText.includes('Signed in as ` + login + `') || document.body.innerText.includes('Not now')`)
		if c.has("Not now") {
			c.click("Not now")
		}
		c.waitFor("Signed in as " + login)
	}

	// alice adds a passkey on this device, then tries the console.
	signedIn(aliceLogin, alicePassword)
	c.presence(true)
	c.addPasskey(p, "Alice Phone")
	c.open(p.URL + "/admin")
	c.waitFor("ADMIN-ONLY")
	c.absent("Members")
	c.signOut(p)

	// The admin deletes it and creates a recovery link.
	signedIn(adminLogin, adminPassword)
	c.open(p.URL + "/admin/members/" + alice)
	c.waitFor("Alice Phone")
	c.click("Delete", "Alice Phone")
	c.click("Delete passkey", "Alice Phone")
	c.waitFor("The passkey was deleted.")
	c.waitFor("No passkeys.")
	recovery := func() string {
		t.Helper()
		c.open(p.URL + "/admin/members/" + alice)
		c.click("Create recovery link")
		c.waitFor("/recover?token=")
		var link string
		c.eval(`document.body.innerText.match(/http:\/\/\S+\/recover\?token=[A-Za-z0-9_-]+/)[0]`, &link)
		return link
	}
	link := recovery()
	c.signOut(p)

	// The device still offers the passkey (autofill, nothing typed); the
	// provider refuses it in plain words and nobody is signed in.
	c.presence(true)
	c.open(app.URL + "/login")
	c.waitFor("This passkey is not registered for your account here. It may have been deleted.")
	c.waitFor("PK-UNKNOWN")
	c.absent("Signed in as")

	// alice, on a fresh browser, uses the link once.
	c.freshBrowser()
	c.presence(false)
	c.open(link)
	c.waitFor("Set a new password")
	c.fill("New password", "recovered passphrase 1")
	c.click("Set password")
	c.waitFor("Your new password is set")
	c.open(link)
	c.waitFor("RECOVERY-LINK")
	// The link signed her in; signed out, the new password works.
	c.signOut(p)
	signedIn(aliceLogin, "recovered passphrase 1")
	c.signOut(p)

	// A second link, opened after its lifetime.
	c.freshBrowser()
	signedIn(adminLogin, adminPassword)
	link = recovery()
	c.signOut(p)
	p.clock.Advance(p.cfg.Admin.RecoveryLinkLifetime.D() + time.Second)
	c.open(link)
	c.waitFor("RECOVERY-LINK")
	c.absent("Set a new password")
}
