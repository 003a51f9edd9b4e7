package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
)

// rollout: off shows no passkey UI at all and serves none of the passkey
// endpoints or files.
func TestRolloutOff(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.Passkeys.Rollout = config.RolloutOff
		c.Passkeys.Origins = []string{"https://community.example"}
		c.Passkeys.Android = []config.AndroidApp{{PackageName: "com.example.app",
			SHA256CertFingerprints: []string{"14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"}}}
	})
	b := newBrowser(t, p)
	login := b.Get(p.URL + "/login")
	if strings.Contains(login.Body, "webauthn") {
		t.Error("the sign-in page offers passkey autofill with passkeys off")
	}
	signInPage(t, b, p, aliceLogin, alicePassword)
	if r := b.Get(p.URL + "/settings"); strings.Contains(r.Body, "/settings/passkeys") {
		t.Error("Settings links to Passkeys with passkeys off")
	}
	if r := b.Get(p.URL + "/settings/passkeys"); r.Status != http.StatusNotFound {
		t.Errorf("/settings/passkeys with passkeys off: %d", r.Status)
	}
	for _, path := range []string{"/.well-known/webauthn", "/.well-known/assetlinks.json"} {
		if r := b.Get(p.URL + path); r.Status != http.StatusNotFound {
			t.Errorf("%s with passkeys off: %d", path, r.Status)
		}
	}
	csrf := csrfOf(login.page)
	if st, body := b.postJSON("/webauthn/login/begin", csrf, map[string]any{"login": aliceLogin}); st != http.StatusNotFound || jsonString(body["error"]) != "PK-OFF" {
		t.Errorf("passkey sign-in with passkeys off: %d %s", st, body)
	}
}

// rollout: group offers Add Passkey to the members listed only; a member
// outside the group who already has a passkey still signs in with it.
func TestRolloutGroup(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	const bobPassword = "bob passphrase 2026"
	newMember(t, p, "bob", bobPassword)
	bob := newBrowser(t, p)
	signInPage(t, bob, p, "bob", bobPassword)
	key := softauthn.New(p.URL)
	if st, body := bob.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("bob adds a passkey while everyone may: %d %s", st, body)
	}

	p.cfg.Passkeys.Rollout = config.RolloutGroup
	p.cfg.Passkeys.RolloutGroup = []string{aliceLogin}
	p.restart()

	alice := newBrowser(t, p)
	signInPage(t, alice, p, aliceLogin, alicePassword)
	if r := alice.Get(p.URL + "/settings/passkeys"); !strings.Contains(r.Text(), "Add Passkey") {
		t.Errorf("alice, in the group, is not offered Add Passkey: %s", r.Text())
	}
	// bob's session outlived the restart.
	if r := bob.Get(p.URL + "/settings/passkeys"); strings.Contains(r.Text(), "Add Passkey") {
		t.Errorf("bob, outside the group, is offered Add Passkey: %s", r.Text())
	}
	b := newBrowser(t, p)
	csrf := csrfOf(b.Get(p.URL + "/login").page)
	_, begin := b.postJSON("/webauthn/login/begin", csrf, map[string]any{"login": "bob"})
	st, done := b.finishPasskeySignIn(csrf, key, begin)
	if st != 200 {
		t.Fatalf("bob's existing passkey outside the group: %d %s", st, done)
	}
	if r := b.Get(p.URL + "/settings"); !strings.Contains(r.Text(), "bob") {
		t.Fatalf("not signed in after the passkey: %s", r.Text())
	}
}
