package login

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
)

// logoutConfirm is GET /logout: RP-initiated logout without a usable
// id_token_hint asks the member first.
func (h *Handler) logoutConfirm(c *gin.Context) {
	target, sig := c.Query("target"), c.Query("sig")
	if !h.CSRF.VerifyTarget(target, sig) {
		target, sig = "", ""
	}
	cur := session.FromContext(c.Request.Context())
	if cur == nil {
		if target != "" {
			c.Redirect(http.StatusSeeOther, target)
			return
		}
		c.Redirect(http.StatusSeeOther, "/logout/done")
		return
	}
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "logout", cur.User, logoutPage{Target: target, Sig: sig})
}

// logout is POST /logout: end the session on this device.
func (h *Handler) logout(c *gin.Context) {
	if !h.checkCSRF(c) {
		return
	}
	if cur := session.FromContext(c.Request.Context()); cur != nil {
		h.Audit.Record(c.Request.Context(), c.Request, store.AuditEvent{Kind: audit.SignedOut, ActorID: cur.User.ID, UserID: cur.User.ID})
	}
	if err := h.Sessions.End(c.Request.Context(), c.Writer, c.Request); err != nil {
		h.serverError(c, "end session", err)
		return
	}
	target := c.PostForm("target")
	if h.CSRF.VerifyTarget(target, c.PostForm("sig")) {
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	c.Redirect(http.StatusSeeOther, "/logout/done")
}

func (h *Handler) loggedOut(c *gin.Context) {
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "logged_out", nil, nil)
}
