package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
)

// Admins move the rollout from the console: stored, audited, followed by
// every replica, the configuration's stage the default until changed,
// and the page says which one is in force.
func TestRolloutFromConsole(t *testing.T) {
	p1, p2 := throttleProviders(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutAdmins })
	addAdmin(t, p1)
	adm := newBrowser(t, p1)
	signInPage(t, adm, p1, adminLogin, adminPassword)
	r := adm.Get(p1.URL + "/admin/rollout")
	if !strings.Contains(r.Text(), "The configuration's passkeys.rollout") {
		t.Fatalf("the page does not say the stage is the configuration's: %s", r.Text())
	}
	offered := func(p *provider) bool {
		b := newBrowser(t, p)
		r := b.Submit(passwordPage(t, b, aliceLogin), "Sign in", map[string]string{"Password": alicePassword})
		return r.URL.Path == "/login/suggest"
	}
	if offered(p1) {
		t.Fatal("alice is offered passkeys at the admins stage")
	}

	// A typo in the group is refused, and nothing changes.
	r = adm.Submit(r.page, "Save rollout", map[string]string{"A group": "on", "Group": "alice, alicia"})
	if r.Status != 400 || !strings.Contains(r.Text(), "No member has these usernames: alicia") {
		t.Fatalf("unknown username: %d %s", r.Status, r.Text())
	}
	r = adm.Submit(r.page, "Save rollout", map[string]string{"A group": "on", "Group": "alice\nrole:admin"})
	if !strings.Contains(r.Text(), "The rollout is saved") || !strings.Contains(r.Text(), "Set in the console by admin") {
		t.Fatalf("after saving: %s", r.Text())
	}
	if !offered(p1) {
		t.Error("alice is not offered passkeys on the replica that saved the group")
	}
	// The other replica follows within seconds.
	p2.clock.Advance(10 * time.Second)
	if !offered(p2) {
		t.Error("the other replica does not follow the console")
	}
	ev := events(t, p1, "admin.rollout.changed")
	if len(ev) != 1 || ev[0].Details["from"] != "admins" || ev[0].Details["to"] != "group" || ev[0].Details["group"] != "alice,role:admin" {
		t.Errorf("audit: %+v", ev)
	}

	// Off: no passkey anywhere, on every replica; back to the
	// configuration's stage.
	r = adm.Submit(adm.Get(p1.URL+"/admin/rollout").page, "Save rollout", map[string]string{"Off: no passkeys anywhere": "on"})
	p2.clock.Advance(10 * time.Second)
	b := newBrowser(t, p2)
	signInPage(t, b, p2, aliceLogin, alicePassword)
	if s := b.Get(p2.URL + "/settings/passkeys"); s.Status != 404 && !strings.Contains(s.Text(), "not available") {
		t.Errorf("Settings > Passkeys with the rollout off: %d %s", s.Status, s.Text())
	}
	r = adm.Submit(adm.Get(p1.URL+"/admin/rollout").page, "Save rollout", map[string]string{"The configuration's stage (now: Admins)": "on"})
	if !strings.Contains(r.Text(), "The configuration's passkeys.rollout") || !strings.Contains(r.Text(), "Admins are offered passkeys") {
		t.Errorf("back to the configuration: %s", r.Text())
	}
}

// The rollout page draws adoption, sign-ins by method and the failure
// rate as SVG charts a screen reader can read.
func TestRolloutCharts(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	addAdmin(t, p)
	signInPage(t, newBrowser(t, p), p, aliceLogin, alicePassword)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	r := adm.Get(p.URL + "/admin/rollout")
	if n := strings.Count(r.Body, `role="img"`); n < 3 {
		t.Fatalf("%d charts on the rollout page", n)
	}
	for _, want := range []string{"Members signing in who have a passkey, by week", "0 with a passkey, 2 with a password",
		"of 2.", "Passkey failure rate, by day"} {
		if !strings.Contains(r.Text(), want) {
			t.Errorf("the charts do not say %q", want)
		}
	}
}
