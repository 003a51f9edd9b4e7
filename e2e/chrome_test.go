package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/communityidp/idp/idp/testskip"
)

// chromePath is Debian's Chromium, which .ci/run installs.
const chromePath = "/usr/bin/chromium"

// chrome is a headless Chromium tab with a DevTools WebAuthn virtual
// authenticator, driven the way a member uses the pages: by the visible
// text of buttons and the labels of fields.
type chrome struct {
	t     *testing.T
	ctx   context.Context
	auths []webauthn.AuthenticatorID
}

func newChrome(t *testing.T) *chrome {
	t.Helper()
	if _, err := os.Stat(chromePath); err != nil {
		testskip.Skip(t, "browser (Chromium)", fmt.Sprintf("install Debian's Chromium at %s (apt-get install -y chromium): %v", chromePath, err))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromePath),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 900))
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		chromedp.Cancel(tab)
		cancelTab()
		cancelAlloc()
	})
	// Start the browser on the tab context itself: it owns the process.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	off := false
	if _, err := chromedp.Call(tab, webauthn.Enable, webauthn.EnableParams{EnableUI: &off}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	c := &chrome{t: t, ctx: tab}
	c.addAuthenticator()
	return c
}

// addAuthenticator plugs in a new platform authenticator with user
// verification (like Face ID or Windows Hello). Presence is simulated, so
// prompts are answered at once; see presence.
func (c *chrome) addAuthenticator() webauthn.AuthenticatorID {
	c.t.Helper()
	return c.addAuthenticatorSynced(true)
}

// addAuthenticatorSynced plugs in an authenticator whose passkeys are
// synced (a password manager) or bound to it (a security key).
func (c *chrome) addAuthenticatorSynced(synced bool) webauthn.AuthenticatorID {
	c.t.Helper()
	res, err := chromedp.Call(c.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
			DefaultBackupEligibility: synced, DefaultBackupState: synced,
		}})
	if err != nil {
		c.t.Fatalf("add virtual authenticator: %v", err)
	}
	c.auths = append(c.auths, res.AuthenticatorID)
	return res.AuthenticatorID
}

// removeAuthenticator unplugs an authenticator (a lost device).
func (c *chrome) removeAuthenticator(id webauthn.AuthenticatorID) {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id}); err != nil {
		c.t.Fatal(err)
	}
	for i, a := range c.auths {
		if a == id {
			c.auths = append(c.auths[:i], c.auths[i+1:]...)
			break
		}
	}
}

// presence turns automatic user presence on or off for every
// authenticator. Off, a prompt (or the autofill request) waits forever,
// like a member who does not touch the sensor.
func (c *chrome) presence(on bool) {
	c.t.Helper()
	for _, id := range c.auths {
		if _, err := chromedp.Call(c.ctx, webauthn.SetAutomaticPresenceSimulation,
			webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: id, Enabled: on}); err != nil {
			c.t.Fatal(err)
		}
	}
}

// userVerified makes user verification succeed or fail (a wrong
// fingerprint), for every authenticator.
func (c *chrome) userVerified(ok bool) {
	c.t.Helper()
	for _, id := range c.auths {
		if _, err := chromedp.Call(c.ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: id, IsUserVerified: ok}); err != nil {
			c.t.Fatal(err)
		}
	}
}

// credentials counts the passkeys the authenticator holds.
func (c *chrome) credentials(id webauthn.AuthenticatorID) int {
	c.t.Helper()
	res, err := chromedp.Call(c.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		c.t.Fatal(err)
	}
	return len(res.Credentials)
}

// userAgent makes the tab report another browser.
func (c *chrome) userAgent(ua string) {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *chrome) open(url string) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, chromedp.Navigate(url)); err != nil {
		c.t.Fatalf("open %s: %v", url, err)
	}
}

// pageHelpers finds elements as a person does: visible ones, by text.
const pageHelpers = `
if (document.readyState !== 'complete') return 'the page is still loading';
const visible = (e) => e.checkVisibility({checkVisibilityCSS: true, contentVisibilityAuto: true}) && !e.closest('details:not([open]) > :not(summary)');
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const scopeOf = (name) => {
  if (!name) return document;
  const item = [...document.querySelectorAll('li')].find((li) => { const h = li.querySelector('h3'); return h && norm(h.textContent) === name; });
  if (!item) throw new Error('no item named ' + name);
  return item;
};
const byText = (root, sel, text) => [...root.querySelectorAll(sel)].filter((e) => visible(e) && norm(e.textContent) === text);
`

// click presses the one visible button (or link, or disclosure) with this
// text, inside the list item named scope if given.
func (c *chrome) click(text string, scope ...string) {
	c.t.Helper()
	in := ""
	if len(scope) > 0 {
		in = scope[0]
	}
	script := fmt.Sprintf(`(() => {`+pageHelpers+`
  const els = byText(scopeOf(%q), 'button, summary, a', %q);
  if (els.length !== 1) return 'found ' + els.length + ' visible elements';
  els[0].click();
  return 'ok';
})()`, in, text)
	// Like a person, wait until the button shows.
	if got, err := c.until(script); err != nil || got != "ok" {
		c.t.Fatalf("click %q: %v %s\npage: %s", text, err, got, c.text())
	}
}

// until runs a script that answers "ok" once it could act, retrying for
// up to 10 seconds, and returns its last answer.
func (c *chrome) until(script string) (string, error) {
	var got string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(40 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		got, err = chromedp.Run(ctx, chromedp.Evaluate[string](script))
		cancel()
		if err == nil && got == "ok" {
			break
		}
	}
	return got, err
}

// fill types value into the visible field labelled label.
func (c *chrome) fill(label, value string) {
	c.t.Helper()
	script := fmt.Sprintf(`(() => {`+pageHelpers+`
  const labels = [...document.querySelectorAll('label')].filter((l) => visible(l) && norm(l.textContent) === %q);
  if (labels.length !== 1) return 'found ' + labels.length + ' visible labels: ' + labels.map((l) => l.htmlFor).join(' ');
  const input = document.getElementById(labels[0].htmlFor);
  if (!input) return 'label points nowhere';
  input.focus();
  input.value = %q;
  input.dispatchEvent(new Event('input', {bubbles: true}));
  return 'ok';
})()`, label, value)
	if got, err := c.until(script); err != nil || got != "ok" {
		c.t.Fatalf("fill %q: %v %s\npage: %s", label, err, got, c.text())
	}
}

// submit presses a button that sends a form, and waits for the next page.
func (c *chrome) text() string {
	got, _ := chromedp.Run(c.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	return got
}

// waitFor waits until the page shows text (visible text).
// It polls from Go, so a navigation in between does not break the wait.
func (c *chrome) waitFor(text string) {
	c.t.Helper()
	expr := fmt.Sprintf(`!!(document.body && document.body.innerText.includes(%q))`, text)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(40 * time.Millisecond)
	}
	c.t.Fatalf("waiting for %q\nat %s\npage: %s", text, c.url(), c.text())
}

// absent checks the page does not show text.
func (c *chrome) absent(text string) {
	c.t.Helper()
	if strings.Contains(c.text(), text) {
		c.t.Fatalf("the page shows %q:\n%s", text, c.text())
	}
}

func (c *chrome) url() string {
	u, _ := chromedp.Run(c.ctx, chromedp.Location())
	return u
}

// screenshot saves the page under $IDP_SCREENSHOTS (when set), for people
// to look at.
func (c *chrome) screenshot(name string) {
	dir := os.Getenv("IDP_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

// eval runs a script and decodes its JSON result into v.
func (c *chrome) eval(script string, v any) {
	c.t.Helper()
	raw, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`JSON.stringify(`+script+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("eval: %v", err)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		c.t.Fatalf("eval result %q: %v", raw, err)
	}
}
