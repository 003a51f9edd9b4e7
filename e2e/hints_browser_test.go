package e2e

import (
	"strings"
	"testing"

	"github.com/communityidp/idp/config"
)

// ceremonyLog records, on every page, the fetches, clicks and WebAuthn
// calls in their order, with the hints each create call passed.
const ceremonyLog = `
window.__log = [];
const origFetch = window.fetch;
window.fetch = function (u) { window.__log.push('fetch ' + (typeof u === 'string' ? u : u.url)); return origFetch.apply(this, arguments); };
document.addEventListener('click', () => window.__log.push('click'), true);
const origCreate = navigator.credentials.create.bind(navigator.credentials);
navigator.credentials.create = (o) => { window.__log.push('create ' + JSON.stringify(o.publicKey.hints || [])); return origCreate(o); };
const origGet = navigator.credentials.get.bind(navigator.credentials);
navigator.credentials.get = (o) => { window.__log.push(o.mediation === 'conditional' ? 'get conditional' : 'get'); return origGet(o); };
`

// promptAfterClick checks the log: the ceremony's options were fetched
// from begin before the click (begin "": they came with the page, and
// nothing was fetched before it), and nothing was fetched between the
// click and the browser's prompt (Safari refuses a prompt begun after an
// await). It returns the prompt's entry.
func promptAfterClick(t *testing.T, log []string, prompt, begin string) string {
	t.Helper()
	click, at := -1, -1
	for i, e := range log {
		if e == "click" {
			click, at = i, -1
		}
		if click >= 0 && at < 0 && strings.HasPrefix(e, prompt) {
			at = i
		}
	}
	if click < 0 || at < 0 {
		t.Fatalf("no %s after a click: %v", prompt, log)
	}
	fetched := false
	for _, e := range log[:click] {
		fetched = fetched || e == "fetch "+begin || begin == "" && strings.HasPrefix(e, "fetch ")
	}
	if fetched != (begin != "") {
		t.Errorf("options from begin %q before the click: %v, want %v: %v", begin, fetched, begin != "", log)
	}
	for _, e := range log[click+1 : at] {
		if strings.HasPrefix(e, "fetch ") {
			t.Errorf("%s waited for %s after the click: %v", prompt, e, log)
		}
	}
	return log[at]
}

// Settings > Passkeys offers a passkey on this device (hints
// client-device) and on a phone or security key (hybrid, security-key);
// each prompt opens straight from the click, its options fetched before.
// So does the sign-in's "Sign in with a passkey", with the browser's
// default hints, its options on the page.
func TestPasskeyHintsAndPromptFromClick(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	c := newChrome(t)
	c.beforeEachPage(ceremonyLog)
	c.presence(false)
	c.signInWithPassword(app, aliceLogin, alicePassword)
	c.click("Not now")
	c.waitFor("Signed in as alice")
	c.presence(true)

	for _, b := range []struct{ button, hints string }{
		{"Use a phone or security key", `["hybrid","security-key"]`},
		{"Add Passkey", `["client-device"]`},
	} {
		c.open(p.URL + "/settings/passkeys")
		c.waitJS(`document.querySelector('[data-passkey-register][data-ready]')`)
		c.removeAuthenticator(c.auths[0]) // a new device each time: no passkey of alice's yet
		c.addAuthenticator()
		c.click(b.button)
		c.waitFor("Your passkey was added.")
		var log []string
		c.eval(`window.__log`, &log)
		if got := promptAfterClick(t, log, "create", "/webauthn/register/begin"); got != "create "+b.hints {
			t.Errorf("%s: %s, want hints %s", b.button, got, b.hints)
		}
	}

	c.signOut(p)
	c.presence(false)
	c.open(app.URL + "/login")
	c.fill("Email or username", aliceLogin)
	c.click("Continue")
	c.waitFor("Sign in with a passkey")
	c.waitJS(`document.querySelector('[data-passkey-login][data-ready]') && document.getElementById('passkey-options')`)
	c.click("Sign in with a passkey") // the prompt waits: nobody touches the sensor
	c.waitJS(`window.__log.includes('get')`)
	var log []string
	c.eval(`window.__log`, &log)
	promptAfterClick(t, log, "get", "")

	c.open(app.URL + "/login")
	c.fill("Email or username", aliceLogin)
	c.click("Continue")
	c.waitFor("Sign in with a passkey")
	c.presence(true)
	c.click("Sign in with a passkey")
	c.waitFor("Signed in as alice")
}
