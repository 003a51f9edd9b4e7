package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/communityidp/idp/config"
)

// choose picks the visible radio button or checkbox whose label reads
// text, as a person clicks the words beside it.
func (c *chrome) choose(text string) {
	c.t.Helper()
	script := fmt.Sprintf(`(() => {`+pageHelpers+`
  const labels = [...document.querySelectorAll('label')].filter((l) => visible(l) && norm(l.textContent) === %q && l.querySelector('input'));
  if (labels.length !== 1) return 'found ' + labels.length + ' visible choices';
  labels[0].click();
  return labels[0].querySelector('input').checked ? 'ok' : 'not checked';
})()`, text)
	if got, err := c.until(script); err != nil || got != "ok" {
		c.t.Fatalf("choose %q: %v %s\npage: %s", text, err, got, c.text())
	}
}

// The console in Chromium, as an admin uses it: the rollout moved from the
// console (and followed by the sign-in at once), a member created, their
// role and email changed, Disable account confirmed in place (Cancel
// first), and an action pressed after the sign-in went stale carried out
// once the admin signed in again and confirmed it.
func TestAdminConsoleInBrowser(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutAdmins })
	c := newChrome(t)
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.click("Not now")
	c.waitFor("Signed in as admin")

	// Rollout: everyone, from the console.
	c.open(p.URL + "/admin/rollout")
	c.waitFor("The configuration's passkeys.rollout")
	c.choose("Everyone")
	c.click("Save rollout")
	c.waitFor("The rollout is saved")
	c.waitFor("Set in the console by admin")
	if ev := events(t, p, "admin.rollout.changed"); len(ev) != 1 || ev[0].Details["to"] != "everyone" {
		t.Fatalf("audit: %+v", ev)
	}
	// A member is now offered passkeys after a password sign-in.
	m := newChrome(t)
	m.presence(false)
	m.signInWithPassword(app, aliceLogin, alicePassword)
	m.waitFor("Sign in faster with a passkey")

	// Create a member without mail: a link to hand over.
	c.open(p.URL + "/admin/members")
	c.click("Create an account without an invitation")
	// (The invitation form above has an Email field too.)
	c.submitSel(map[string]string{"#create-username": "dora", "#create-email": "dora@example.org"}, "details.edit[open] button[type=submit]")
	c.waitFor("/recover?token=")
	dora := mustUser(t, p, "dora")

	// Role and email.
	c.open(p.URL + "/admin/members/" + dora.ID)
	c.waitFor("dora@example.org")
	c.fill("Role", "admin")
	c.click("Change role")
	c.waitFor("The account is changed.")
	c.click("Edit profile")
	c.fill("Email", "dora@new.example")
	c.click("Save")
	c.waitFor("dora@new.example (Not verified yet)")
	if u := mustUser(t, p, "dora"); u.Role != "admin" || u.Email != "dora@new.example" {
		t.Fatalf("after the edits: %+v", u)
	}

	// Disable account asks first; Cancel leaves it be.
	alice := mustUser(t, p, aliceLogin)
	c.open(p.URL + "/admin/members/" + alice.ID)
	c.click("Disable account")
	c.waitFor("will no longer be able to sign in")
	c.click("Cancel")
	c.absent("will no longer be able to sign in")
	if mustUser(t, p, aliceLogin).Disabled {
		t.Fatal("Cancel disabled the account")
	}

	// A stale sign-in: the action waits for the admin to sign in again and
	// confirm, then is done.
	p.clock.Advance(p.cfg.Sessions.ReauthAfter.D() + time.Minute)
	c.click("Sign out everywhere")
	c.click("Yes, sign out everywhere")
	c.waitFor("Email or username")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.waitJS(`document.body.innerText.includes('Enter your password') || document.body.innerText.includes('Use Password')`)
	if c.has("Use Password") {
		c.click("Use Password")
	}
	c.fill("Password", adminPassword)
	c.click("Sign in")
	c.waitFor("“Yes, sign out everywhere” was not done yet")
	if n := len(events(t, p, "admin.sessions.revoked")); n != 0 {
		t.Fatalf("signed out before the admin confirmed: %d events", n)
	}
	c.click("Yes, sign out everywhere")
	c.waitFor("The member was signed out everywhere")
	if n := len(events(t, p, "admin.sessions.revoked")); n != 1 {
		t.Fatalf("%d sign-outs audited", n)
	}
	m.open(p.URL + "/settings")
	m.waitFor("Email or username")

	c.click("Disable account")
	c.click("Yes, disable")
	c.waitFor("The account is disabled and signed out everywhere.")
	if !mustUser(t, p, aliceLogin).Disabled {
		t.Fatal("Yes, disable did not disable the account")
	}
}

// A refused sign-in request in Chromium speaks the member's language; the
// library's English stays inside the closed support details.
func TestRequestErrorsTranslatedInBrowser(t *testing.T) {
	p := startProvider(t, nil)
	c := newChrome(t)
	if _, err := chromedp.Call(c.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "es-ES,es;q=0.9"}}); err != nil {
		t.Fatal(err)
	}
	for _, params := range []map[string]string{{"client_id": "nope"}, {"redirect_uri": "https://evil.example/cb"}} {
		c.open(authorizeURL(p, siteParams(params)))
		c.waitFor("Esta app no está configurada para iniciar sesión aquí")
		shown := c.text()
		for _, english := range []string{"client_id", "redirect_uri", "client configuration"} {
			if strings.Contains(shown, english) {
				t.Errorf("%v: the page shows the library's %q: %s", params, english, shown)
			}
		}
	}
}
