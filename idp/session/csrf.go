package session

import (
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
	// Signer signs the tokens, and whatever else travels through the
	// browser and must come back unchanged.
	*Signer
	origin Origin
	secure bool
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
	return &CSRF{Signer: NewSigner(key), secure: secure, origin: Origin(origin), cookie: name}
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
	if !c.origin.Same(r) {
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

func (c *CSRF) sign(value string) string { return c.signed("csrf\x00", value) }
