package login

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/users"
	"github.com/communityidp/idp/idp/web"
)

var failSetupLink = func() web.Failure {
	f := web.Coded(http.StatusNotFound, "SETUP-LINK")
	f.Back, f.BackLabel = "/login", "error.to_sign_in"
	return f
}()

// setupLinkFailure is the page for a setup link that does not work. Once
// an account exists a restart prints no new link: the page says to sign
// in, or how an admin who lost access gets back in.
func (h *Handler) setupLinkFailure(ctx context.Context) web.Failure {
	f := failSetupLink
	if n, err := h.Store.CountUsers(ctx); err == nil && n > 0 {
		f.Hint = "error.SETUP-LINK.hint_done"
	}
	return f
}

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// setupForm is GET /setup?token=...
func (h *Handler) setupForm(c *gin.Context) {
	token := c.Query("token")
	ok, err := h.Store.SetupTokenValid(c.Request.Context(), tokenHash(token), h.Now())
	if err != nil {
		h.serverError(c, "check setup token", err)
		return
	}
	if !ok || token == "" {
		h.Render.Error(c.Writer, c.Request, h.setupLinkFailure(c.Request.Context()))
		return
	}
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "setup", nil, setupPage{Token: token, MinLength: h.PasswordMinLength})
}

// setup is POST /setup: create the first admin and sign them in.
func (h *Handler) setup(c *gin.Context) {
	if !h.checkCSRF(c) {
		return
	}
	ctx := c.Request.Context()
	page := setupPage{Token: c.PostForm("token"), Username: c.PostForm("username"), Email: c.PostForm("email"),
		Name: c.PostForm("name"), MinLength: h.PasswordMinLength}
	pw := c.PostForm("password")
	again := func(field, msg string) {
		page.Invalid, page.Error = field, msg
		h.Render.Render(c.Writer, c.Request, http.StatusBadRequest, "setup", nil, page)
	}
	if err := password.CheckPolicy(pw, h.PasswordMinLength, page.Username, page.Email, h.Render.Site()); err != nil {
		again("password", h.Render.T(c.Request, "setup.error", h.Render.T(c.Request, "common.password"), h.Render.ErrorText(c.Request, err)))
		return
	}
	hash, err := password.Hash(pw)
	if err != nil {
		h.serverError(c, "hash password", err)
		return
	}
	u, err := users.New(users.Input{Username: page.Username, Email: page.Email, Name: page.Name, Role: store.RoleAdmin, PasswordHash: hash}, h.Now())
	var fe *users.FieldError
	if errors.As(err, &fe) {
		again(fe.Field, h.Render.T(c.Request, "setup.error", h.fieldLabel(c, fe.Field), h.Render.ErrorText(c.Request, fe)))
		return
	}
	if err != nil {
		h.serverError(c, "new user", err)
		return
	}
	err = h.Store.CreateFirstAdmin(ctx, tokenHash(page.Token), u, h.Now())
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		h.Render.Error(c.Writer, c.Request, h.setupLinkFailure(c.Request.Context()))
		return
	case err != nil:
		h.serverError(c, "create first admin", err)
		return
	}
	slog.InfoContext(ctx, "first admin created", "user", u.ID, "username", u.Username)
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.UserCreated, ActorID: u.ID, UserID: u.ID,
		Details: map[string]string{"via": "setup link", "role": string(u.Role)}})
	if _, err := h.Sessions.Start(ctx, c.Writer, c.Request, u, []string{"pwd"}); err != nil {
		h.serverError(c, "start session", err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/settings")
}

// fieldLabel is an account field's label in the request's language.
func (h *Handler) fieldLabel(c *gin.Context, f string) string {
	switch f {
	case "username":
		return h.Render.T(c.Request, "common.username")
	case "email":
		return h.Render.T(c.Request, "common.email")
	case "name":
		return h.Render.T(c.Request, "common.name")
	}
	return f
}

// --- sign out

type logoutPage struct{ Target, Sig string }
