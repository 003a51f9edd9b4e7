package e2e

import (
	"context"
	"strings"
	"testing"
)

// The console manages members: create one (without mail, with a one-time
// link to hand over), change the role, the username and the email (the
// old address told, the new one to verify), each change audited; an
// admin does not demote or disable themselves.
func TestAdminManagesMembers(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, nil)
	addAdmin(t, p)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)

	// Without mail: create, and hand over the link.
	r := adm.Get(p.URL + "/admin/members")
	r = adm.Submit(r.page, "Create member", map[string]string{"Username": "dora", "Email": "dora@example.org", "Name": "Dora"})
	if r.Status != 200 || !strings.Contains(r.Text(), "/recover?token=") {
		t.Fatalf("create member: %d %s", r.Status, r.Text())
	}
	link := ""
	walk(r.Doc, func(n *htmlNode) {
		if n.Data == "code" && strings.Contains(textOf(n), "/recover?token=") {
			link = strings.TrimSpace(textOf(n))
		}
	})
	m := newBrowser(t, p)
	got := m.Get(link)
	got = m.Submit(got.page, "Set password", map[string]string{"New password": "dora's first passphrase"})
	if got.URL.Path != "/settings" && got.URL.Path != "/login/suggest" {
		t.Fatalf("the handed-over link: %s %s", got.URL, got.Text())
	}
	r = adm.Submit(adm.Get(p.URL+"/admin/members").page, "Create member", map[string]string{"Username": "dora", "Email": "x@example.org"})
	if r.Status != 400 || !strings.Contains(r.Text(), "taken") {
		t.Errorf("a taken username: %d %s", r.Status, r.Text())
	}

	// Role, then username and email, on a provider that mails.
	q := startProvider(t, mp.configure)
	addAdmin(t, q)
	adm = newBrowser(t, q)
	signInPage(t, adm, q, adminLogin, adminPassword)
	alice := mustUser(t, q, aliceLogin)
	page := func() *result { return adm.Get(q.URL + "/admin/members/" + alice.ID) }
	r = adm.Submit(page().page, "Change role", map[string]string{"Role": "admin"})
	if u := mustUser(t, q, aliceLogin); u.Role != "admin" || !strings.Contains(r.Text(), "The account is changed") {
		t.Fatalf("change role: %s %s", u.Role, r.Text())
	}
	r = adm.Submit(page().page, "Save", map[string]string{"Username": "alice2", "Email": "alice@new.example", "Name": "Alice Two"})
	u, err := q.store.UserByID(context.Background(), alice.ID)
	if err != nil || u.Username != "alice2" || u.Email != "alice@new.example" || u.EmailVerified {
		t.Fatalf("edit profile: %+v %v", u, err)
	}
	mp.one("alice@example.org", "Your Community email address was changed")
	mp.one("alice@new.example", "Confirm your email address")
	signInPage(t, newBrowser(t, q), q, "alice2", alicePassword)
	r = adm.Submit(page().page, "Save", map[string]string{"Username": adminLogin, "Email": "alice@new.example"})
	if r.Status != 409 || !strings.Contains(r.Text(), "taken") {
		t.Errorf("a taken username: %d %s", r.Status, r.Text())
	}
	ev := events(t, q, "user.updated")
	if len(ev) != 2 || ev[1].Details["username"] != "alice → alice2" {
		t.Errorf("audit: %+v", ev)
	}

	// Not on oneself: the own page has no role form nor Disable account,
	// and a forged request is refused.
	me := adm.Get(q.URL + "/admin/members/" + mustUser(t, q, adminLogin).ID)
	if strings.Contains(me.Text(), "Change role") || strings.Contains(me.Text(), "Disable account") {
		t.Errorf("the admin's own page offers to demote or disable them: %s", me.Text())
	}
	if r := adm.postForm("/admin/members/"+mustUser(t, q, adminLogin).ID+"/role", csrfOf(me.page), map[string][]string{"role": {"member"}}); r.Status != 400 {
		t.Errorf("demoting oneself: %d", r.Status)
	}
}
