package e2e

import (
	"strings"
	"testing"
)

// Settings > Devices and apps in Chromium: it lists this browser and a
// second one, signs the other out (its next request is signed out), and
// removes an app: the app's refresh token stops working and the example
// site is signed out by back-channel logout.
func TestDevicesAndAppsInBrowser(t *testing.T) {
	p, site := startExampleSite(t)
	c := newChrome(t)
	c.presence(false)

	// Signed in to the example site (which asks for offline_access).
	c.open(site.URL + "/")
	c.click("Sign in")
	c.fill("Email or username", aliceLogin)
	c.click("Continue")
	c.waitFor("Password")
	if c.has("Use Password") {
		c.click("Use Password")
	}
	c.fill("Password", alicePassword)
	c.click("Sign in")
	c.waitFor("Hello, Alice Example")

	// A second browser, elsewhere.
	other := newBrowser(t, p)
	signInPage(t, other, p, aliceLogin, alicePassword)

	c.open(p.URL + "/settings")
	c.click("Devices and apps")
	c.waitFor("Where you are signed in")
	c.waitFor("This device")
	var sessions int
	c.eval(`document.querySelectorAll('section[aria-labelledby=sessions-h] li').length`, &sessions)
	if sessions != 2 {
		t.Fatalf("%d sessions listed, want 2:\n%s", sessions, c.text())
	}
	c.waitFor("Community Site")

	// Sign the other browser out: the one without "This device".
	c.js(`[...document.querySelectorAll('section[aria-labelledby=sessions-h] li')].find((li) => !li.textContent.includes('This device')).querySelector('button').click();`, nil)
	c.waitFor("That device is signed out.")
	if r := other.Get(p.URL + "/settings"); r.URL.Path != "/login" {
		t.Fatalf("the other browser is still signed in: %s", r.URL)
	}
	c.eval(`document.querySelectorAll('section[aria-labelledby=sessions-h] li').length`, &sessions)
	if sessions != 1 {
		t.Fatalf("%d sessions after signing the other out", sessions)
	}

	// Remove the site's access: asked first, then done.
	c.click("Remove access", "Community Site")
	c.waitFor("will no longer have access to your account")
	c.click("Yes, remove access", "Community Site")
	c.waitFor("The app's access is removed.")
	c.waitFor("No app keeps access to your account.")
	if ev := events(t, p, "grant.revoked"); len(ev) != 1 || ev[0].ClientID != exampleSiteID {
		t.Errorf("audit: %+v", ev)
	}
	// The site was told: its session is gone.
	for i := 0; ; i++ {
		c.open(site.URL + "/account")
		if strings.Contains(c.text(), "Welcome to the community") {
			break
		}
		if i == 100 {
			t.Fatalf("the site still shows alice signed in: %s", c.text())
		}
		c.waitJS("document.readyState === 'complete'")
	}
	// The provider session in this browser goes on.
	c.open(p.URL + "/settings/devices")
	c.waitFor("This device")
}
