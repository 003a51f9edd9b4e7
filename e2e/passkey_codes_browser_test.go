package e2e

import (
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/communityidp/idp/config"
)

// beforeEachPage runs script in every page before its own scripts, as a
// browser with other habits would behave.
func (c *chrome) beforeEachPage(script string) {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, cdppage.AddScriptToEvaluateOnNewDocument,
		cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: script}); err != nil {
		c.t.Fatal(err)
	}
}

// Adding a passkey on a device that already holds one says PK-EXISTS
// (not the DOMException's legacy "11") and the rollout figures count it
// as PK-EXISTS.
func TestPasskeyExistsCode(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	c := newChrome(t)
	c.adminWithPasskey(p, app, "Office Laptop")
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.waitFor("Signed in as admin")
	c.open(p.URL + "/settings/passkeys")
	c.waitFor("Office Laptop")
	c.presence(true)
	c.click("Add Passkey")
	c.waitFor("PK-EXISTS")
	if got := c.text(); strings.Contains(got, "Error code 11") || !strings.Contains(got, "already") {
		t.Errorf("the page says: %s", got)
	}
	waitFor(t, "the failure in the figures", func() bool {
		for _, e := range events(t, p, "passkey.register.failure") {
			if e.Code == "PK-EXISTS" {
				return true
			}
		}
		return false
	})
	for _, e := range events(t, p, "passkey.register.failure") {
		if e.Code != "PK-EXISTS" {
			t.Errorf("failure counted as %q", e.Code)
		}
	}
}

// A browser whose autofill request fails at once when the device has no
// passkey for the site (some do) shows nothing and counts nothing: the
// member did not try a passkey, and the password that follows is a plain
// password sign-in, not one "after a failed passkey".
func TestAutofillFailureIsSilent(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	c := newChrome(t)
	c.beforeEachPage(`(() => {
  const get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (opts) => opts && opts.mediation === 'conditional'
    ? Promise.reject(new DOMException('No passkey for this site on this device.', 'NotAllowedError'))
    : get(opts);
})();`)
	c.presence(false)
	for i := range 3 {
		c.open(app.URL + "/login")
		c.waitFor("Email or username")
		time.Sleep(300 * time.Millisecond) // the autofill request has failed by now
		c.absent("The passkey prompt was cancelled")
		if c.has("PK-") {
			t.Fatalf("an error on a page the member has not touched: %s", c.text())
		}
		c.fill("Email or username", adminLogin)
		c.click("Continue")
		c.waitFor("Password")
		if c.has("Use Password") {
			c.click("Use Password")
		}
		c.fill("Password", adminPassword)
		c.click("Sign in")
		if i == 0 { // the suggestion, once: "Not now" is remembered
			c.waitFor("Sign in faster with a passkey")
			c.click("Not now")
		}
		c.waitFor("Signed in as admin")
		c.signOut(p)
	}
	if got := events(t, p, "passkey.failure"); len(got) != 0 {
		t.Errorf("autofill counted as failed sign-ins: %+v", got)
	}
	for _, e := range events(t, p, "signin.success") {
		if e.Method != "pwd" {
			t.Errorf("a password sign-in recorded as %q", e.Method)
		}
	}
}

// The server agrees: a failure reported for an autofill ceremony ends it
// but counts nothing; one for a prompt the member saw counts.
func TestAutofillFailureReportNotCounted(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	b := newBrowser(t, p)
	csrf := csrfOf(b.Get(p.URL + "/login").page)
	for _, conditional := range []bool{true, false} {
		st, begin := b.postJSON("/webauthn/login/begin", csrf, map[string]any{"conditional": conditional})
		if st != 200 {
			t.Fatalf("begin: %d %s", st, begin)
		}
		st, _ = b.postJSON("/webauthn/failure", csrf, map[string]any{"stage": "login", "code": "PK-CANCELLED",
			"ceremony": jsonString(begin["ceremony"])})
		if st != 204 {
			t.Fatalf("report (conditional %v): %d", conditional, st)
		}
		want := 0
		if !conditional {
			want = 1
		}
		if got := len(events(t, p, "passkey.failure")); got != want {
			t.Errorf("after a report for a conditional=%v ceremony: %d failures counted, want %d: %+v", conditional, got, want, events(t, p, "passkey.failure"))
		}
	}
}

// A refused sign-in request speaks the member's language: the protocol
// library's English goes into the support details only.
func TestRequestErrorsTranslated(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	b.client.Transport = headers{"Accept-Language": "es"}
	for _, tc := range []struct {
		name    string
		params  map[string]string
		english string
	}{
		{"unknown client", map[string]string{"client_id": "nope"}, "unknown client_id"},
		{"unregistered redirect", map[string]string{"redirect_uri": "https://evil.example/cb"}, "redirect_uri"},
	} {
		r := b.Get(authorizeURL(p, siteParams(tc.params)))
		if r.Status != 400 {
			t.Fatalf("%s: %d %s", tc.name, r.Status, r.Text())
		}
		var msg string
		walk(r.Doc, func(n *htmlNode) {
			if n.Data == "main" {
				msg = textOf(n)
			}
		})
		if !strings.Contains(msg, "Esta app no está configurada para iniciar sesión aquí") {
			t.Errorf("%s: no Spanish message: %s", tc.name, msg)
		}
		details := ""
		walk(r.Doc, func(n *htmlNode) {
			if n.Data == "details" && strings.Contains(attr(n, "class"), "support-details") {
				details = textOf(n)
			}
		})
		if !strings.Contains(details, tc.english) {
			t.Errorf("%s: the library's text is not in the support details: %q", tc.name, details)
		}
		if strings.Contains(strings.Replace(msg, details, "", 1), tc.english) {
			t.Errorf("%s: English library text outside the support details: %s", tc.name, msg)
		}
	}
}
