package account

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/store"
)

// coachCookie remembers, in this browser, the passkeys a member was
// coached about and dismissed: the note comes back only when they change.
const coachCookie = "idp_coach"

// Resilience is what a member's passkeys leave them exposed to.
type Resilience int

const (
	// Spread: passkeys on more than one device or password manager.
	Spread Resilience = iota
	// OneDevice: the only passkey is bound to one device.
	OneDevice
	// OneProvider: every passkey is kept by one password manager.
	OneProvider
)

// ResilienceOf judges pks. Device-bound passkeys are on different
// devices, as far as the provider can tell; synced ones are grouped by
// the password manager that made them (its AAGUID).
func ResilienceOf(pks []store.Passkey) Resilience {
	if len(pks) == 0 {
		return Spread
	}
	if len(pks) == 1 && !pks[0].BackupEligible {
		return OneDevice
	}
	first := pks[0].AAGUID
	if len(first) == 0 || bytes.Equal(first, make([]byte, len(first))) {
		return Spread // an unknown maker: no grounds to say they are together
	}
	for _, pk := range pks {
		if !pk.BackupEligible || !bytes.Equal(pk.AAGUID, first) {
			return Spread
		}
	}
	return OneProvider
}

// passkeySet names a set of passkeys, for the dismissal.
func passkeySet(pks []store.Passkey) string {
	ids := make([]string, len(pks))
	for i, pk := range pks {
		ids[i] = pk.ID
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	return hex.EncodeToString(sum[:8])
}

// coaching is the note for pks in this browser, or "".
func (h *Handler) coaching(c *gin.Context, pks []store.Passkey, providers []string) string {
	if cookie, err := c.Cookie(coachCookie); err == nil && cookie == passkeySet(pks) {
		return ""
	}
	switch ResilienceOf(pks) {
	case OneDevice:
		return h.Render.T(c.Request, "passkeys.coach.device")
	case OneProvider:
		return h.Render.T(c.Request, "passkeys.coach.provider", providers[0])
	}
	return ""
}

// dismissCoaching is POST /settings/passkeys/coaching: not again for
// these passkeys, in this browser.
func (h *Handler) dismissCoaching(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil {
		return
	}
	pks, err := h.Store.PasskeysByUser(c.Request.Context(), cur.User.ID)
	if err != nil {
		h.serverError(c, "list passkeys", err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: coachCookie, Value: passkeySet(pks), Path: "/settings",
		MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: h.Sessions.Secure(), SameSite: http.SameSiteLaxMode})
	c.Redirect(http.StatusSeeOther, "/settings/passkeys")
}
