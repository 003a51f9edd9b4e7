package e2e

import (
	"strings"
	"testing"
)

// "Can I use passkeys here?" in Chromium: linked from a failed passkey
// prompt with the code and the stage, it runs the browser's checks, says
// passkeys work here, and builds the report support asks for from the
// member's answers, with no personal data. In an app's built-in browser
// it says they will not work and what to do.
func TestPasskeysCheckInBrowser(t *testing.T) {
	p, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	c.adminWithPasskey(p, app, "Office Laptop")

	// A failed prompt links to the check with its code and stage.
	c.presence(false)
	c.open(app.URL + "/login")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.waitFor("Sign in with a passkey")
	c.userVerified(false)
	c.presence(true)
	c.click("Sign in with a passkey")
	c.waitFor("PK-CANCELLED")
	var href string
	c.eval(`document.querySelector('#passkey-status [data-check-link]').href`, &href)
	if !strings.Contains(href, "/help/passkeys-check?code=PK-CANCELLED&stage=signin") {
		t.Fatalf("the error links to %q", href)
	}
	c.click("Can I use passkeys here?")
	c.waitFor("The error you saw: The passkey prompt was cancelled or timed out.")
	c.waitFor("This browser supports passkeys.")
	c.waitFor("This device can keep a passkey")
	c.waitFor("You are in a regular browser, not inside an app.")
	c.waitFor("Passkeys should work here.")
	c.choose("Yes")
	var report string
	c.eval(`document.getElementById('check-report').innerText`, &report)
	for _, want := range []string{"Chrome on Linux", "Signing in", "(PK-CANCELLED)", "Passkeys supported: Yes",
		"Device can keep a passkey: Yes", "App's built-in browser: No"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	if !strings.Contains(report, "Does signing in with your password still work?\nYes") {
		t.Errorf("the answer is not in the report:\n%s", report)
	}
	if strings.Contains(report, adminLogin+"@") || strings.Contains(report, "127.0.0.1") {
		t.Errorf("the report holds personal data:\n%s", report)
	}

	// Inside an app's built-in browser.
	c.userAgent("Mozilla/5.0 (Linux; Android 14; Pixel 8; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0 Mobile Safari/537.36")
	c.open(p.URL + "/help/passkeys-check")
	c.waitFor("You are in an app's built-in browser, where passkeys do not work.")
	c.waitFor("Passkeys will not work here.")
}
