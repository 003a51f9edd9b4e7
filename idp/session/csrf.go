package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
)

// CSRF protects the provider's forms with a signed double-submit token: a
// random cookie, and in each form an HMAC of that cookie under a server key
// shared by every replica. A POST is accepted only when the form's token
// matches the cookie, and when the browser says the request is same-origin
// (Origin header, Sec-Fetch-Site) if it says anything.
type CSRF struct {
	// keys[0] signs; every key verifies, so a rotated key (idp secrets
	// rotate csrf_key) keeps forms opened before it working.
	keys   atomic.Pointer[[][]byte]
	secure bool
	origin string
	cookie string
}

// FormField is the name of the hidden form field holding the token.
const FormField = "csrf_token"

// NewCSRF returns a CSRF guard for the issuer's origin.
func NewCSRF(key []byte, issuer string) *CSRF {
	u, _ := url.Parse(issuer)
	secure := u != nil && u.Scheme == "https"
	name := "idp_csrf"
	if secure {
		name = "__Host-idp_csrf"
	}
	origin := ""
	if u != nil {
		origin = u.Scheme + "://" + u.Host
	}
	c := &CSRF{secure: secure, origin: origin, cookie: name}
	c.SetKeys(key)
	return c
}

// SetKeys replaces the keys: the first signs, all of them verify.
func (c *CSRF) SetKeys(keys ...[]byte) {
	ks := slices.Clone(keys)
	c.keys.Store(&ks)
}

// mac is the HMAC of parts under key.
func mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signed returns parts' MAC under the signing key.
func (c *CSRF) signed(parts ...string) string { return mac((*c.keys.Load())[0], parts...) }

// verify reports whether sig is parts' MAC under any of the keys.
func (c *CSRF) verify(sig string, parts ...string) bool {
	ok := false
	for _, k := range *c.keys.Load() {
		ok = subtle.ConstantTimeCompare([]byte(sig), []byte(mac(k, parts...))) == 1 || ok
	}
	return ok && sig != ""
}

// Token returns the token to put in a form, setting the cookie if the
// browser has none yet.
func (c *CSRF) Token(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.cookie); err == nil && len(ck.Value) >= 32 {
		return c.sign(ck.Value)
	}
	value, err := randomToken(32)
	if err != nil {
		return "" // the form then fails its check: safe
	}
	http.SetCookie(w, &http.Cookie{
		Name: c.cookie, Value: value, Path: "/",
		Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	// Later reads in this request see the new cookie.
	r.AddCookie(&http.Cookie{Name: c.cookie, Value: value})
	return c.sign(value)
}

// Check reports whether a state-changing request carries a valid token
// (form field, or X-CSRF-Token header for JSON calls) from the same origin.
func (c *CSRF) Check(r *http.Request) bool {
	reason := c.check(r)
	if reason != "" {
		slog.InfoContext(r.Context(), "CSRF check failed", "reason", reason, "origin", r.Header.Get("Origin"),
			"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	}
	return reason == ""
}

// check says why a request fails the CSRF check, or "".
func (c *CSRF) check(r *http.Request) string {
	if !c.SameOrigin(r) {
		return "cross-origin request"
	}
	ck, err := r.Cookie(c.cookie)
	if err != nil || ck.Value == "" {
		return "no CSRF cookie"
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue(FormField)
	}
	if got == "" {
		return "no CSRF token"
	}
	if !c.verify(got, "csrf\x00", ck.Value) {
		return "CSRF token does not match the cookie"
	}
	return ""
}

// SameOrigin rejects requests the browser marks as coming from another
// site. Browsers that send neither header are judged by the token alone.
// Our pages send Referrer-Policy: no-referrer, under which browsers send
// "Origin: null" for form posts; Sec-Fetch-Site still tells the truth.
func (c *CSRF) SameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != c.origin {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return false
	}
	return true
}

func (c *CSRF) sign(value string) string { return c.signed("csrf\x00", value) }

// SignTarget signs a redirect target that travels through the browser
// (the logout confirmation page), so the page that receives it back can
// trust it was validated here.
func (c *CSRF) SignTarget(target string) string { return c.signed("target\x00", target) }

// VerifyTarget checks a signature made by SignTarget.
func (c *CSRF) VerifyTarget(target, sig string) bool {
	return target != "" && c.verify(sig, "target\x00", target)
}

// SignValue signs short-lived state that travels through the browser
// (a redirect's query), under a purpose so that a signature made for one
// use is never accepted for another.
func (c *CSRF) SignValue(purpose, value string) string {
	return c.signed("value\x00", purpose, "\x00", value)
}

// VerifyValue checks a signature made by SignValue.
func (c *CSRF) VerifyValue(purpose, value, sig string) bool {
	return c.verify(sig, "value\x00", purpose, "\x00", value)
}

// Binding returns a value only this browser holds (its CSRF cookie), for
// binding server-side state such as a WebAuthn challenge to the browser
// that asked for it. Nil when the browser has no cookie yet.
func (c *CSRF) Binding(r *http.Request) []byte {
	ck, err := r.Cookie(c.cookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	return []byte(ck.Value)
}
