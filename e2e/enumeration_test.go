package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
)

// passkeyOptionIDs begins a passkey sign-in for login and returns the
// credential IDs the options allow.
func passkeyOptionIDs(t *testing.T, b *browser, login string) []string {
	t.Helper()
	page := b.Get(b.p.URL + "/login")
	st, begin := b.postJSON("/webauthn/login/begin", csrfOf(page.page), map[string]any{"login": login})
	if st != 200 {
		t.Fatalf("begin for %q: %d %s", login, st, begin)
	}
	var o struct {
		AllowCredentials []struct{ ID string } `json:"allowCredentials"`
	}
	if err := json.Unmarshal(begin["publicKey"], &o); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range o.AllowCredentials {
		ids = append(ids, c.ID)
	}
	return ids
}

// A name that is nobody's answers like a member's: the passkey options
// do not change with the way the name is written (alice and ALICE get the
// same real credentials, ghost and Ghost the same stand-ins), and the
// password throttle does not link a username to its email address.
func TestUnknownNamesLookLikeMembers(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.Passkeys.Rollout = config.RolloutEveryone
		c.TrustedProxies = []string{"127.0.0.1"}
	})
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	if st, body := b.addPasskeyHTTP(softauthn.New(p.URL)); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	for _, pair := range [][2]string{{"alice", "ALICE"}, {"ghost", "Ghost"}, {"ghost@example.org", " GHOST@example.org "}} {
		a, b2 := passkeyOptionIDs(t, newBrowser(t, p), pair[0]), passkeyOptionIDs(t, newBrowser(t, p), pair[1])
		if len(a) == 0 || !slices.Equal(a, b2) {
			t.Errorf("passkey options for %q %v and %q %v differ", pair[0], a, pair[1], b2)
		}
	}

	// Ten failures on a username throttle that name, not the address that
	// belongs to it; the same for a name nobody has.
	for _, pair := range [][2]string{{aliceLogin, "alice@example.org"}, {"ghost", "ghost@example.org"}} {
		guesser := browserFrom(t, p, "198.51.100.9")
		pw := passwordPage(t, guesser, pair[0])
		for range 10 {
			guesser.Submit(pw, "Sign in", map[string]string{"Password": "a wrong guess"})
		}
		if r := guesser.Submit(pw, "Sign in", map[string]string{"Password": "a wrong guess"}); r.Status != 429 {
			t.Fatalf("11th failure on %s: %d, want 429", pair[0], r.Status)
		}
		other := browserFrom(t, p, "198.51.100.10")
		if r := other.Submit(passwordPage(t, other, pair[1]), "Sign in", map[string]string{"Password": "a wrong guess"}); r.Status != 401 {
			t.Errorf("after 10 failures on %s, %s answered %d at once (want 401: checked, not throttled)", pair[0], pair[1], r.Status)
		}
	}
}

// The identifier step is rate-limited per address: past the allowance the
// page says how long to wait, in the member's language; other addresses
// go on.
func TestIdentifierStepRateLimited(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.Throttle.IdentifierPerMinute = 5
	})
	school := browserFrom(t, p, "203.0.113.40")
	page := school.Get(p.URL + "/login")
	for i := range 5 {
		if r := school.Submit(page.page, "Continue", map[string]string{"Email or username": "pupil"}); r.Status != 200 {
			t.Fatalf("identifier %d: %d", i+1, r.Status)
		}
	}
	r := school.Submit(page.page, "Continue", map[string]string{"Email or username": "pupil"})
	if r.Status != 429 || !strings.Contains(r.Text(), "RATE-LIMITED") || !strings.Contains(r.Text(), "Wait") || r.Header.Get("Retry-After") == "" {
		t.Fatalf("6th identifier: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Text())
	}
	other := browserFrom(t, p, "203.0.113.41")
	if r := other.Submit(other.Get(p.URL+"/login").page, "Continue", map[string]string{"Email or username": "pupil"}); r.Status != 200 {
		t.Fatalf("another address: %d", r.Status)
	}
	// In Spanish, too.
	es := browserFrom(t, p, "203.0.113.40")
	es.client.Transport = withHeader{es.client.Transport, "Accept-Language", "es"}
	r = es.Submit(es.Get(p.URL+"/login").page, "Continuar", map[string]string{"Correo electrónico o nombre de usuario": "pupil"})
	if r.Status != 429 || !strings.Contains(r.Text(), "Demasiadas solicitudes") {
		t.Fatalf("rate-limited page in Spanish: %d %s", r.Status, r.Text())
	}
}

// withHeader is a transport that adds a header to every request.
type withHeader struct {
	next        http.RoundTripper
	name, value string
}

func (h withHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return h.next.RoundTrip(r)
}
