package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/testskip"
	"github.com/communityidp/idp/ui"
)

// axePath is axe-core as `npm ci --prefix e2e/axe` installs it (the
// version is pinned in e2e/axe/package-lock.json).
const axePath = "axe/node_modules/axe-core/axe.min.js"

// shippedLanguages are the catalogs under ui/locales: a language added
// there is checked too.
var shippedLanguages = ui.Languages()

// loadAxe reads axe-core, or skips (fails in CI) when it is not installed.
func loadAxe(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(axePath)
	if err != nil {
		testskip.Skip(t, "accessibility (axe-core)", fmt.Sprintf("run `npm ci --prefix e2e/axe --no-audit --no-fund` (%v)", err))
	}
	return string(b)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// js runs a script in the page and decodes its result into v (if not nil).
func (c *chrome) js(script string, v any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => JSON.stringify(await (async () => {`+script+`})()) ?? 'null')()`, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("script %s: %v", script, err)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(raw), v); err != nil {
			c.t.Fatalf("script result %q: %v", raw, err)
		}
	}
}

// waitSel waits until a visible element matches the CSS selector.
func (c *chrome) waitSel(sel string) {
	c.t.Helper()
	c.waitJS(fmt.Sprintf(`[...document.querySelectorAll(%q)].some((e) => e.checkVisibility())`, sel))
}

// waitJS waits until a loaded page makes the expression true.
func (c *chrome) waitJS(cond string) {
	c.t.Helper()
	expr := `document.readyState === 'complete' && !!(` + cond + `)`
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(40 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
	}
	c.t.Fatalf("waiting for %s\nat %s\npage: %s", cond, c.url(), c.text())
}

// submitSel types into fields (selector: value) then clicks the element
// matching button; language-independent, unlike fill and click.
func (c *chrome) submitSel(fields map[string]string, button string) {
	c.t.Helper()
	for sel, v := range fields {
		c.waitSel(sel)
		c.js(fmt.Sprintf(`const e = document.querySelector(%q); e.focus(); e.value = %q; e.dispatchEvent(new Event('input', {bubbles: true}));`, sel, v), nil)
	}
	c.waitSel(button)
	c.js(fmt.Sprintf(`[...document.querySelectorAll(%q)].find((e) => e.checkVisibility()).click();`, button), nil)
}

// axe injects axe-core into the page (CDP's Runtime.evaluate is not
// subject to the page's CSP) and runs the WCAG 2.2 AA rules; it returns
// the violations as readable lines. IDP_AXE_BEST_PRACTICE=1 adds axe's
// best-practice rules (landmarks, heading order), for a closer look.
func (c *chrome) axe(src, page string) []string {
	c.t.Helper()
	var vs []axeViolation
	c.js(`if (!window.axe) { (0, eval)(`+jsString(src)+`); }
const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
if (`+jsString(os.Getenv("IDP_AXE_BEST_PRACTICE"))+`) tags.push('best-practice');
const r = await axe.run(document, {runOnly: tags, resultTypes: ['violations']});
return r.violations;`, &vs)
	var out []string
	for _, v := range vs {
		for _, n := range v.Nodes {
			out = append(out, fmt.Sprintf("%s: %s (%s) at %v: %s\n    %s", page, v.ID, v.Impact, n.Target, v.Help,
				strings.ReplaceAll(n.Summary, "\n", "\n    ")))
		}
	}
	return out
}

func (c *chrome) colorScheme(dark bool) {
	c.t.Helper()
	v := "light"
	if dark {
		v = "dark"
	}
	if _, err := chromedp.Call(c.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}}); err != nil {
		c.t.Fatal(err)
	}
}

// freshBrowser forgets cookies and passkeys between providers.
func (c *chrome) freshBrowser() {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		c.t.Fatal(err)
	}
	for _, id := range c.auths {
		if _, err := chromedp.Call(c.ctx, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: id}); err != nil {
			c.t.Fatal(err)
		}
	}
}

// TestA11yPages runs axe-core on every setup, sign-in, passkey, settings,
// error and admin page, in every shipped language, in the light color scheme
// and (English) the dark one too: zero violations. English runs with the
// default look, the others with a brand (logo, links, primary color).
func TestA11yPages(t *testing.T) {
	src := loadAxe(t)
	start := time.Now()
	c := newChrome(t)
	// The check itself works: a page with a known fault fails it.
	c.open("data:text/html,<html><title>t</title><body><main><img src='x.png'></main></body></html>")
	c.waitJS("document.body")
	if got := c.axe(src, "probe"); !strings.Contains(strings.Join(got, "\n"), "probe: image-alt") {
		t.Fatalf("axe-core did not report a missing alt text: %v", got)
	}
	logo := filepath.Join(t.TempDir(), "logo.svg")
	svg := `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><circle cx="16" cy="16" r="14" fill="#1f5fbf"/></svg>`
	if err := os.WriteFile(logo, []byte(svg), 0o600); err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, lang := range shippedLanguages {
		schemes := []bool{false}
		if lang == "en" { // a brand's color applies to the light scheme only
			schemes = []bool{false, true}
		}
		pages, recovery := 0, ""
		check := func(page string) {
			c.t.Helper()
			pages++
			// What a disclosure hides is checked too; the account menu,
			// a pop-up over the page, on its own ("settings-menu").
			c.js(`document.querySelectorAll('details:not(.menu)').forEach((d) => d.open = true);`, nil)
			var got string
			c.js(`return document.documentElement.lang;`, &got)
			if got != lang {
				problems = append(problems, fmt.Sprintf("%s/%s: <html lang=%q>", lang, page, got))
			}
			for _, dark := range schemes {
				name := lang + "/" + page
				if dark {
					name += " (dark)"
					c.colorScheme(true)
				}
				found := c.axe(src, name)
				for _, f := range found {
					t.Log(f)
				}
				problems = append(problems, found...)
				if dark {
					c.colorScheme(false)
				}
			}
		}
		began := time.Now()
		p, app := startPasskeyProvider(t, func(cfg *config.Config) {
			cfg.Registration.Mode = config.RegistrationOpen
			if lang == "en" {
				return // English runs with the default look
			}
			// The others with a brand: a logo, help and support links, and
			// a primary color just dark enough for the config check.
			cfg.Branding = config.Branding{SiteName: "Maple Street Forum", LogoFile: logo, PrimaryColor: "#0a6ccc",
				SupportURL: "https://maple.example/support", HelpURL: "https://maple.example/help"}
		})
		c.freshBrowser()
		c.presence(false)

		// The first-run setup page, and a password it refuses.
		setup := "setup-token-" + lang + "-0123456789abcdef"
		sum := sha256.Sum256([]byte(setup))
		if err := p.store.CreateSetupToken(context.Background(), sum[:], p.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		c.open(p.URL + "/setup?token=" + setup + "&ui_locales=" + lang)
		c.waitSel("#username")
		check("setup")
		c.submitSel(map[string]string{"#username": "newadmin", "#email": "newadmin@example.org", "#password": "short"},
			"form[action='/setup'] button[type=submit]")
		c.waitSel("#password[aria-invalid=true]")
		check("setup-failed")

		// Sign-in: identifier, password, a wrong password, the suggestion.
		c.open(app.URL + "/login?ui_locales=" + lang)
		c.waitSel("#login")
		check("sign-in")
		c.submitSel(map[string]string{"#login": ""}, "#identifier-form button[type=submit]")
		c.waitSel("#login[aria-invalid=true]")
		check("sign-in-failed")
		c.submitSel(map[string]string{"#login": adminLogin}, "#identifier-form button[type=submit]")
		c.waitSel("#password")
		check("password")
		c.submitSel(map[string]string{"#password": "wrong password"}, "form[action='/login/password'] button[type=submit]")
		c.waitSel("#password[aria-invalid=true]")
		check("password-failed")
		c.submitSel(map[string]string{"#password": adminPassword}, "form[action='/login/password'] button[type=submit]")
		c.waitSel("[data-suggest-body] h1")
		check("suggestion")
		c.submitSel(nil, "form[action='/login/suggest'] button[type=submit]")
		c.waitFor("Signed in as admin")

		// Settings, Settings > Passkeys, adding and naming a passkey.
		c.open(p.URL + "/settings")
		c.waitSel("main h1")
		check("settings")
		c.js(`document.querySelector('details.menu').open = true;`, nil)
		check("settings-menu")
		c.open(p.URL + "/settings/devices")
		c.waitSel("section[aria-labelledby=sessions-h]")
		check("devices")
		c.open(p.URL + "/settings/passkeys")
		c.waitSel("[data-passkey-register]")
		check("passkeys-empty")
		c.presence(true)
		c.submitSel(nil, "[data-passkey-register]")
		c.waitSel("#new-passkey-name")
		check("passkey-naming")
		c.submitSel(map[string]string{"#new-passkey-name": "Office Laptop"}, "form[data-passkey-name] button[type=submit]")
		c.waitSel("li.passkey")
		c.waitFor("Office Laptop")
		check("passkeys")
		c.presence(false)

		// Admin console.
		for _, path := range []string{"/admin", "/admin/members", "/admin/rollout", "/admin/clients", "/admin/audit", "/admin/health", "/admin/mail"} {
			c.open(p.URL + path)
			c.waitSel("main h1")
			check(path)
			if path == "/admin/members" {
				c.open(p.URL + "/admin/members/" + userID(t, p, aliceLogin))
				c.waitSel("main h1")
				check("/admin/members/ID")
				// A recovery link for the member (used once signed out).
				c.submitSel(nil, "form[action$='/recovery'] button[type=submit]")
				c.waitJS(`document.body.innerText.includes('/recover?token=')`)
				check("/admin/members/ID recovery link")
				c.js(`return document.body.innerText.match(/http:\/\/\S+\/recover\?token=[A-Za-z0-9_-]+/)[0];`, &recovery)
			}
		}

		// Delete account, and a confirmation it refuses.
		c.open(p.URL + "/settings/delete")
		c.waitSel("#confirm")
		check("delete-account")
		c.submitSel(map[string]string{"#confirm": "not-me"}, "form[action='/settings/delete'] button[type=submit]")
		c.waitSel("#confirm[aria-invalid=true]")
		check("delete-account-failed")

		// Error pages and the logout confirmation.
		c.open(p.URL + "/nowhere")
		c.waitSel("main h1")
		check("error")
		c.open(p.URL + "/help/errors")
		c.waitSel("main h1")
		check("/help/errors")
		c.open(p.URL + "/help/passkeys-check?code=PK-CANCELLED&stage=signin")
		c.waitJS(`document.querySelector('[data-check-verdict]').textContent !== ''`)
		check("/help/passkeys-check")
		c.open(p.URL + "/logout")
		c.waitSel("form[action='/logout'] button[type=submit]")
		check("logout")
		c.submitSel(nil, "form[action='/logout'] button[type=submit]")
		c.waitJS(`!document.querySelector("form[action='/logout']") && document.querySelector('main h1')`)
		check("signed-out")

		// Forgot password, sign-up and an address verified, signed out.
		c.open(p.URL + "/forgot")
		c.waitSel("#login")
		check("forgot")
		// Nobody's name: alice's own would end the recovery link below.
		c.submitSel(map[string]string{"#login": "nobody-here"}, "form[action='/forgot'] button[type=submit]")
		c.waitSel("[role=status]")
		check("forgot-sent")
		c.open(p.URL + "/signup")
		c.waitSel("#username")
		check("signup")
		c.submitSel(map[string]string{"#username": "newbie", "#email": "newbie@example.org", "#password": "short"},
			"form[action='/signup'] button[type=submit]")
		c.waitSel("#password[aria-invalid=true]")
		check("signup-failed")
		c.submitSel(map[string]string{"#password": "a long enough passphrase"}, "form[action='/signup'] button[type=submit]")
		c.waitSel("[role=status]")
		check("signup-sent")
		verify := "verify-token-" + lang + "-0123456789abcdef"
		if err := p.store.CreateRecoveryLink(context.Background(), &store.RecoveryLink{TokenHash: store.HashToken(verify),
			UserID: userID(t, p, aliceLogin), Purpose: store.LinkVerify, Email: "alice@example.org",
			CreatedAt: p.clock.Now(), ExpiresAt: p.clock.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		c.open(p.URL + "/verify?token=" + verify)
		c.waitSel("[role=status]")
		check("verified")

		// The member's recovery page, and a password it refuses.
		c.open(recovery)
		c.waitSel("#password")
		check("recover")
		c.submitSel(map[string]string{"#password": "short"}, "form[action='/recover'] button[type=submit]")
		c.waitSel("#password[aria-invalid=true]")
		check("recover-failed")

		// The passkey step (the account has a passkey now).
		c.open(app.URL + "/login?ui_locales=" + lang)
		c.submitSel(map[string]string{"#login": adminLogin}, "#identifier-form button[type=submit]")
		c.waitSel("[data-passkey-login]")
		check("passkey-step")
		// A failed prompt: the alert with the support details.
		c.userVerified(false)
		c.presence(true)
		c.submitSel(nil, "[data-passkey-login]")
		c.waitSel("#passkey-status")
		check("passkey-failed")
		c.userVerified(true)
		c.presence(false)
		t.Logf("%s: %d pages checked in %v", lang, pages, time.Since(began).Round(time.Millisecond))
	}
	t.Logf("axe-core checked every page in %d languages in %v", len(shippedLanguages), time.Since(start).Round(time.Millisecond))
	if len(problems) > 0 {
		t.Fatalf("%d accessibility violations:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}

// catalog reads a shipped message catalog, the texts members see.
func catalog(t *testing.T, lang string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(ui.Locales, "locales/"+lang+".json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := i18n.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"login.identifier", "login.continue", "common.password", "login.password.sign_in", "suggest.not_now"} {
		if m[k] == "" {
			t.Fatalf("%s: no %s", lang, k)
		}
	}
	return m
}

// signInIn walks through sign-in with the site's link (query passes on
// ui_locales when set), finding every field and button by the texts of
// lang's catalog, and ends signed in at the site.
func (c *chrome) signInIn(app *rpApp, lang, query string) {
	c.t.Helper()
	m := catalog(c.t, lang)
	lang1 := func(page string) {
		c.t.Helper()
		var got string
		c.js(`return document.documentElement.lang;`, &got)
		if got != lang {
			c.t.Fatalf("%s page: <html lang=%q>, want %q", page, got, lang)
		}
	}
	c.presence(false)
	c.open(app.URL + "/login" + query)
	c.waitFor(m["login.identifier"])
	lang1("sign-in")
	c.fill(m["login.identifier"], adminLogin)
	c.click(m["login.continue"])
	c.waitFor(m["common.password"])
	lang1("password")
	c.screenshot("password-" + lang)
	c.absent("Email or username")
	c.fill(m["common.password"], adminPassword)
	c.click(m["login.password.sign_in"])
	// The admin has no passkey: the suggestion, answered in lang.
	c.click(m["suggest.not_now"])
	c.waitFor("Signed in as admin")
	c.waitFor("amr: pwd")
}

// The sign-in walk-through in Spanish and in Vietnamese, chosen by the
// site with ui_locales on the authorization request.
func TestLanguageUILocales(t *testing.T) {
	c := newChrome(t)
	for _, lang := range []string{"es", "vi"} {
		_, app := startPasskeyProvider(t, nil)
		c.freshBrowser()
		c.signInIn(app, lang, "?ui_locales="+lang+"-XX+en")
	}
}

// Without ui_locales, the browser's Accept-Language picks the language.
func TestLanguageAcceptLanguage(t *testing.T) {
	c := newChrome(t)
	if _, err := chromedp.Call(c.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"}}); err != nil {
		t.Fatal(err)
	}
	_, app := startPasskeyProvider(t, nil)
	c.signInIn(app, "vi", "")
}

// The sign-in page can be used with the keyboard alone: Tab goes from the
// field to the button and on out of the form, Shift+Tab comes back, and
// whatever has focus shows a visible outline.
func TestKeyboardSignIn(t *testing.T) {
	_, app := startPasskeyProvider(t, nil)
	c := newChrome(t)
	// A headless tab is never the focused window: emulate one, as a
	// member's browser in front.
	if _, err := chromedp.Call(c.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	c.presence(false)
	c.open(app.URL + "/login")
	c.waitFor("Email or username")
	type focused struct {
		Name    string `json:"name"`
		Outline string `json:"outline"`
		Shadow  string `json:"shadow"`
	}
	focus := func() focused {
		var f focused
		c.js(`const e = document.activeElement;
if (!e || e === document.body) return {name: 'body'};
const s = getComputedStyle(e);
const name = e.id ? '#' + e.id : e.tagName.toLowerCase() + ':' + (e.textContent || '').trim();
return {name: name + (e.matches(':focus-visible') ? '' : ' (not focus-visible, document focused: ' + document.hasFocus() + ')'), outline: s.outlineStyle === 'none' || parseFloat(s.outlineWidth) === 0 ? 'none' : s.outlineStyle + ' ' + s.outlineWidth + ' ' + s.outlineColor, shadow: s.boxShadow};`, &f)
		return f
	}
	key := func(shift bool) focused {
		c.t.Helper()
		var opts []chromedp.KeyOption
		if shift {
			opts = append(opts, chromedp.KeyModifiers(chromedp.ModifierShift))
		}
		if err := chromedp.Do(c.ctx, chromedp.KeyEvent("\t", opts...)); err != nil {
			c.t.Fatal(err)
		}
		return focus()
	}
	visible := func(f focused) {
		t.Helper()
		if f.Outline == "none" && (f.Shadow == "" || f.Shadow == "none") {
			t.Fatalf("%s has focus but no visible outline", f.Name)
		}
	}
	// The field has focus on arrival (autofocus).
	if f := focus(); f.Name != "#login" {
		t.Fatalf("on arrival focus is on %s, want the field", f.Name)
	} else {
		visible(f)
	}
	want := []string{"button:Continue", "button:Cancel"}
	for _, w := range want {
		f := key(false)
		if f.Name != w {
			t.Fatalf("Tab went to %s, want %s", f.Name, w)
		}
		visible(f)
	}
	// Back with Shift+Tab, in the reverse order.
	for _, w := range []string{"button:Continue", "#login"} {
		f := key(true)
		if f.Name != w {
			t.Fatalf("Shift+Tab went to %s, want %s", f.Name, w)
		}
		visible(f)
	}
	// No trap: Tab goes past the last control out of the page, and on
	// round to the field again.
	var walk []string
	for len(walk) < 12 {
		f := key(false)
		walk = append(walk, f.Name)
		if f.Name == "#login" {
			break
		}
	}
	t.Logf("Tab from the field: %v", walk)
	if walk[len(walk)-1] != "#login" || !slices.Contains(walk, "button:Cancel") {
		t.Fatalf("tabbing on from the field does not come round to it: %v", walk)
	}
}
