package login

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/throttle"
	"github.com/communityidp/idp/idp/web"
)

var failRecoveryLink = func() web.Failure {
	f := web.Coded(http.StatusNotFound, "RECOVERY-LINK")
	f.Back, f.BackLabel = "/login", "error.to_sign_in"
	return f
}()

type recoverPage struct {
	Token, Username, Error string
	MinLength              int
	// Invite: the link is an invitation (a first password, a welcome).
	Invite bool
}

func recoveryHash(token string) []byte { return store.HashToken(token) }

// recoveryLink looks up a live link that sets a password (recovery or
// invitation); see recoveryLinkOf.
func (h *Handler) recoveryLink(c *gin.Context, token string) (*store.RecoveryLink, error) {
	return h.recoveryLinkOf(c, token, store.LinkRecovery, store.LinkInvite)
}

// recoveryLinkOf looks up a live link of one of purposes. Unknown links are
// counted per address: scanning for links is slowed down like password
// guessing. It answers the request itself (and returns nil, nil) when the
// link does not work or the address must wait.
func (h *Handler) recoveryLinkOf(c *gin.Context, token string, purposes ...string) (*store.RecoveryLink, error) {
	ctx := c.Request.Context()
	key := h.Throttle.Recovery(clientip.From(c.Request))
	wait, err := h.Throttle.Wait(ctx, key)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		c.Header("Retry-After", throttle.RetryAfter(wait))
		f := web.Coded(http.StatusTooManyRequests, "RECOVERY-THROTTLED")
		f.Args = []any{h.Render.Wait(c.Request, wait)}
		h.Render.Error(c.Writer, c.Request, f)
		return nil, nil
	}
	link, err := h.Store.RecoveryLinkByHash(ctx, recoveryHash(token), h.Now())
	if err == nil && !slices.Contains(purposes, link.Purpose) {
		err = store.ErrNotFound // a link of another kind does nothing here
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && token == "") {
		if err := h.Throttle.Fail(ctx, key); err != nil {
			slog.ErrorContext(ctx, "count failed recovery link", "error", err)
		}
		h.Render.Error(c.Writer, c.Request, failRecoveryLink)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return link, nil
}

// consumeLink uses the link of token, once. A link used meanwhile (the
// same link sent twice at once) answers the link's error page; it
// reports whether the caller goes on.
func (h *Handler) consumeLink(c *gin.Context, token, what string) bool {
	_, err := h.Store.ConsumeRecoveryLink(c.Request.Context(), recoveryHash(token), h.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.Render.Error(c.Writer, c.Request, failRecoveryLink)
		return false
	case err != nil:
		h.serverError(c, what, err)
		return false
	}
	return true
}

// recoverForm is GET /recover?token=...: a member who lost access sets a
// new password with the one-time link an admin created.
func (h *Handler) recoverForm(c *gin.Context) {
	token := c.Query("token")
	link, err := h.recoveryLink(c, token)
	if link == nil && err == nil {
		return
	}
	if err != nil {
		h.serverError(c, "load recovery link", err)
		return
	}
	u, err := h.Store.UserByID(c.Request.Context(), link.UserID)
	if err != nil {
		h.serverError(c, "load user", err)
		return
	}
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "recover", nil, recoverPage{Token: token, Username: u.Username,
		MinLength: h.PasswordMinLength, Invite: link.Purpose == store.LinkInvite})
}

// recoverAccount is POST /recover: set the password, use up the link, end
// every other session and token, sign the member in, and take them to
// Settings > Passkeys to remove the passkey of a lost device.
func (h *Handler) recoverAccount(c *gin.Context) {
	if !h.checkCSRF(c) {
		return
	}
	ctx := c.Request.Context()
	token, pw := c.PostForm("token"), c.PostForm("password")
	link, err := h.recoveryLink(c, token)
	if link == nil && err == nil {
		return
	}
	if err != nil {
		h.serverError(c, "load recovery link", err)
		return
	}
	u, err := h.Store.UserByID(ctx, link.UserID)
	if err != nil {
		h.serverError(c, "load user", err)
		return
	}
	if err := password.CheckPolicy(pw, h.PasswordMinLength, u.Username, u.Email, h.Render.Site()); err != nil {
		h.Render.Render(c.Writer, c.Request, http.StatusBadRequest, "recover", nil,
			recoverPage{Token: token, Username: u.Username, Error: h.Render.ErrorText(c.Request, err), MinLength: h.PasswordMinLength,
				Invite: link.Purpose == store.LinkInvite})
		return
	}
	hash, err := password.Hash(pw)
	if err != nil {
		h.serverError(c, "hash password", err)
		return
	}
	// Consume first: a link used twice at once sets the password once.
	if !h.consumeLink(c, token, "use recovery link") {
		return
	}
	now := h.Now()
	invite := link.Purpose == store.LinkInvite
	u, err = h.Store.UpdateUser(ctx, u.ID, func(x *store.User) error {
		x.PasswordHash, x.PasswordChangedAt, x.UpdatedAt = hash, now, now
		// The invitation reached the address: it is the member's.
		x.EmailVerified = x.EmailVerified || invite
		x.Locale = h.Render.Printer(c.Request).Tag().String()
		return nil
	})
	if err == nil {
		err = h.Store.DeleteUserSessions(ctx, u.ID, "")
	}
	if err == nil {
		err = h.Store.RevokeUserTokens(ctx, u.ID, now)
	}
	if err != nil {
		h.serverError(c, "recover account", err)
		return
	}
	kind := audit.RecoveryUsed
	if invite {
		kind = audit.InviteAccepted
	} else {
		h.Mail.Notify(ctx, u, "", config.NoticeRecoveryUsed, c.Request.UserAgent())
	}
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: kind, ActorID: u.ID, UserID: u.ID,
		Details: map[string]string{"created_by": link.CreatedBy}})
	if u.Disabled {
		h.Render.Error(c.Writer, c.Request, failDisabled)
		return
	}
	if _, err := h.Sessions.Start(ctx, c.Writer, c.Request, u, []string{"pwd"}); err != nil {
		h.serverError(c, "start session", err)
		return
	}
	// A member who has passkeys goes to remove the lost device's; one who
	// has none is offered one, where the rollout includes them.
	next := "/settings?done=recovered"
	if pks, err := h.Store.PasskeysByUser(ctx, u.ID); err == nil && len(pks) > 0 && h.Passkeys.On() {
		next = "/settings/passkeys?done=recovered"
	} else if h.suggestFor(c, u) {
		next = "/login/suggest?" + url.Values{"continue": {next}, "sig": {h.CSRF.SignTarget(next)}}.Encode()
	}
	c.Redirect(http.StatusSeeOther, next)
}
