package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/store"
)

// viewport sets the window to width x 800 CSS pixels, as a phone (under
// 600 px) or a desktop.
func (c *chrome) viewport(width int64) {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: width, Height: 800, DeviceScaleFactor: 1, Mobile: width < 600}); err != nil {
		c.t.Fatal(err)
	}
}

// layoutProblems reports what a reader would see broken: the page
// scrolling sideways, a table scrolling sideways inside it, a word
// broken across lines inside a table cell (an ID or code may break; an
// address may break at its dots and its @).
const layoutProblems = `
const out = [];
const doc = document.documentElement;
if (doc.scrollWidth > window.innerWidth) out.push('the page is ' + doc.scrollWidth + ' px wide in a ' + window.innerWidth + ' px window');
for (const t of document.querySelectorAll('table')) {
  if (t.scrollWidth > t.clientWidth + 1) out.push('a table scrolls sideways (' + t.scrollWidth + ' px in ' + t.clientWidth + ')');
}
for (const cell of document.querySelectorAll('td, th')) {
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    if (n.parentElement.closest('code, [data-user-id]')) continue;
    const re = /[\p{L}\p{N}]+/gu; // a break at "-", "." or "@" is no broken word
    let m;
    while ((m = re.exec(n.data))) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      const tops = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
      if (tops.size > 1) out.push('"' + m[0] + '" is broken inside a table cell');
    }
  }
}
return out;`

// Every page, at 360, 390 and 1280 px, light and dark: nothing scrolls
// sideways and no word breaks inside a table cell. With IDP_SCREENSHOTS
// set, the admin pages are saved at phone and desktop width.
func TestLayout(t *testing.T) {
	p, app := startPasskeyProvider(t, func(c *config.Config) {
		c.Passkeys.Rollout = config.RolloutEveryone
		c.Registration.Mode = config.RegistrationOpen
	})
	ctx := context.Background()
	// A console with something in it: members with long names and
	// addresses, and a busy audit log.
	for i := range 12 {
		u := newMember(t, p, fmt.Sprintf("member-with-a-long-name-%02d", i), "member passphrase 2026")
		if _, err := p.store.UpdateUser(ctx, u.ID, func(x *store.User) error {
			x.Name = "Maximiliane Wolkenstein-Habsburg " + fmt.Sprint(i)
			x.Email = fmt.Sprintf("maximiliane.wolkenstein-habsburg.%02d@community-of-long-addresses.example", i)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		b := newBrowser(t, p)
		b.client.Transport = headers{"User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"}
		pw := "member passphrase 2026"
		if i%3 == 0 {
			pw = "wrong"
		}
		b.Submit(passwordPage(t, b, fmt.Sprintf("member-with-a-long-name-%02d", i%12)), "Sign in", map[string]string{"Password": pw})
	}

	c := newChrome(t)
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.waitFor("Sign in faster with a passkey")
	c.click("Not now")
	c.waitFor("Signed in as admin")
	member := userID(t, p, "member-with-a-long-name-03")
	// The page an action held for a fresh sign-in waits on.
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	held := adm.Get(p.URL + "/admin/members/" + member)
	p.clock.Advance(p.cfg.Sessions.ReauthAfter.D() + time.Minute)
	confirm := adm.Submit(held.page, "Yes, disable", nil).URL.Query().Get("next")
	if !strings.HasPrefix(confirm, "/admin/confirm?") {
		t.Fatalf("no confirm page: %q", confirm)
	}
	pages := []string{
		"/settings", "/settings/passkeys", "/settings/devices", "/settings/delete",
		"/admin", "/admin/members", "/admin/members?q=member", "/admin/members/" + member, "/admin/rollout",
		"/admin/clients", "/admin/audit", "/admin/health", "/admin/mail",
		confirm,
		"/help/errors", "/help/passkeys-check?code=PK-UV&stage=setup", "/nowhere",
	}
	signedOut := []string{"/login", "/forgot", "/signup", "/logout/done"}
	var problems []string
	check := func(path string) {
		for _, width := range []int64{360, 390, 1280} {
			c.viewport(width)
			for _, dark := range []bool{false, true} {
				c.colorScheme(dark)
				c.open(p.URL + path)
				c.waitJS(`document.querySelector('main')`)
				time.Sleep(50 * time.Millisecond)
				var found []string
				c.js(layoutProblems, &found)
				for _, f := range found {
					problems = append(problems, fmt.Sprintf("%s at %d px (dark %v): %s", path, width, dark, f))
				}
				if !dark && (width == 390 || width == 1280) && strings.HasPrefix(path, "/admin") && !strings.Contains(path, "?") {
					name := "admin" + strings.ReplaceAll(strings.TrimPrefix(path, "/admin"), "/", "-")
					name = strings.ReplaceAll(name, member, "member")
					if width == 390 {
						name += "-phone"
					}
					c.screenshot(name)
				}
			}
		}
	}
	for _, path := range pages {
		check(path)
	}
	c.colorScheme(false)
	c.viewport(1000)
	c.signOut(p)
	for _, path := range signedOut {
		check(path)
	}
	if len(problems) > 0 {
		t.Fatalf("%d layout problems:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}
