package e2e

import (
	"strings"
	"testing"

	"github.com/communityidp/idp/config"
)

// The rollout page's figures match a scripted sequence of sign-ins in a
// real browser: 2 with the password, 3 with a passkey, 1 cancelled prompt.
func TestRolloutFigures(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	c := newChrome(t)
	c.presence(false)
	// alice signs in with her password; the suggestion is shown, "Not now".
	c.signInWithPassword(app, aliceLogin, alicePassword)
	c.click("Not now")
	c.waitFor("Signed in as alice")
	c.presence(true)
	c.addPasskey(p, "Phone")
	c.signOut(p)
	// 2 more password sign-ins.
	c.presence(false)
	for i := 0; i < 2; i++ {
		c.signInWithPassword(app, aliceLogin, alicePassword)
		c.waitFor("Signed in as alice")
		c.signOut(p)
	}
	// 3 passkey sign-ins.
	for i := 0; i < 3; i++ {
		c.presence(false)
		c.open(app.URL + "/login")
		c.fill("Email or username", aliceLogin)
		c.click("Continue")
		c.presence(true)
		c.click("Sign in with a passkey")
		c.waitFor("amr: hwk user mfa")
		c.signOut(p)
	}
	// 1 cancelled prompt.
	c.presence(false)
	c.open(app.URL + "/login")
	c.fill("Email or username", aliceLogin)
	c.click("Continue")
	c.userVerified(false)
	c.presence(true)
	c.click("Sign in with a passkey")
	c.waitFor("PK-CANCELLED")

	// The admin reads the figures in the browser (the admin's own password
	// sign-in counts too; the admin answers the suggestion "Not now").
	c.freshBrowser()
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.click("Not now")
	c.waitFor("Signed in as admin")
	c.open(p.URL + "/admin/rollout")
	c.waitFor("Last 24 hours")
	text := strings.Join(strings.Fields(c.text()), " ")
	// Last 24 hours: passkey 3, password 1+2+1 (alice's first, two more, the admin's),
	// none after a failed passkey, 1 passkey failure of 4 attempts.
	for _, want := range []string{
		"Last 24 hours 3 4 0 1 25%",
		"Cancelled or timed out 1",
		"Chrome on Linux 1",
		"1 member 1 100%",
		"1 admin 0 0%",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("rollout page lacks %q:\n%s", want, text)
		}
	}
	// The suggestion: shown to alice (who set up a passkey from Settings,
	// not from it) and to the admin, "Not now" twice.
	if !strings.Contains(text, "Shown Set up a passkey Not now 2 0 2") {
		t.Errorf("suggestion outcomes:\n%s", text)
	}
}
