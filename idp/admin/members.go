package admin

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/users"
	"github.com/communityidp/idp/idp/web"
)

// failSelf refuses an admin's change to their own role or status: the
// console must always keep someone who can run it.
func failSelf(id, message string) web.Failure {
	return web.Failure{Status: http.StatusBadRequest, Code: "ADMIN-SELF", Title: "error.ADMIN-SELF.title",
		Message: message, Back: "/admin/members/" + url.PathEscape(id)}
}

// createMember is POST /admin/members/create, when mail is off (with mail
// an invitation creates the member): the account, without a password,
// and a one-time link, shown once, for the admin to hand over.
func (h *Handler) createMember(c *gin.Context) {
	ctx := c.Request.Context()
	role := store.Role(c.PostForm("role"))
	in := users.Input{Username: c.PostForm("username"), Email: c.PostForm("email"), Name: c.PostForm("name"), Role: role}
	fail := func(msg string) {
		h.page(c, http.StatusBadRequest, "admin_members", membersPage{InviteEmail: in.Email, InviteUsername: in.Username,
			InviteName: in.Name, CreateError: msg, Mail: h.Mail.Enabled()})
	}
	u, err := users.New(in, h.Now())
	var fe *users.FieldError
	if errors.As(err, &fe) {
		fail(h.Render.ErrorText(c.Request, fe))
		return
	}
	if err != nil {
		h.serverError(c, "new member", err)
		return
	}
	err = h.Store.CreateUser(ctx, u)
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		key := map[string]string{"username": "invite.taken_username", "email": "invite.taken_email"}[ce.Field]
		fail(h.Render.T(c.Request, key))
		return
	}
	if err != nil {
		h.serverError(c, "create member", err)
		return
	}
	h.record(c, audit.UserCreated, u.ID, map[string]string{"role": string(u.Role), "via": "console"})
	slog.InfoContext(ctx, "member created in the console", "user", u.ID)
	c.Params = append(c.Params, gin.Param{Key: "id", Value: u.ID})
	h.createRecoveryLink(c) // shows the member's page with the link
}

// changeRole is POST /admin/members/:id/role: member or admin. An admin
// does not change their own role.
func (h *Handler) changeRole(c *gin.Context) {
	u := h.loadMember(c)
	if u == nil {
		return
	}
	role := store.Role(c.PostForm("role"))
	if !role.Valid() {
		h.Render.Error(c.Writer, c.Request, web.Failure{Status: http.StatusBadRequest, Code: "BAD-REQUEST",
			Message: "admin.member.error.role", Back: "/admin/members/" + url.PathEscape(u.ID)})
		return
	}
	if u.ID == admin(c).User.ID {
		h.Render.Error(c.Writer, c.Request, failSelf(u.ID, "error.ADMIN-SELF.role"))
		return
	}
	if role == u.Role {
		c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID))
		return
	}
	if _, err := h.Store.UpdateUser(c.Request.Context(), u.ID, func(x *store.User) error {
		x.Role, x.UpdatedAt = role, h.Now()
		return nil
	}); err != nil {
		h.serverError(c, "change role", err)
		return
	}
	h.record(c, audit.UserUpdated, u.ID, map[string]string{"role": string(u.Role) + " → " + string(role)})
	c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID)+"?done=updated")
}

// editProfile is POST /admin/members/:id/profile: username, email and
// name. A new address is no longer verified: the old one is told, the new
// one gets a link.
func (h *Handler) editProfile(c *gin.Context) {
	u := h.loadMember(c)
	if u == nil {
		return
	}
	ctx := c.Request.Context()
	username := users.NormalizeUsername(c.PostForm("username"))
	email := users.NormalizeEmail(c.PostForm("email"))
	name := strings.TrimSpace(c.PostForm("name"))
	again := func(status int, msg string) {
		p, err := h.memberData(c, u)
		if err != nil {
			h.serverError(c, "load member", err)
			return
		}
		p.ProfileError, p.Username, p.Email, p.Name = msg, username, email, name
		h.page(c, status, "admin_member", p)
	}
	if err := errors.Join(users.ValidateUsername(username), users.ValidateEmail(email), users.ValidateName(name)); err != nil {
		again(http.StatusBadRequest, h.Render.ErrorText(c.Request, err))
		return
	}
	old := *u
	updated, err := h.Store.UpdateUser(ctx, u.ID, func(x *store.User) error {
		if x.Email != email {
			x.EmailVerified = false
		}
		x.Username, x.Email, x.Name, x.UpdatedAt = username, email, name, h.Now()
		return nil
	})
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		key := map[string]string{"username": "invite.taken_username", "email": "invite.taken_email"}[ce.Field]
		again(http.StatusConflict, h.Render.T(c.Request, key))
		return
	}
	if err != nil {
		h.serverError(c, "edit member", err)
		return
	}
	changed := map[string]string{}
	if old.Username != updated.Username {
		changed["username"] = old.Username + " → " + updated.Username
	}
	if old.Email != updated.Email {
		changed["email"] = "changed"
	}
	if old.Name != updated.Name {
		changed["name"] = "changed"
	}
	if len(changed) == 0 {
		c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID))
		return
	}
	h.record(c, audit.UserUpdated, u.ID, changed)
	if old.Email != updated.Email {
		h.Mail.Notify(ctx, &old, old.Email, config.NoticeEmailChanged, "")
		if err := h.Mail.Verify(ctx, h.Store, updated, h.Config.Registration.VerificationLifetime.D()); err != nil {
			slog.ErrorContext(ctx, "send a verification link", "user", u.ID, "error", err)
		}
	}
	c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID)+"?done=updated")
}
