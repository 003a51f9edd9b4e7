package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The audit log names people: usernames in the console (the ID kept for
// machines), event kinds in words, and username and actor_username on
// each exported line. An account made with `idp users add` is an event.
func TestAuditLogNamesPeople(t *testing.T) {
	p := startProvider(t, nil)
	addAdmin(t, p)
	signInPage(t, newBrowser(t, p), p, aliceLogin, alicePassword)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	alice := mustUser(t, p, aliceLogin)
	r := adm.Get(p.URL + "/admin/members/" + alice.ID)
	adm.Submit(r.page, "Yes, disable", nil)

	page := adm.Get(p.URL + "/admin/audit")
	text := page.Text()
	for _, want := range []string{"Signed in", "Account disabled", aliceLogin, adminLogin, "just now"} {
		if !strings.Contains(text, want) {
			t.Errorf("the audit log does not say %q", want)
		}
	}
	for _, raw := range []string{alice.ID, "signin.success", "admin.user.disabled"} {
		if strings.Contains(text, raw) {
			t.Errorf("the audit log shows %q to people", raw)
		}
	}
	if !strings.Contains(page.Body, `data-user-id="`+alice.ID+`"`) {
		t.Error("the member's ID is not kept in the page")
	}

	export := adm.Get(p.URL + "/admin/audit/export")
	var disabled map[string]any
	for _, line := range strings.Split(strings.TrimSpace(export.Body), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		if e["kind"] == "admin.user.disabled" {
			disabled = e
		}
	}
	if disabled == nil || disabled["username"] != aliceLogin || disabled["actor_username"] != adminLogin || disabled["user_id"] != alice.ID {
		t.Errorf("exported event: %v", disabled)
	}
}

// `idp users add` is recorded as user.created, and `idp audit export`
// names the member.
func TestCommandLineAccountsAudited(t *testing.T) {
	bin, err := buildIDP()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := writeYAML(t, dir, "idp.yaml", "issuer: http://localhost:9999\ndatabase: {driver: sqlite, dsn: "+filepath.Join(dir, "idp.db")+"}\n")
	add := exec.Command(bin, "users", "add", "--config", cfg, "--username", "carol", "--email", "carol@example.org", "--password-stdin")
	add.Stdin = strings.NewReader("carol's long passphrase")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("users add: %v %s", err, out)
	}
	if out, err := exec.Command(bin, "users", "disable", "--config", cfg, "--username", "carol").CombinedOutput(); err != nil {
		t.Fatalf("users disable: %v %s", err, out)
	}
	out, err := exec.Command(bin, "audit", "export", "--config", cfg).Output()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		kinds[e["kind"].(string)] = e
	}
	for _, k := range []string{"user.created", "admin.user.disabled"} {
		if e := kinds[k]; e == nil || e["username"] != "carol" {
			t.Errorf("%s: %v (all: %s)", k, e, out)
		}
	}
}

// A setup link that no longer works says what to do now: once an account
// exists a restart prints no link, so the page says to sign in (and how
// a locked-out admin gets back in), without Markdown backticks.
func TestUsedSetupLink(t *testing.T) {
	p := startProvider(t, nil)
	r := newBrowser(t, p).Get(p.URL + "/setup?token=long-gone-setup-token")
	text := r.Text()
	if r.Status != 404 || !strings.Contains(text, "The first account exists: sign in with it") ||
		strings.Contains(text, "Restart the provider") || strings.Contains(text, "`") {
		t.Errorf("used setup link: %d %s", r.Status, text)
	}
}
