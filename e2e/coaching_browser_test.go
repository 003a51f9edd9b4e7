package e2e

import (
	"testing"

	"github.com/communityidp/idp/config"
)

// Settings > Passkeys coaches a member whose only passkey is bound to one
// device; the note goes away once a passkey from another device or
// password manager is added, comes back when that one is deleted, and
// stays away once dismissed, until the passkeys change.
func TestResilienceCoachingInBrowser(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	c := newChrome(t)
	c.removeAuthenticator(c.auths[0])
	key := c.addAuthenticatorSynced(false) // a security key
	c.presence(false)
	c.signInWithPassword(app, aliceLogin, alicePassword)
	c.click("Not now")
	c.waitFor("Signed in as alice")
	c.presence(true)
	const note = "If you lose this device, you will need your password."
	c.addPasskey(p, "Security Key")
	c.waitFor(note)

	// A synced passkey from a phone: the note goes.
	c.removeAuthenticator(key)
	c.addAuthenticatorSynced(true)
	c.addPasskey(p, "Phone")
	c.absent(note)

	// Deleted again: back to one device-bound passkey.
	c.click("Delete", "Phone")
	c.click("Delete passkey", "Phone")
	c.waitFor("Your passkey was deleted.")
	c.waitFor(note)
	c.click("Got it")
	c.waitFor("Your passkeys")
	c.absent(note)
	c.open(p.URL + "/settings/passkeys")
	c.waitFor("Your passkeys")
	c.absent(note)
}
