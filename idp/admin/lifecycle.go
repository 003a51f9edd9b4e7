package admin

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/invite"
	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/users"
)

// maxCSV bounds an uploaded invitation list: a few thousand lines.
const maxCSV = 1 << 20

// inviteOne is POST /admin/members/invite: one member, by email.
func (h *Handler) inviteOne(c *gin.Context) {
	in := invite.Input{Email: c.PostForm("email"), Username: c.PostForm("username"), Role: store.Role(c.PostForm("role"))}
	if in.Role == "" {
		in.Role = store.RoleMember
	}
	u, err := h.Invite.Invite(c.Request.Context(), in, admin(c).User.ID)
	if err != nil {
		h.inviteFailed(c, in, err)
		return
	}
	h.record(c, audit.InviteCreated, u.ID, map[string]string{"role": string(u.Role)})
	c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID)+"?done=invited")
}

// inviteFailed shows the members page with what went wrong.
func (h *Handler) inviteFailed(c *gin.Context, in invite.Input, err error) {
	msg := ""
	var fe *users.FieldError
	switch {
	case errors.As(err, &fe):
		msg = h.Render.ErrorText(c.Request, fe)
	case errors.Is(err, invite.ErrNoMail):
		msg = h.Render.T(c.Request, "invite.no_mail")
	default:
		h.serverError(c, "invite", err)
		return
	}
	h.page(c, http.StatusBadRequest, "admin_members", membersPage{InviteEmail: in.Email, InviteUsername: in.Username,
		InviteError: msg, Mail: h.Mail.Enabled()})
}

type invitedPage struct {
	Rows           []invitedRow
	Invited, Fails int
}

type invitedRow struct {
	Line            int
	Email, Username string
	Error           string
}

// inviteCSV is POST /admin/members/invite-csv: everyone a CSV lists
// (email, username, name, role), each on its own; the page reports every
// line.
func (h *Handler) inviteCSV(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxCSV+4096)
	f, _, err := c.Request.FormFile("csv")
	if err != nil {
		h.inviteFailed(c, invite.Input{}, &users.FieldError{Field: "csv", Reason: "no file", Key: "invite.csv_missing"})
		return
	}
	defer f.Close()
	rows, err := h.Invite.CSV(c.Request.Context(), f, admin(c).User.ID)
	if err != nil {
		h.inviteFailed(c, invite.Input{}, &users.FieldError{Field: "csv", Reason: err.Error(), Key: "invite.csv_unreadable", Args: []any{err.Error()}})
		return
	}
	p := invitedPage{}
	for _, r := range rows {
		row := invitedRow{Line: r.Line, Email: r.Email, Username: r.Username}
		if r.Err != nil {
			p.Fails++
			var fe *users.FieldError
			if errors.As(r.Err, &fe) {
				row.Error = h.Render.ErrorText(c.Request, fe)
			} else {
				row.Error = r.Err.Error()
			}
		} else {
			p.Invited++
		}
		p.Rows = append(p.Rows, row)
	}
	h.record(c, audit.InviteCreated, "", map[string]string{"csv_invited": itoa(p.Invited), "csv_failed": itoa(p.Fails)})
	slog.InfoContext(c.Request.Context(), "invitations from a CSV", "invited", p.Invited, "failed", p.Fails)
	h.page(c, http.StatusOK, "admin_invited", p)
}

// markVerified is POST /admin/members/:id/verify-email: the admin vouches
// for the member's address.
func (h *Handler) markVerified(c *gin.Context) {
	u := h.loadMember(c)
	if u == nil {
		return
	}
	if _, err := h.Store.UpdateUser(c.Request.Context(), u.ID, func(x *store.User) error {
		x.EmailVerified = true
		return nil
	}); err != nil {
		h.serverError(c, "mark email verified", err)
		return
	}
	h.record(c, audit.EmailVerified, u.ID, map[string]string{"by": "admin", "email": u.Email})
	c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID)+"?done=verified")
}

// mailReset is POST /admin/members/:id/reset: a reset link by mail, the
// one the member would get from "Forgot password?".
func (h *Handler) mailReset(c *gin.Context) {
	u := h.loadMember(c)
	if u == nil {
		return
	}
	if !h.Mail.Enabled() || u.Email == "" {
		c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID))
		return
	}
	lifetime := h.Config.Admin.RecoveryLinkLifetime.D()
	pks, err := h.Store.PasskeysByUser(c.Request.Context(), u.ID)
	if err == nil {
		err = h.Mail.MailLink(c.Request.Context(), h.Store, u, store.LinkRecovery, "", admin(c).User.ID, lifetime,
			func(to, link string) (mail.Message, error) {
				return h.Mail.Letters.Reset(h.Mail.For(u), to, u.Username, link, lifetime, len(pks) > 0)
			})
	}
	if err != nil {
		h.serverError(c, "mail a reset link", err)
		return
	}
	h.record(c, audit.RecoveryCreated, u.ID, map[string]string{"sent_to": u.Email})
	c.Redirect(http.StatusSeeOther, "/admin/members/"+url.PathEscape(u.ID)+"?done=reset")
}

type mailPage struct {
	Failing []store.OutboxMessage
	On      bool
}

// mailOutbox is GET /admin/mail: mail that keeps failing.
func (h *Handler) mailOutbox(c *gin.Context) {
	list, err := h.Store.ListOutbox(c.Request.Context(), 100)
	if err != nil {
		h.serverError(c, "list the outbox", err)
		return
	}
	var failing []store.OutboxMessage
	for _, m := range list {
		if m.Kind == mail.Kind {
			failing = append(failing, m)
		}
	}
	h.page(c, http.StatusOK, "admin_mail", mailPage{Failing: failing, On: h.Mail.Enabled()})
}

func itoa(n int) string { return strconv.Itoa(n) }
