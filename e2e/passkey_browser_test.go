package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/store"
)

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

const (
	adminLogin    = "admin"
	adminPassword = "admin passphrase 2026"
)

// startPasskeyProvider runs a provider with the browser tests' relying
// party and an admin account (the rollout's first stage is admins).
func startPasskeyProvider(t *testing.T, edit func(*config.Config)) (*provider, *rpApp) {
	t.Helper()
	app := newRPApp(t)
	p := startProvider(t, func(c *config.Config) {
		c.Clients = append(c.Clients, app.client())
		if edit != nil {
			edit(c)
		}
	})
	addAdmin(t, p)
	app.start(p)
	return p, app
}

// signInWithPassword goes from the site's sign-in link through the
// identifier and password steps.
func (c *chrome) signInWithPassword(app *rpApp, login, pw string) {
	c.t.Helper()
	c.open(app.URL + "/login")
	c.waitFor("Email or username")
	c.fill("Email or username", login)
	c.click("Continue")
	c.waitFor("Password")
	if c.has("Use Password") {
		c.click("Use Password")
		c.waitFor("Enter your password")
	}
	c.fill("Password", pw)
	c.click("Sign in")
}

func (c *chrome) has(text string) bool {
	var found bool
	c.eval(`document.body.innerText.includes(`+jsString(text)+`)`, &found)
	return found
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestAdminPasskeyWalkthrough follows the brief's "How to Test as an
// Admin" section literally, through a relying party's code flow.
func TestAdminPasskeyWalkthrough(t *testing.T) {
	p, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	// Until the member touches the sensor, prompts and autofill wait.
	c.presence(false)

	// Sign in with a password. The suggestion appears (an admin without a
	// passkey, on a browser that can create one); "Not now" continues.
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.waitFor("Sign in faster with a passkey")
	c.screenshot("suggestion")
	c.click("Not now")
	c.waitFor("Signed in as admin")
	c.waitFor("amr: pwd")

	// Go to Settings > Passkeys. Select Add Passkey. Follow the device prompt.
	c.open(p.URL + "/settings")
	c.click("Passkeys")
	c.waitFor("Your passkeys")
	c.waitFor("You have no passkeys yet.")
	c.presence(true)
	c.click("Add Passkey")
	c.waitFor("Your passkey was added.")
	// Give the passkey a clear name; confirm it appears in the list.
	c.fill("Passkey name", "Office Laptop")
	c.click("Save")
	c.waitFor("Your passkey is ready.")
	c.waitFor("Office Laptop")
	c.waitFor("Synced")
	c.screenshot("passkeys")
	if n := c.credentials(c.auths[0]); n != 1 {
		t.Fatalf("the authenticator holds %d credentials", n)
	}

	// Sign out.
	c.open(p.URL + "/settings")
	c.click("Sign out")
	c.waitFor("You are signed out")

	// Go to the login page, enter the same username, continue to passkey
	// sign-in, confirm with the device prompt, signed in.
	c.presence(false)
	c.open(app.URL + "/login")
	c.waitFor("Email or username")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.waitFor("Sign in with a passkey")
	if !c.has("Use Password") {
		t.Fatal("the passkey step does not offer Use Password")
	}
	c.screenshot("login-passkey")
	c.presence(true)
	c.click("Sign in with a passkey")
	c.waitFor("Signed in as admin")
	c.waitFor("amr: hwk user mfa")

	// Test password fallback: Use Password, sign in with the password.
	c.open(p.URL + "/settings")
	c.click("Sign out")
	c.waitFor("You are signed out")
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	// No suggestion (the admin has a passkey, and also said "Not now"
	// above; TestNoSuggestionForMemberWithPasskey shows the passkey alone
	// is enough).
	c.waitFor("Signed in as admin")
	c.waitFor("amr: pwd")

	// Rename and delete the test passkey.
	c.open(p.URL + "/settings/passkeys")
	c.click("Rename", "Office Laptop")
	c.fill("Passkey name", "Admin Laptop")
	c.click("Save")
	c.waitFor("Your passkey was renamed.")
	c.waitFor("Admin Laptop")
	c.absent("Office Laptop")
	c.click("Delete", "Admin Laptop")
	c.click("Delete passkey", "Admin Laptop")
	c.waitFor("Your passkey was deleted.")
	c.waitFor("You have no passkeys yet.")

	// Sign out and confirm that password sign-in still works.
	c.open(p.URL + "/settings")
	c.click("Sign out")
	c.waitFor("You are signed out")
	c.signInWithPassword(app, adminLogin, adminPassword)
	// "Not now" is remembered: no suggestion although the passkey is gone.
	c.waitFor("Signed in as admin")
	c.absent("Sign in faster with a passkey")
}

// addPasskey adds a passkey from Settings > Passkeys and names it.
func (c *chrome) addPasskey(p *provider, name string) {
	c.t.Helper()
	c.open(p.URL + "/settings/passkeys")
	c.waitFor("Your passkeys")
	c.click("Add Passkey")
	c.waitFor("Your passkey was added.")
	c.fill("Passkey name", name)
	c.click("Save")
	c.waitFor("Your passkey is ready.")
	c.waitFor(name)
}

func (c *chrome) signOut(p *provider) {
	c.t.Helper()
	c.open(p.URL + "/settings")
	c.click("Sign out")
	c.waitFor("You are signed out")
}

// adminWithPasskey signs the admin in with the password ("Not now" to the
// suggestion), adds a passkey named name and signs out again.
func (c *chrome) adminWithPasskey(p *provider, app *rpApp, name string) {
	c.t.Helper()
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.click("Not now")
	c.waitFor("Signed in as admin")
	c.presence(true)
	c.addPasskey(p, name)
	c.signOut(p)
}

// A cancelled or failed prompt says so in plain words, with a code, and
// keeps "Use Password" in view; the password then works.
func TestPasskeyPromptCancelled(t *testing.T) {
	p, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	c.adminWithPasskey(p, app, "Office Laptop")

	c.presence(false)
	c.open(app.URL + "/login")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.waitFor("Sign in with a passkey")
	c.userVerified(false) // the fingerprint is not recognised: the prompt fails
	c.presence(true)
	c.click("Sign in with a passkey")
	c.waitFor("The passkey prompt was cancelled or timed out.")
	c.waitFor("PK-CANCELLED")
	c.waitFor("Use Password")
	c.screenshot("login-cancelled")
	// Try again works once the device recognises the member.
	c.userVerified(true)
	c.click("Sign in with a passkey")
	c.waitFor("Signed in as admin")

	// And the password fallback from the same page.
	c.signOut(p)
	c.presence(false)
	c.open(app.URL + "/login")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.waitFor("Sign in with a passkey")
	c.click("Use Password")
	c.fill("Password", adminPassword)
	c.click("Sign in")
	c.waitFor("Signed in as admin")
	c.waitFor("amr: pwd")
}

// Usernameless sign-in: the "Email or username" field offers the passkey
// through autofill (conditional mediation); the virtual authenticator
// picks it at once.
func TestPasskeyAutofillSignIn(t *testing.T) {
	p, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	c.adminWithPasskey(p, app, "Office Laptop")

	c.open(app.URL + "/login") // nothing typed
	c.waitFor("Signed in as admin")
	c.waitFor("amr: hwk user mfa")
}

// A member can have several passkeys, one per device.
func TestSecondPasskeyOnAnotherDevice(t *testing.T) {
	p, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.click("Not now")
	c.waitFor("Signed in as admin")
	c.presence(true)
	c.addPasskey(p, "Office Laptop")

	laptop := c.auths[0]
	c.removeAuthenticator(laptop) // the laptop is elsewhere; the phone is here
	phone := c.addAuthenticator()
	c.addPasskey(p, "Admin Phone")
	c.waitFor("Office Laptop")
	if n := c.credentials(phone); n != 1 {
		t.Fatalf("the phone holds %d passkeys", n)
	}
	c.signOut(p)
	c.presence(false)
	c.open(app.URL + "/login")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.presence(true)
	c.click("Sign in with a passkey")
	c.waitFor("Signed in as admin")
	c.waitFor("amr: hwk user mfa")

	c.open(p.URL + "/settings/passkeys")
	c.waitFor("Admin Phone")
	c.waitFor("Office Laptop")
}

// The suggestion is only for members the rollout includes: with the
// default rollout (admins), a member sees none and no Add Passkey.
func TestRolloutHidesPasskeysFromMembers(t *testing.T) {
	p, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	c.presence(false)
	c.signInWithPassword(app, aliceLogin, alicePassword)
	c.waitFor("Signed in as alice")
	c.absent("Sign in faster with a passkey")
	c.open(p.URL + "/settings/passkeys")
	c.waitFor("Adding passkeys is not available for your account yet.")
	c.absent("Add Passkey")
}

// In an app's built-in browser the passkey step explains and offers the
// password instead of a prompt that would fail.
func TestEmbeddedWebView(t *testing.T) {
	p, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	c.adminWithPasskey(p, app, "Office Laptop")

	c.userAgent("Mozilla/5.0 (Linux; Android 14; Pixel 8; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0 Mobile Safari/537.36")
	c.open(app.URL + "/login")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.waitFor("Passkeys do not work inside this app's built-in browser.")
	c.waitFor("PK-WEBVIEW")
	c.absent("Sign in with a passkey")
	// The ways out, in one place: on Android an intent: link hands the
	// app's site to the browser; the password is right there too.
	var intent string
	c.eval(`[...document.querySelectorAll('a')].find((a) => a.textContent === 'Open in your browser').href`, &intent)
	if want := "intent://" + strings.TrimPrefix(app.URL, "http://") + "/#Intent;scheme=http;action=android.intent.action.VIEW;S.browser_fallback_url="; !strings.HasPrefix(intent, want) {
		t.Errorf("Open in your browser: %q, want %q...", intent, want)
	}
	c.waitFor("Or use your password here: Use Password, below.")
	c.click("Use Password")
	c.fill("Password", adminPassword)
	c.click("Sign in")
	c.waitFor("Signed in as admin")

	c.signOut(p)

	// Elsewhere (an iPhone app's web view): a link to copy.
	c.userAgent("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148")
	c.open(app.URL + "/login")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.waitFor("Copy this link and open it in Safari")
	c.waitFor(app.URL + "/")
	c.absent("Open in your browser")
	c.click("Copy link")
}

// The suggestion after a password sign-in is only for members without a
// passkey. A member who never answered it ("Not now" is never pressed, so
// no snooze hides it) adds a passkey in Settings, then signs in with the
// password: straight to the app, no suggestion. A similar member without
// a passkey sees it.
func TestNoSuggestionForMemberWithPasskey(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	const bobPassword, carolPassword = "bob passphrase 2026", "carol passphrase 2026"
	bob := newMember(t, p, "bob", bobPassword)
	carol := newMember(t, p, "carol", carolPassword)
	ctx := context.Background()
	snoozed := func(u *store.User) bool {
		t.Helper()
		until, err := p.store.SuggestionSnoozedUntil(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return !until.IsZero()
	}
	shown := func(u *store.User) int {
		t.Helper()
		n := 0
		for _, e := range events(t, p, audit.SuggestionShown) {
			if e.UserID == u.ID {
				n++
			}
		}
		return n
	}

	c := newChrome(t)
	c.presence(false)
	// bob signs in with his password: he has no passkey, so the suggestion
	// shows. He does not answer it and goes to Settings > Passkeys.
	c.signInWithPassword(app, "bob", bobPassword)
	c.waitFor("Sign in faster with a passkey")
	c.presence(true)
	c.addPasskey(p, "Bob Laptop")
	c.signOut(p)
	if snoozed(bob) {
		t.Fatal("bob's suggestion is snoozed: the test would prove nothing")
	}
	if n := shown(bob); n != 1 {
		t.Fatalf("the suggestion was shown to bob %d times, want 1", n)
	}

	// bob signs in with the password again: no suggestion.
	c.presence(false) // the autofill must not sign him in with the passkey
	c.signInWithPassword(app, "bob", bobPassword)
	c.waitFor("Signed in as bob")
	c.waitFor("amr: pwd")
	c.absent("Sign in faster with a passkey")
	if n := shown(bob); n != 1 {
		t.Fatalf("the suggestion was shown to bob, who has a passkey (%d times)", n)
	}
	if snoozed(bob) {
		t.Fatal("bob's suggestion is snoozed")
	}
	c.signOut(p)

	// carol, alike but without a passkey, sees it.
	c.signInWithPassword(app, "carol", carolPassword)
	c.waitFor("Sign in faster with a passkey")
	if n := shown(carol); n != 1 || snoozed(carol) {
		t.Fatalf("carol: shown %d times, snoozed %v", n, snoozed(carol))
	}
	c.click("Not now")
	c.waitFor("Signed in as carol")
}
