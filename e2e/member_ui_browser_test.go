package e2e

import (
	"testing"

	"github.com/communityidp/idp/config"
)

// What a member meets around sign-in, in Chromium: the suggestion that
// ends on its success and Continue, Settings > Passkeys that no longer
// says "no passkeys" while naming one, a success notice that gives way to
// a later error, Cancel in the delete confirmation, the account menu,
// "Use a passkey instead" on the password step and a way back from the
// passkey step, and the show-password toggle.
func TestMemberPagesInBrowser(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	c := newChrome(t)
	c.presence(false)

	// The password, shown on request, then hidden again.
	c.open(app.URL + "/login")
	c.fill("Email or username", aliceLogin)
	c.click("Continue")
	c.waitFor("Enter your password")
	c.fill("Password", alicePassword)
	c.click("Show password")
	var kind string
	c.eval(`document.getElementById('password').type`, &kind)
	if kind != "text" {
		t.Fatalf("Show password: the field is %q", kind)
	}
	c.click("Hide password")
	c.eval(`document.getElementById('password').type`, &kind)
	if kind != "password" {
		t.Fatalf("Hide password: the field is %q", kind)
	}
	c.click("Sign in")

	// The suggestion: after "Set up a passkey", only the success and
	// Continue.
	c.waitFor("Sign in faster with a passkey")
	c.presence(true)
	c.click("Set up a passkey")
	c.waitFor("Your passkey was added.")
	c.absent("Sign in faster with a passkey")
	c.absent("Not now")
	c.click("Continue")
	c.waitFor("Signed in as alice")

	// The account menu, on every signed-in page.
	c.open(p.URL + "/settings")
	c.click("alice")
	for _, item := range []string{"Settings", "Passkeys", "Sign out"} {
		c.waitFor(item)
	}
	c.absent("Admin")
	c.js(`document.querySelector('details.menu a[href="/settings/passkeys"]').click();`, nil)
	c.waitFor("Your passkeys")

	// A success notice gives way to a later error; Cancel closes the
	// delete confirmation.
	c.click("Rename")
	c.fill("Passkey name", "My Laptop")
	c.click("Save")
	c.waitFor("Your passkey was renamed.")
	c.click("Add Passkey") // the same device: PK-EXISTS
	c.waitFor("PK-EXISTS")
	c.absent("Your passkey was renamed.")
	c.click("Delete", "My Laptop")
	c.waitFor("Delete passkey")
	c.click("Cancel", "My Laptop")
	c.absent("Delete passkey")

	// Password step of an account with a passkey: "Use a passkey
	// instead"; the passkey step: "Use another account".
	c.click("alice")
	c.js(`document.querySelector('details.menu button[type=submit]').click();`, nil)
	c.waitFor("You are signed out")
	c.presence(false)
	c.open(app.URL + "/login")
	c.fill("Email or username", aliceLogin)
	c.click("Continue")
	c.waitFor("Sign in with a passkey")
	c.click("Use Password")
	c.waitFor("Enter your password")
	c.click("Use a passkey instead")
	c.waitFor("Sign in with a passkey")
	c.click("Use another account")
	c.waitFor("Email or username")

	// Settings > Passkeys of a member with none: naming the first one,
	// the list no longer says there are none.
	c2 := newChrome(t)
	c2.presence(false)
	c2.signInWithPassword(app, adminLogin, adminPassword)
	c2.waitFor("Sign in faster with a passkey")
	c2.click("Not now")
	c2.waitFor("Signed in as admin")
	c2.open(p.URL + "/settings/passkeys")
	c2.waitFor("You have no passkeys yet.")
	c2.presence(true)
	c2.click("Add Passkey")
	c2.waitFor("Your passkey was added.")
	c2.absent("You have no passkeys yet.")
	c2.click("admin")
	c2.waitFor("Admin")
}
