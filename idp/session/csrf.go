package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
)

// CSRF protects the provider's forms with a signed double-submit token: a
// random cookie, and in each form an HMAC of that cookie under a server key
// shared by every replica. A POST is accepted only when the form's token
// matches the cookie, and when the browser says the request is same-origin
// (Origin header, Sec-Fetch-Site) if it says anything.
type CSRF struct {
	key    []byte
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
	return &CSRF{key: key, secure: secure, origin: origin, cookie: name}
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
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.sign(ck.Value))) != 1 {
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

func (c *CSRF) sign(value string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("csrf\x00"))
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SignTarget signs a redirect target that travels through the browser
// (the logout confirmation page), so the page that receives it back can
// trust it was validated here.
func (c *CSRF) SignTarget(target string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("target\x00"))
	m.Write([]byte(target))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// VerifyTarget checks a signature made by SignTarget.
func (c *CSRF) VerifyTarget(target, sig string) bool {
	return target != "" && subtle.ConstantTimeCompare([]byte(sig), []byte(c.SignTarget(target))) == 1
}

// SignValue signs short-lived state that travels through the browser
// (a redirect's query), under a purpose so that a signature made for one
// use is never accepted for another.
func (c *CSRF) SignValue(purpose, value string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("value\x00"))
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// VerifyValue checks a signature made by SignValue.
func (c *CSRF) VerifyValue(purpose, value, sig string) bool {
	return sig != "" && subtle.ConstantTimeCompare([]byte(sig), []byte(c.SignValue(purpose, value))) == 1
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
