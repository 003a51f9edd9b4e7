package session

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/storetest"
)

func setup(t *testing.T, secure bool) (*Manager, *store.User, *time.Time) {
	t.Helper()
	ctx := context.Background()
	s := storetest.SQLite(t)
	now := time.Unix(1_800_000_000, 0)
	u := &store.User{ID: "u1", Username: "alice", Email: "a@example.org", Role: store.RoleMember, WebAuthnID: []byte("h"), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	m := NewManager(s, s, Options{Secure: secure, IdleTimeout: time.Hour, AbsoluteLifetime: 8 * time.Hour, Now: func() time.Time { return now }})
	return m, u, &now
}

func TestCookieOnHTTPS(t *testing.T) {
	m, u, _ := setup(t, true)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "https://login.example/login/password", nil)
	if _, err := m.Start(context.Background(), w, r, u, []string{"pwd"}); err != nil {
		t.Fatal(err)
	}
	h := w.Header().Get("Set-Cookie")
	for _, want := range []string{"__Host-idp_session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(h, want) {
			t.Errorf("Set-Cookie %q lacks %s", h, want)
		}
	}
	if strings.Contains(h, "Domain=") {
		t.Errorf("Set-Cookie %q has a Domain", h)
	}
}

func TestNewIDAndTimeouts(t *testing.T) {
	ctx := context.Background()
	m, u, now := setup(t, false)
	start := func(r *http.Request) *http.Cookie {
		w := httptest.NewRecorder()
		if _, err := m.Start(ctx, w, r, u, []string{"pwd"}); err != nil {
			t.Fatal(err)
		}
		return w.Result().Cookies()[0]
	}
	load := func(c *http.Cookie) *Current {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(c)
		cur, err := m.Load(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return cur
	}
	first := start(httptest.NewRequest(http.MethodPost, "/", nil))
	if load(first) == nil {
		t.Fatal("new session not found")
	}
	// Signing in again gives a new id and kills the old one (no fixation).
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.AddCookie(first)
	second := start(r)
	if second.Value == first.Value || load(first) != nil || load(second) == nil {
		t.Fatal("re-authentication kept the old session id")
	}
	// Idle timeout: an hour without use ends it; use keeps it alive.
	*now = now.Add(50 * time.Minute)
	if load(second) == nil {
		t.Fatal("session ended before the idle timeout")
	}
	*now = now.Add(50 * time.Minute) // 50 minutes after the last use
	if load(second) == nil {
		t.Fatal("use did not extend the idle timeout")
	}
	*now = now.Add(61 * time.Minute)
	if load(second) != nil {
		t.Fatal("idle session still valid")
	}
	// Absolute lifetime: even a busy session ends.
	third := start(httptest.NewRequest(http.MethodPost, "/", nil))
	for i := 0; i < 9; i++ {
		*now = now.Add(55 * time.Minute)
		if cur := load(third); (cur != nil) != (i < 8) {
			t.Fatalf("after %d×55 min: session valid=%v", i+1, cur != nil)
		}
	}
}

func TestCSRF(t *testing.T) {
	c := NewCSRF([]byte("0123456789abcdef0123456789abcdef"), "https://login.example")
	w := httptest.NewRecorder()
	get := httptest.NewRequest(http.MethodGet, "https://login.example/login", nil)
	token := c.Token(w, get)
	cookie := w.Result().Cookies()[0]
	if cookie.Name != "__Host-idp_csrf" || !cookie.Secure || !cookie.HttpOnly {
		t.Fatalf("CSRF cookie %+v", cookie)
	}
	post := func(tok, origin, site string) bool {
		r := httptest.NewRequest(http.MethodPost, "https://login.example/login", strings.NewReader("csrf_token="+tok))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(cookie)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		return c.Check(r)
	}
	if !post(token, "https://login.example", "same-origin") || !post(token, "", "") {
		t.Fatal("valid token refused")
	}
	if post(token, "https://evil.example", "") || post(token, "", "cross-site") || post("x"+token, "", "") || post("", "", "") {
		t.Fatal("invalid request accepted")
	}
	if !c.VerifyTarget("https://site.example/", c.SignTarget("https://site.example/")) || c.VerifyTarget("https://evil.example/", c.SignTarget("https://site.example/")) {
		t.Fatal("target signature")
	}
	// A signed value is bound to its purpose and value, and is no target.
	sig := c.SignValue("purpose", "value")
	if !c.VerifyValue("purpose", "value", sig) || c.VerifyValue("other", "value", sig) || c.VerifyValue("purpose", "value2", sig) ||
		c.VerifyValue("purpose", "value", "") || c.VerifyTarget("value", sig) {
		t.Fatal("value signature")
	}
}
