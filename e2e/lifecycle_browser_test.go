package e2e

import (
	"strings"
	"testing"

	"github.com/communityidp/idp/config"
)

// startMailProvider is startPasskeyProvider with its mail going to a
// fresh Mailpit and passkeys offered to everyone.
func startMailProvider(t *testing.T, edit func(*config.Config)) (*provider, *rpApp, *mailpit) {
	mp := startMailpit(t)
	p, app := startPasskeyProvider(t, func(c *config.Config) {
		mp.configure(c)
		c.Passkeys.Rollout = config.RolloutEveryone
		if edit != nil {
			edit(c)
		}
	})
	return p, app, mp
}

// Forgot password in the browser, from the app's sign-in: "Forgot
// password?", "Send link", the link from the mail, "New password", "Set
// password"; the member is signed in, offered a passkey, adds it, and
// lands back in the app.
func TestForgotPasswordInBrowser(t *testing.T) {
	_, app, mp := startMailProvider(t, nil)
	c := newChrome(t)
	c.presence(false)
	c.open(app.URL + "/login")
	c.waitFor("Email or username")
	c.fill("Email or username", aliceLogin)
	c.click("Continue")
	c.waitFor("Enter your password")
	c.click("Forgot password?")
	c.waitFor("Reset your password")
	if got := c.inputValue("Email or username"); got != aliceLogin {
		t.Errorf("the forgot page starts with %q, want the name typed before", got)
	}
	c.click("Send link")
	c.waitFor("If an account exists, we sent a link.")
	c.screenshot("forgot-sent")

	link := mp.one("alice@example.org", "Reset your password").link(t, "/recover")
	c.open(link)
	c.waitFor("Set a new password")
	c.fill("New password", "a fresh passphrase for alice")
	c.click("Set password")
	c.waitFor("Sign in faster with a passkey")
	c.presence(true)
	c.click("Set up a passkey")
	c.waitFor("Your passkey was added.")
	if n := c.credentials(c.auths[0]); n != 1 {
		t.Fatalf("the authenticator holds %d credentials", n)
	}
	mp.one("alice@example.org", "A passkey was added")
	mp.one("alice@example.org", "Your Community password was reset")
}

// Sign-up in the browser: "Create account" on the sign-in page, the
// verification link, "Your email is verified", then a passkey from
// Settings > Passkeys.
func TestSignUpInBrowser(t *testing.T) {
	p, app, mp := startMailProvider(t, func(c *config.Config) {
		c.Registration.Mode = config.RegistrationOpen
		c.Registration.RequireVerifiedEmail = true
	})
	c := newChrome(t)
	c.presence(false)
	c.open(app.URL + "/login")
	c.waitFor("Email or username")
	c.click("Create account")
	c.waitFor("Join Community.")
	c.fill("Username", "newcomer")
	c.fill("Email", "newcomer@example.org")
	c.fill("Password", "newcomer's passphrase")
	c.click("Create account")
	c.waitFor("If that email is new, we sent a link.")
	c.screenshot("signup-sent")

	c.open(mp.one("newcomer@example.org", "Confirm your email address").link(t, "/verify"))
	c.waitFor("Your email is verified")
	c.screenshot("verified")

	c.signInWithPassword(app, "newcomer", "newcomer's passphrase")
	c.waitFor("Sign in faster with a passkey")
	c.click("Not now")
	c.waitFor("Signed in as newcomer")
	c.waitFor("email_verified: true")
	c.presence(true)
	c.addPasskey(p, "My Phone")
}

// An invitation accepted in the browser: the admin invites from the
// console, the member opens the mail's link, chooses a password and adds
// a passkey right away.
func TestInvitationInBrowser(t *testing.T) {
	p, app, mp := startMailProvider(t, func(c *config.Config) { c.Registration.Mode = config.RegistrationInvite })
	c := newChrome(t)
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.click("Not now")
	c.waitFor("Signed in as admin")
	c.open(p.URL + "/admin/members")
	c.fill("Email", "frank@example.org")
	c.click("Send invitation")
	c.waitFor("frank@example.org")
	c.signOut(p)

	c.open(mp.one("frank@example.org", "You are invited to Community").link(t, "/recover"))
	c.waitFor("frank")
	c.fill("New password", "frank's own passphrase")
	c.click("Set password")
	c.waitFor("Sign in faster with a passkey")
	c.presence(true)
	c.click("Set up a passkey")
	c.waitFor("Your passkey was added.")
	if !strings.Contains(c.text(), "passkey") {
		t.Fatal(c.text())
	}
}

// inputValue is the value of the input labelled label.
func (c *chrome) inputValue(label string) string {
	c.t.Helper()
	var v string
	c.eval(`(() => { for (const l of document.querySelectorAll('label')) { if (l.textContent.trim() === `+jsString(label)+
		`) return document.getElementById(l.htmlFor).value; } return null; })()`, &v)
	return v
}
