package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// A member's outstanding recovery links all stop working when one of them
// is used, when the password changes, and when the account is disabled
// (and stay dead after it is enabled again): a link an admin sent last
// week must not outlive the situation it was made for.
func TestRecoveryLinksEndTogether(t *testing.T) {
	p := startProvider(t, nil)
	addAdmin(t, p)
	alice := userID(t, p, aliceLogin)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	create := func() string {
		t.Helper()
		r := adm.Submit(adm.Get(p.URL+"/admin/members/"+alice).page, "Create recovery link", nil)
		m := regexp.MustCompile(`http://[^\s<"]+/recover\?token=[A-Za-z0-9_-]+`).FindString(r.Body)
		if m == "" {
			t.Fatalf("no recovery link shown: %s", r.Text())
		}
		return m
	}
	dead := func(what, link string) {
		t.Helper()
		if r := newBrowser(t, p).Get(link); r.Status != http.StatusNotFound || !strings.Contains(r.Text(), "RECOVERY-LINK") {
			t.Fatalf("%s: the older link still works (%d): %s", what, r.Status, r.Text())
		}
	}
	use := func(link, pw string) {
		t.Helper()
		b := newBrowser(t, p)
		r := b.Submit(b.Get(link).page, "Set password", map[string]string{"New password": pw})
		if !strings.Contains(r.Text(), "Your new password is set") {
			t.Fatalf("using a recovery link: %s", r.Text())
		}
	}

	older, newer := create(), create()
	use(newer, "recovered passphrase 1")
	dead("another link was used", older)

	link := create()
	member := newBrowser(t, p)
	signInPage(t, member, p, aliceLogin, "recovered passphrase 1")
	r := member.Submit(member.Get(p.URL+"/settings").page, "Change password",
		map[string]string{"Current password": "recovered passphrase 1", "New password": "changed passphrase 2"})
	if r.Status != 200 || !strings.Contains(r.Text(), "Your password was changed") {
		t.Fatalf("password change: %d %s", r.Status, r.Text())
	}
	dead("the password was changed", link)

	link = create()
	if r := adm.Submit(adm.Get(p.URL+"/admin/members/"+alice).page, "Yes, disable", nil); r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Text())
	}
	dead("the account was disabled", link)
	if r := adm.Submit(adm.Get(p.URL+"/admin/members/"+alice).page, "Enable account", nil); r.Status != 200 {
		t.Fatalf("enable: %d %s", r.Status, r.Text())
	}
	dead("the account was disabled, then enabled again", link)
	use(create(), "after all that 3")
}
