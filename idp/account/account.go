// Package account serves the member's Settings pages: profile and
// password (and, later, Settings > Passkeys). The provider signs its own
// members into these pages with the same session as every client.
package account

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/ratelimit"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/throttle"
	"github.com/communityidp/idp/idp/users"
	"github.com/communityidp/idp/idp/web"
)

// Handler serves /settings.
// Store is what Settings reads and writes.
type Store interface {
	store.UserStore
	store.SessionStore
	store.TokenStore
	store.PasskeyStore
	store.AuditStore
	store.RecoveryStore
}

type Handler struct {
	Store    Store
	Sessions *session.Manager
	CSRF     *session.CSRF
	Render   *web.Renderer
	// Passkeys is nil when passkeys are off.
	Passkeys          *passkey.Service
	Audit             *audit.Recorder
	PasswordMinLength int
	// ReauthAfter is how recent a sign-in must be to add or delete a
	// passkey or change the email.
	ReauthAfter time.Duration
	// Throttle counts wrong current passwords as sign-in failures.
	Throttle *throttle.Throttle
	// CeremonyLimit caps passkey registrations begun per address.
	CeremonyLimit *ratelimit.Limiter
	// Mail writes to members (nil: mail is off).
	Mail *mail.Service
	// VerifyLifetime is how long an address verification link works.
	VerifyLifetime time.Duration
	// ClientNames names the registered apps; Backchannel says which take
	// back-channel logout (told when the member removes their access).
	ClientNames map[string]string
	Backchannel map[string]bool
	Now         func() time.Time
}

// Register mounts the pages.
func (h *Handler) Register(r gin.IRouter) {
	r.GET("/settings", h.settings)
	r.POST("/settings/profile", h.profile)
	r.POST("/settings/password", h.password)
	r.POST("/settings/verify-email", h.verifyEmail)
	r.POST("/settings/signout-everywhere", h.signOutEverywhere)
	r.GET("/settings/devices", h.devices)
	r.POST("/settings/devices/signout-others", h.signOutOthers)
	r.POST("/settings/devices/:handle/signout", h.signOutDevice)
	r.POST("/settings/apps/:client/remove", h.removeApp)
	r.GET("/settings/data", h.data)
	r.GET("/settings/delete", h.deleteForm)
	r.POST("/settings/delete", h.deleteAccount)
	r.GET("/settings/passkeys", h.passkeys)
	r.POST("/settings/passkeys/:id/rename", h.rename)
	r.POST("/settings/passkeys/:id/delete", h.remove)
	r.POST("/settings/passkeys/coaching", h.dismissCoaching)
	r.POST("/webauthn/register/begin", h.registerBegin)
	r.POST("/webauthn/register/finish", h.registerFinish)
}

type settingsPage struct {
	Tab         string
	History     []store.AuditEvent
	Name, Email string
	// EmailVerified, and whether a verification link can be mailed.
	EmailVerified, CanVerify    bool
	Notice                      string
	ProfileError, PasswordError string
	MinLength                   int
	// Signals keep the member's password manager in step on each visit:
	// their current name (after a change here or by an admin) and the
	// passkeys that still exist (after an admin deleted one).
	Signals *passkey.Signals
}

// member returns the signed-in member, or sends the browser to sign in.
func (h *Handler) member(c *gin.Context) *session.Current {
	cur := session.FromContext(c.Request.Context())
	if cur == nil {
		next := c.Request.URL.Path
		if c.Request.Method != http.MethodGet {
			next = "/settings"
		}
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
		return nil
	}
	return cur
}

func (h *Handler) page(cur *session.Current) settingsPage {
	return settingsPage{Tab: "profile", Name: cur.User.Name, Email: cur.User.Email, MinLength: h.PasswordMinLength,
		EmailVerified: cur.User.EmailVerified, CanVerify: h.Mail.Enabled()}
}

func (h *Handler) show(c *gin.Context, status int, cur *session.Current, p settingsPage) {
	h.Render.Render(c.Writer, c.Request, status, "settings", cur.User, p)
}

func (h *Handler) settings(c *gin.Context) {
	cur := h.member(c)
	if cur == nil {
		return
	}
	p := h.page(cur)
	history, err := h.Store.ListAudit(c.Request.Context(), store.AuditFilter{Kinds: []string{audit.SignInOK}, UserID: cur.User.ID, Limit: 10})
	if err != nil {
		h.serverError(c, "sign-in history", err)
		return
	}
	p.History = history
	if h.Passkeys.On() {
		// With none left, an empty list makes the device forget them all.
		if pks, err := h.Store.PasskeysByUser(c.Request.Context(), cur.User.ID); err == nil {
			p.Signals = passkey.SignalsFor(h.Passkeys.RPID(), cur.User, pks)
		}
	}
	switch c.Query("done") {
	case "profile":
		p.Notice = h.Render.T(c.Request, "settings.notice.profile")
	case "password":
		p.Notice = h.Render.T(c.Request, "settings.notice.password")
	case "recovered":
		p.Notice = h.Render.T(c.Request, "settings.notice.recovered")
	case "verify-sent":
		p.Notice = h.Render.T(c.Request, "settings.notice.verify_sent", cur.User.Email)
	}
	h.show(c, http.StatusOK, cur, p)
}

func (h *Handler) guard(c *gin.Context) *session.Current {
	if !h.CSRF.Check(c.Request) {
		h.Render.Error(c.Writer, c.Request, web.FailCSRF)
		return nil
	}
	return h.member(c)
}

func (h *Handler) profile(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil {
		return
	}
	p := h.page(cur)
	p.Name, p.Email = strings.TrimSpace(c.PostForm("name")), users.NormalizeEmail(c.PostForm("email"))
	if err := errors.Join(users.ValidateName(p.Name), users.ValidateEmail(p.Email)); err != nil {
		p.ProfileError = h.Render.ErrorText(c.Request, err)
		h.show(c, http.StatusBadRequest, cur, p)
		return
	}
	// The email is a sign-in name and where recovery goes: changing it is
	// as sensitive as adding a passkey.
	if p.Email != cur.User.Email && h.stale(c, cur, "/settings") {
		return
	}
	ctx := c.Request.Context()
	old := *cur.User
	u, err := h.Store.UpdateUser(ctx, cur.User.ID, func(u *store.User) error {
		if u.Email != p.Email {
			u.EmailVerified = false
		}
		u.Name, u.Email, u.UpdatedAt = p.Name, p.Email, h.Now()
		return nil
	})
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		p.ProfileError = h.Render.T(c.Request, "settings.error.email_taken")
		h.show(c, http.StatusConflict, cur, p)
		return
	}
	if err != nil {
		h.serverError(c, "update profile", err)
		return
	}
	if u.Email != old.Email {
		// The new address must prove itself; the old one hears of it.
		slog.InfoContext(ctx, "email changed", "user", u.ID)
		h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.EmailChanged, ActorID: u.ID, UserID: u.ID})
		h.Mail.Notify(ctx, &old, old.Email, config.NoticeEmailChanged, c.Request.UserAgent())
		if err := h.Mail.Verify(ctx, h.Store, u, h.VerifyLifetime); err != nil {
			slog.ErrorContext(ctx, "send a verification link", "user", u.ID, "error", err)
		}
		if h.Mail.Enabled() {
			c.Redirect(http.StatusSeeOther, "/settings?done=verify-sent")
			return
		}
	}
	c.Redirect(http.StatusSeeOther, "/settings?done=profile")
}

// password changes the password after checking the current one. Other
// sessions and every refresh token end: whoever knew the old password is
// signed out everywhere.
func (h *Handler) password(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil {
		return
	}
	ctx := c.Request.Context()
	p := h.page(cur)
	current, next := c.PostForm("current_password"), c.PostForm("new_password")
	// The check is a password guess like any other: counted, before the
	// hash runs, under the member's sign-in names and the address, so a
	// stolen session cannot guess faster here than at sign-in.
	keys := append(h.Throttle.Names(cur.User), h.Throttle.Address(clientip.From(c.Request)))
	held, wait, err := h.Throttle.Reserve(ctx, keys...)
	if err != nil {
		h.serverError(c, "check password throttle", err)
		return
	}
	if held == nil {
		c.Header("Retry-After", throttle.RetryAfter(wait))
		p.PasswordError = h.Render.T(c.Request, "login.throttled", h.Render.Wait(c.Request, wait))
		h.show(c, http.StatusTooManyRequests, cur, p)
		return
	}
	ok := false
	if cur.User.PasswordHash != "" && len(current) <= 4*password.MaxLength {
		ok, _, err = password.Verify(cur.User.PasswordHash, current)
		if err != nil {
			slog.ErrorContext(ctx, "verify password", "error", err)
		}
	}
	if ok {
		if err := held.Release(ctx); err != nil {
			slog.ErrorContext(ctx, "release password attempt", "error", err)
		}
	}
	if !ok {
		p.PasswordError = h.Render.T(c.Request, "settings.error.current_password")
		h.show(c, http.StatusBadRequest, cur, p)
		return
	}
	if err := password.CheckPolicy(next, h.PasswordMinLength, cur.User.Username, cur.User.Email, h.Render.Site()); err != nil {
		p.PasswordError = h.Render.ErrorText(c.Request, err)
		h.show(c, http.StatusBadRequest, cur, p)
		return
	}
	hash, err := password.Hash(next)
	if err == nil {
		now := h.Now()
		_, err = h.Store.UpdateUser(ctx, cur.User.ID, func(u *store.User) error {
			u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, now, now
			return nil
		})
	}
	if err == nil {
		err = h.Store.DeleteUserSessions(ctx, cur.User.ID, cur.Session.ID)
	}
	if err == nil {
		err = h.Store.RevokeUserTokens(ctx, cur.User.ID, h.Now())
	}
	if err != nil {
		h.serverError(c, "change password", err)
		return
	}
	slog.InfoContext(ctx, "password changed", "user", cur.User.ID)
	h.Mail.Notify(ctx, cur.User, "", config.NoticePasswordChanged, c.Request.UserAgent())
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.PasswordChanged, ActorID: cur.User.ID, UserID: cur.User.ID})
	c.Redirect(http.StatusSeeOther, "/settings?done=password")
}

// verifyEmail is POST /settings/verify-email: "Verify email" mails a link
// that proves the member's address (a newer link replaces an older one).
func (h *Handler) verifyEmail(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil {
		return
	}
	if !h.Mail.Enabled() || cur.User.EmailVerified {
		c.Redirect(http.StatusSeeOther, "/settings")
		return
	}
	if err := h.Mail.Verify(c.Request.Context(), h.Store, cur.User, h.VerifyLifetime); err != nil {
		h.serverError(c, "send a verification link", err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/settings?done=verify-sent")
}

// signOutEverywhere is POST /settings/signout-everywhere, for a member who
// lost a device or signed in somewhere they should not have: every browser
// session ends, this one too, and every app's refresh token is revoked, so
// each app asks for a sign-in again.
func (h *Handler) signOutEverywhere(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil {
		return
	}
	ctx := c.Request.Context()
	err := h.Store.DeleteUserSessions(ctx, cur.User.ID, "")
	if err == nil {
		err = h.Store.RevokeUserTokens(ctx, cur.User.ID, h.Now())
	}
	if err != nil {
		h.serverError(c, "sign out everywhere", err)
		return
	}
	h.Sessions.ClearCookie(c.Writer)
	slog.InfoContext(ctx, "signed out everywhere", "user", cur.User.ID)
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.SignedOutAll, ActorID: cur.User.ID, UserID: cur.User.ID})
	c.Redirect(http.StatusSeeOther, "/logout/done")
}

// stale sends a member whose sign-in is older than sessions.reauth_after
// to sign in again, then back to page, and returns true; a sensitive
// change waits for that.
func (h *Handler) stale(c *gin.Context, cur *session.Current, page string) bool {
	if cur.Recent(h.Now(), h.ReauthAfter) {
		return false
	}
	c.Redirect(http.StatusSeeOther, "/login?reauth=1&next="+url.QueryEscape(page))
	return true
}

// serverError logs an unexpected failure and shows the page for it.
func (h *Handler) serverError(c *gin.Context, what string, err error) {
	slog.ErrorContext(c.Request.Context(), what, "error", err)
	h.Render.Error(c.Writer, c.Request, web.FailureFor(err))
}
