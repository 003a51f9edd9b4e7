package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
)

// Anonymous calls cannot fill the audit log or fake the rollout alarms:
// a failure report counts only for a passkey ceremony this browser began,
// once, and reports are rate-limited per address.
func TestFailureReportsNeedACeremony(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.Passkeys.Rollout = config.RolloutEveryone
		c.TrustedProxies = []string{"127.0.0.1"}
		c.Throttle.FailureReportPerMinute = 20
	})
	anon := browserFrom(t, p, "198.51.100.66")
	csrf := csrfOf(anon.Get(p.URL + "/login").page)
	report := map[string]any{"stage": "login", "code": "PK-CANCELLED"}
	if st, _ := anon.postJSON("/webauthn/failure", csrf, report); st != 400 {
		t.Fatalf("a report without a ceremony: %d, want 400", st)
	}
	report["ceremony"] = "made-up"
	if st, _ := anon.postJSON("/webauthn/failure", csrf, report); st != 404 {
		t.Fatalf("a report for a made-up ceremony: %d, want 404", st)
	}
	// Another browser's ceremony does not count either.
	other := browserFrom(t, p, "198.51.100.67")
	otherCSRF := csrfOf(other.Get(p.URL + "/login").page)
	_, begin := other.postJSON("/webauthn/login/begin", otherCSRF, map[string]any{})
	report["ceremony"] = jsonString(begin["ceremony"])
	if st, _ := anon.postJSON("/webauthn/failure", csrf, report); st != 404 {
		t.Fatalf("a report for another browser's ceremony: %d, want 404", st)
	}
	if n := len(events(t, p, "passkey.failure")); n != 0 {
		t.Fatalf("%d failure events from reports that should not count", n)
	}
	// Its own ceremony counts once.
	_, begin = other.postJSON("/webauthn/login/begin", otherCSRF, map[string]any{})
	report["ceremony"] = jsonString(begin["ceremony"])
	if st, body := other.postJSON("/webauthn/failure", otherCSRF, report); st != 204 {
		t.Fatalf("a report for its own ceremony: %d %s", st, body)
	}
	if st, _ := other.postJSON("/webauthn/failure", otherCSRF, report); st != 404 {
		t.Fatalf("the same ceremony reported twice: %d, want 404", st)
	}
	if n := len(events(t, p, "passkey.failure")); n != 1 {
		t.Fatalf("%d failure events, want 1", n)
	}
	// A flood from one address is cut off.
	statuses := map[int]int{}
	for range 100 {
		st, _ := anon.postJSON("/webauthn/failure", csrf, report)
		statuses[st]++
	}
	if statuses[429] < 70 {
		t.Errorf("100 reports from one address: %v; want most of them refused (429)", statuses)
	}
	if n := len(events(t, p, "passkey.failure")); n != 1 {
		t.Errorf("%d failure events after the flood, want still 1", n)
	}
}

// Anyone can open authorization requests, so each costs little: its
// stored parameters are capped at 2 KB with a clear OAuth error, an
// address can open only so many a minute, and /metrics counts both.
func TestAuthorizationRequestsAreBounded(t *testing.T) {
	metricsAddr := freeAddr(t)
	p := startProvider(t, func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.Throttle.AuthorizePerMinute = 10
		c.Metrics.Listen = metricsAddr
	})
	big := strings.Repeat("x", 3000)
	for _, param := range []string{"state", "nonce", "login_hint", "scope"} {
		v := big
		if param == "scope" {
			v = "openid " + strings.Repeat("profile ", 400)
		}
		r := browserFrom(t, p, "198.51.100.80").Get(authorizeURL(p, siteParams(map[string]string{param: v})))
		if r.Away == nil || oauthError(r.Away) != "invalid_request" || !strings.Contains(r.Away.Query().Get("error_description"), param) {
			t.Fatalf("%s of 3 KB: %v %s", param, r.Away, r.Text())
		}
		if len(r.Away.String()) > 4096 {
			t.Errorf("the error redirect for a long %s echoes it (%d bytes)", param, len(r.Away.String()))
		}
	}
	// 2 KB is fine.
	if r := browserFrom(t, p, "198.51.100.81").Get(authorizeURL(p, siteParams(map[string]string{"state": strings.Repeat("s", 2048)}))); r.Away != nil {
		t.Fatalf("a 2 KB state was refused: %v", r.Away)
	}

	before := countRows(t, p, "auth_requests")
	flood := browserFrom(t, p, "198.51.100.90")
	refused := 0
	for range 30 {
		r := flood.Get(authorizeURL(p, siteParams(nil)))
		if r.Away != nil {
			if oauthError(r.Away) != "temporarily_unavailable" {
				t.Fatalf("a refused authorization request: %v", r.Away)
			}
			refused++
		}
	}
	if refused != 20 || countRows(t, p, "auth_requests")-before != 10 {
		t.Fatalf("30 requests from one address: %d refused, %d stored; want 20 and 10", refused, countRows(t, p, "auth_requests")-before)
	}
	if r := browserFrom(t, p, "198.51.100.91").Get(authorizeURL(p, siteParams(nil))); r.Away != nil {
		t.Fatalf("another address was refused: %v", r.Away)
	}
	body := scrape(t, metricsAddr)
	for _, want := range []string{`idp_rate_limited_total{limit="authorize"} 20`, `idp_created_total{what="auth_request"} 12`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// countRows counts a table's rows.
func countRows(t *testing.T, p *provider, table string) int {
	t.Helper()
	return len(column(t, p.cfg.Database.DSN, "SELECT rowid FROM "+table))
}

// scrape reads /metrics on its own address.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(raw)
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("metrics: %w", err))
		}
	}
}

// A passkey whose counter goes backwards is refused by default, marked,
// and the attempt is in the audit log with the member and the counters.
func TestClonedPasskeyRefused(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	key := softauthn.New(p.URL)
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	if st, body := b.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	signIn := func() (int, map[string]json.RawMessage) {
		x := newBrowser(t, p)
		csrf := csrfOf(x.Get(p.URL + "/login").page)
		_, begin := x.postJSON("/webauthn/login/begin", csrf, map[string]any{"login": aliceLogin})
		return x.finishPasskeySignIn(csrf, key, begin)
	}
	if st, body := signIn(); st != 200 {
		t.Fatalf("passkey sign-in: %d %s", st, body)
	}
	key.FreezeCounter = true
	st, body := signIn()
	if st != 400 || jsonString(body["error"]) != "PK-CLONED" {
		t.Fatalf("a sign-in whose counter did not grow: %d %s", st, body)
	}
	ev := events(t, p, "passkey.clone")
	if len(ev) != 1 || ev[0].UserID != userID(t, p, aliceLogin) || ev[0].Details["policy"] != "refuse" || ev[0].Result != "fail" {
		t.Fatalf("clone events: %+v", ev)
	}
}
