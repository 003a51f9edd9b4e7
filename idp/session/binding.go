package session

import "net/http"

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
