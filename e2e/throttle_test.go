package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/formclient"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/store/pgtest"
)

// forwardedFor is a client behind the trusted proxy: every request it
// sends carries its address in X-Forwarded-For.
type forwardedFor string

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", string(f))
	return http.DefaultTransport.RoundTrip(r)
}

// browserFrom is a browser at address ip behind the trusted proxy.
func browserFrom(t *testing.T, p *provider, ip string) *browser {
	b := newBrowser(t, p)
	b.client.Transport = forwardedFor(ip)
	return b
}

// startSecondReplica runs another provider on p's database and clock, as a
// second replica behind the same load balancer would.
func startSecondReplica(t *testing.T, p *provider) *provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg := p.cfg
	cfg.Listen, cfg.Issuer = addr, "http://localhost:"+strings.TrimPrefix(addr, "127.0.0.1:")
	q := &provider{t: t, URL: cfg.Issuer, cfg: cfg, clock: p.clock, addr: addr}
	q.start(ln)
	t.Cleanup(q.stop)
	return q
}

// throttleProviders starts two replicas sharing one database (PostgreSQL
// when IDP_TEST_POSTGRES is set, else one SQLite file), behind a trusted
// proxy on 127.0.0.1, with passkeys for everyone.
func throttleProviders(t *testing.T, edit func(*config.Config)) (*provider, *provider) {
	t.Helper()
	dsn := ""
	if pgtest.Enabled() {
		dsn = pgtest.NewDatabase(t)
	}
	p := startProvider(t, func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.Passkeys.Rollout = config.RolloutEveryone
		if dsn != "" {
			c.Database = config.Database{Driver: "postgres", DSN: dsn}
		}
		if edit != nil {
			edit(c)
		}
	})
	return p, startSecondReplica(t, p)
}

// passwordPage opens the password step for login.
func passwordPage(t *testing.T, b *browser, login string) *page {
	t.Helper()
	r := b.Get(b.p.URL + "/login")
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": login})
	if strings.Contains(r.Text(), "Use Password") {
		r = b.Submit(r.page, "Use Password", nil)
	}
	if !strings.Contains(r.Text(), "Enter your password") {
		t.Fatalf("no password step for %s: %s", login, r.Text())
	}
	return r.page
}

// 200 wrong passwords against one account, from five addresses through two
// replicas: ten are checked, then the account waits (1 s, 2 s, 4 s ...) on
// both replicas alike, the member sees how long, and their passkey still
// signs them in.
func TestThrottleWrongPasswords(t *testing.T) {
	p1, p2 := throttleProviders(t, nil)
	key := softauthn.New(p1.URL)
	setup := newBrowser(t, p1)
	signInPage(t, setup, p1, aliceLogin, alicePassword)
	if st, body := setup.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}

	type attacker struct {
		b    *browser
		page *page
	}
	var attackers []attacker
	for i := range 5 {
		p := []*provider{p1, p2}[i%2]
		b := browserFrom(t, p, "198.51.100."+string(rune('1'+i)))
		attackers = append(attackers, attacker{b, passwordPage(t, b, aliceLogin)})
	}
	statuses := map[int]int{}
	var last *result
	for i := range 200 {
		a := attackers[i%len(attackers)]
		last = a.b.Submit(a.page, "Sign in", map[string]string{"Password": "wrong-password-" + string(rune('a'+i%26))})
		statuses[last.Status]++
	}
	if statuses[401] != 10 || statuses[429] != 190 {
		t.Fatalf("200 wrong passwords: %v; want 10 checked (401) and 190 turned away (429)", statuses)
	}
	if !strings.Contains(last.Text(), "Wait 1 second") || !strings.Contains(last.Text(), "passkey still works") ||
		last.Header.Get("Retry-After") != "1" {
		t.Fatalf("throttled page: Retry-After %q, %s", last.Header.Get("Retry-After"), last.Text())
	}

	// The wait doubles with each failure that gets through.
	a := attackers[0]
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		p1.clock.Advance(wait)
		if r := a.b.Submit(a.page, "Sign in", map[string]string{"Password": "another wrong one"}); r.Status != 401 {
			t.Fatalf("after waiting %v: %d, want the password checked (401)", wait, r.Status)
		}
		r := a.b.Submit(a.page, "Sign in", map[string]string{"Password": "and another"})
		if want := "Wait " + throttleWords(2*wait); r.Status != 429 || !strings.Contains(r.Text(), want) {
			t.Fatalf("after a failure past %v: %d %q, want 429 %q", wait, r.Status, r.Text(), want)
		}
	}

	// The member's password waits too, on either replica and from any
	// address; their passkey does not.
	for _, p := range []*provider{p1, p2} {
		b := browserFrom(t, p, "203.0.113.77")
		r := b.Submit(passwordPage(t, b, aliceLogin), "Sign in", map[string]string{"Password": alicePassword})
		if r.Status != 429 {
			t.Fatalf("right password during the throttle on %s: %d", p.URL, r.Status)
		}
	}
	// (On p1: the passkey is bound to its origin, and the test replicas
	// differ in port where real ones share one public address.)
	b := browserFrom(t, p1, "203.0.113.77")
	r := b.Get(p1.URL + "/login")
	r = b.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	csrf := csrfOf(r.page)
	st, begin := b.postJSON("/webauthn/login/begin", csrf, map[string]any{"login": aliceLogin})
	if st != 200 {
		t.Fatalf("passkey begin during the throttle: %d %s", st, begin)
	}
	st, done := b.finishPasskeySignIn(csrf, key, begin)
	if st != 200 {
		t.Fatalf("passkey sign-in during the throttle: %d %s", st, done)
	}

	// Once the wait is over the right password signs in and clears the
	// count: the next mistake is checked again at once.
	p1.clock.Advance(time.Minute)
	ok := browserFrom(t, p1, "203.0.113.77")
	signInPage(t, ok, p1, aliceLogin, alicePassword)
	if r := a.b.Submit(a.page, "Sign in", map[string]string{"Password": "wrong again"}); r.Status != 401 {
		t.Fatalf("first mistake after a successful sign-in: %d, want 401", r.Status)
	}
}

func throttleWords(d time.Duration) string {
	if d == time.Second {
		return "1 second"
	}
	return strings.TrimSuffix(d.String(), "s") + " seconds"
}

// One address guessing across many accounts is slowed down as an address;
// other addresses are not. Unknown accounts count like real ones.
func TestThrottleAddressAcrossAccounts(t *testing.T) {
	p1, p2 := throttleProviders(t, func(c *config.Config) { c.Throttle.AddressFailures, c.Throttle.AddressHourlyLimit = 12, 100 })
	guesser := browserFrom(t, p1, "2001:db8:77::1")
	for i := range 12 {
		login := "nobody" + string(rune('a'+i)) + "@example.org"
		if r := guesser.Submit(passwordPage(t, guesser, login), "Sign in", map[string]string{"Password": "guess"}); r.Status != 401 {
			t.Fatalf("guess %d: %d", i+1, r.Status)
		}
	}
	// Another address in the same IPv6 /64, on the other replica.
	neighbour := browserFrom(t, p2, "2001:db8:77::2")
	if r := neighbour.Submit(passwordPage(t, neighbour, aliceLogin), "Sign in", map[string]string{"Password": alicePassword}); r.Status != 429 {
		t.Fatalf("same /64 after 12 failures: %d, want 429", r.Status)
	}
	other := browserFrom(t, p2, "198.51.100.200")
	signInPage(t, other, p2, aliceLogin, alicePassword)
}

// Without a trusted proxy X-Forwarded-For is ignored: rotating it does not
// buy an attacker fresh addresses.
func TestForwardedForIgnoredWithoutTrustedProxy(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Throttle.AddressFailures, c.Throttle.AddressHourlyLimit = 3, 100 })
	for i := range 3 {
		b := browserFrom(t, p, "198.51.100."+string(rune('1'+i)))
		if r := b.Submit(passwordPage(t, b, "nobody"+string(rune('a'+i))), "Sign in", map[string]string{"Password": "x"}); r.Status != 401 {
			t.Fatalf("guess %d: %d", i, r.Status)
		}
	}
	b := browserFrom(t, p, "198.51.100.9")
	if r := b.Submit(passwordPage(t, b, aliceLogin), "Sign in", map[string]string{"Password": alicePassword}); r.Status != 429 {
		t.Fatalf("a spoofed X-Forwarded-For escaped the address throttle: %d", r.Status)
	}
}

// Wrong client secrets at the token endpoint: after ten, that client at that
// address gets 429 with Retry-After; the real client elsewhere is not
// affected. The count is shared by both replicas.
func TestThrottleClientAuthentication(t *testing.T) {
	p1, p2 := throttleProviders(t, nil)
	call := func(p *provider, ip, secret string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, p.URL+"/oauth/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", ip)
		req.SetBasicAuth(siteID, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body := map[string]any{}
		json.NewDecoder(resp.Body).Decode(&body)
		if tok, ok := body["access_token"].(string); ok {
			remember(tok)
		}
		return resp.StatusCode, body, resp.Header
	}
	for i := range 10 {
		p := []*provider{p1, p2}[i%2]
		if st, body, _ := call(p, "198.51.100.66", "not-the-secret"); st != 401 {
			t.Fatalf("wrong secret %d: %d %v", i+1, st, body)
		}
	}
	st, body, h := call(p2, "198.51.100.66", "not-the-secret")
	if st != 429 || body["error"] != "invalid_client" || h.Get("Retry-After") == "" {
		t.Fatalf("11th wrong secret: %d %v Retry-After %q", st, body, h.Get("Retry-After"))
	}
	if st, _, _ := call(p1, "198.51.100.66", siteSecret); st != 429 {
		t.Fatalf("right secret from the throttled address: %d, want 429", st)
	}
	if st, body, _ := call(p1, "192.0.2.10", siteSecret); st != 200 {
		t.Fatalf("the real client from its own address: %d %v", st, body)
	}
}

// Unknown recovery links are counted per address.
func TestThrottleRecoveryLinks(t *testing.T) {
	p, _ := throttleProviders(t, nil)
	b := browserFrom(t, p, "198.51.100.5")
	for i := range 10 {
		if r := b.Get(p.URL + "/recover?token=guess" + string(rune('a'+i))); r.Status != 404 {
			t.Fatalf("unknown link %d: %d", i+1, r.Status)
		}
	}
	r := b.Get(p.URL + "/recover?token=guessk")
	if r.Status != 429 || !strings.Contains(r.Text(), "Wait 1 second") {
		t.Fatalf("11th unknown link: %d %s", r.Status, r.Text())
	}
	if r := browserFrom(t, p, "198.51.100.6").Get(p.URL + "/recover?token=x"); r.Status != 404 {
		t.Fatalf("another address: %d, want 404", r.Status)
	}
}

// 80 wrong passwords for one account sent at the same moment, from 80
// addresses, through two replicas: the throttle reserves each attempt
// before the password is hashed, so no more than the account's 10 free
// attempts are checked (401); all the others are turned away (429). The
// provider's clock stands still, so no back-off ever expires.
func TestThrottleHoldsUnderConcurrentGuesses(t *testing.T) {
	eachStore(t, func(t *testing.T, useStore func(*config.Config)) {
		p1 := startProvider(t, func(c *config.Config) {
			useStore(c)
			c.TrustedProxies = []string{"127.0.0.1"}
		})
		p2 := startSecondReplica(t, p1)
		const n = 80
		type guess struct {
			b    *browser
			page *page
		}
		guesses := make([]guess, n)
		for i := range guesses {
			b := browserFrom(t, []*provider{p1, p2}[i%2], fmt.Sprintf("198.18.%d.%d", i/200, 1+i%200))
			guesses[i] = guess{b, passwordPage(t, b, aliceLogin)}
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
			start    = make(chan struct{})
		)
		for i, g := range guesses {
			wg.Go(func() {
				form, values, err := g.page.Fill("Sign in", map[string]string{"Password": fmt.Sprintf("wrong guess %d", i)})
				if err != nil {
					t.Error(err)
					return
				}
				<-start
				next, err := formclient.Submit(g.b.client, g.b.p.URL, g.page, form, values)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				statuses[next.Status]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		if statuses[401] > 10 || statuses[401]+statuses[429] != n {
			t.Fatalf("%d parallel wrong passwords: %v; want at most 10 checked (401), the rest turned away (429)", n, statuses)
		}
	})
}

// A stolen session guessing the password in Settings is throttled like
// sign-in, under the same counters: after 10 wrong current passwords the
// page turns further tries away (429), and the sign-in page does too.
func TestThrottleSettingsCurrentPassword(t *testing.T) {
	p := startProvider(t, nil)
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	settings := b.Get(p.URL + "/settings")
	statuses := map[int]int{}
	var last *result
	for i := range 40 {
		last = b.Submit(settings.page, "Change password", map[string]string{
			"Current password": fmt.Sprintf("guess number %d", i), "New password": "a brand new passphrase"})
		statuses[last.Status]++
	}
	if statuses[400] != 10 || statuses[429] != 30 {
		t.Fatalf("40 wrong current passwords: %v; want 10 checked (400) and 30 turned away (429)", statuses)
	}
	if !strings.Contains(last.Text(), "Wait") {
		t.Fatalf("the throttled Settings page does not say to wait: %s", last.Text())
	}
	// The same counters as sign-in, under the username and the email.
	for _, login := range []string{aliceLogin, "alice@example.org"} {
		other := newBrowser(t, p)
		if r := other.Submit(passwordPage(t, other, login), "Sign in", map[string]string{"Password": alicePassword}); r.Status != 429 {
			t.Fatalf("sign-in as %s after the Settings guesses: %d, want 429", login, r.Status)
		}
	}
}
