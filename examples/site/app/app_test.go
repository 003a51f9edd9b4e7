package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNewChecksConfig(t *testing.T) {
	ok := Config{Issuer: "http://localhost:8080", ClientID: "community-site", ClientSecret: "s", PublicURL: "http://localhost:3000/"}
	a, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if a.RedirectURL() != "http://localhost:3000/oidc/callback" || a.PostLogoutURL() != "http://localhost:3000/" {
		t.Fatalf("addresses %s %s", a.RedirectURL(), a.PostLogoutURL())
	}
	for _, edit := range []func(*Config){
		func(c *Config) { c.ClientSecret = "" },
		func(c *Config) { c.PublicURL = "localhost:3000" },
		func(c *Config) { c.PublicURL = "http://localhost:3000/site" },
	} {
		c := ok
		edit(&c)
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// The login cookie is signed: one the site did not write, or one that
// expired, does not finish a sign-in.
func TestLoginCookie(t *testing.T) {
	a, err := New(Config{Issuer: "http://localhost:8080", ClientID: "c", ClientSecret: "s", PublicURL: "http://localhost:3000"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(value string) (pending, bool) {
		r := httptest.NewRequest(http.MethodGet, "/oidc/callback", nil)
		r.AddCookie(&http.Cookie{Name: loginCookie, Value: value})
		return a.pendingLogin(r)
	}
	good := a.seal(pending{State: "st", Nonce: "n", Verifier: "v", Expires: 1 << 40})
	if p, ok := get(good); !ok || p.State != "st" || p.Verifier != "v" {
		t.Fatalf("sealed cookie refused: %+v %v", p, ok)
	}
	body, _, _ := strings.Cut(good, ".")
	other, _ := New(Config{Issuer: "http://localhost:8080", ClientID: "c", ClientSecret: "s", PublicURL: "http://localhost:3000"})
	for _, v := range []string{body, body + ".x", other.seal(pending{State: "st", Expires: 1 << 40}), a.seal(pending{State: "st", Expires: 1})} {
		if _, ok := get(v); ok {
			t.Errorf("cookie %q accepted", v)
		}
	}
	// And the callback says so on a page.
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/oidc/callback?code=c&state=st", nil))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "This sign-in cannot be finished") {
		t.Fatalf("callback without a login cookie: %d %s", w.Code, w.Body)
	}
}

func TestDescribeAMR(t *testing.T) {
	for amr, want := range map[string]string{
		"pwd":          "You signed in with a password",
		"hwk user mfa": "You signed in with a passkey",
		"hwk":          "You signed in with a passkey",
		"":             "The provider did not say how you signed in",
		"otp":          "You signed in with: otp",
	} {
		if got := describeAMR(strings.Fields(amr)).Summary; got != want {
			t.Errorf("amr %q: %q, want %q", amr, got, want)
		}
	}
}
