package session

import "net/http"

// Origin is the provider's own origin (scheme://host) for telling
// same-origin requests from cross-site ones. (net/http's
// CrossOriginProtection judges the same headers, but refuses the
// "Origin: null" that browsers send for our forms under Referrer-Policy:
// no-referrer when they send no Sec-Fetch-Site.)
type Origin string

// Same rejects requests the browser marks as coming from another site.
// Browsers that send neither header are judged by the CSRF token alone.
// Under Referrer-Policy: no-referrer browsers send "Origin: null" for form
// posts; Sec-Fetch-Site still tells the truth.
func (o Origin) Same(r *http.Request) bool {
	if got := r.Header.Get("Origin"); got != "" && got != "null" && got != string(o) {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return false
	}
	return true
}
