package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/throttle"
)

// Lifecycle is what the self-service pages (forgot password, sign-up,
// address verification, invitations) need to know.
type Lifecycle struct {
	// Issuer is the provider's public address, for links in mail.
	Issuer string
	// ResetLifetime, InviteLifetime and VerifyLifetime are how long each
	// kind of link works.
	ResetLifetime, InviteLifetime, VerifyLifetime time.Duration
	// Registration is closed, invite or open (config.Registration*).
	Registration string
	// RequireVerifiedEmail keeps members with an unverified address from
	// signing in (they are sent a link instead).
	RequireVerifiedEmail bool
}

// evenTime is how long a page that must not tell whether an account
// exists takes, whatever it found: long enough to cover a lookup, a
// transaction and sealing a mail.
const evenTime = 300 * time.Millisecond

// evenOut sleeps until evenTime has passed since start.
func evenOut(ctx context.Context, start time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(evenTime - time.Since(start)):
	}
}

type forgotPage struct {
	Login string
	// Sent: the answer, the same whether an account exists or not.
	Sent     bool
	Lifetime string
	// NoMail: this site cannot send mail; the page says whom to ask.
	NoMail bool
	Error  string
}

// forgotForm is GET /forgot: "Email or username", "Send link".
func (h *Handler) forgotForm(c *gin.Context) {
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "forgot", nil,
		forgotPage{Login: strings.TrimSpace(c.Query("login")), NoMail: !h.Mail.Enabled()})
}

// forgot is POST /forgot. Whoever asks gets the same page, after the same
// time, whether the name belongs to an account or not; the account's
// owner gets a link by mail. Asking is throttled per address and per name.
func (h *Handler) forgot(c *gin.Context) {
	if !h.checkCSRF(c) {
		return
	}
	ctx, start := c.Request.Context(), time.Now()
	login := strings.TrimSpace(c.PostForm("login"))
	page := forgotPage{Login: login, NoMail: !h.Mail.Enabled(), Lifetime: h.Render.Wait(c.Request, h.Lifecycle.ResetLifetime)}
	if page.NoMail {
		h.Render.Render(c.Writer, c.Request, http.StatusOK, "forgot", nil, page)
		return
	}
	if login == "" || len(login) > 254 {
		page.Error = h.Render.T(c.Request, "login.enter_identifier")
		h.Render.Render(c.Writer, c.Request, http.StatusBadRequest, "forgot", nil, page)
		return
	}
	held, wait, err := h.Throttle.Reserve(ctx, h.Throttle.Forgot(login), h.Throttle.ForgotAddress(clientip.From(c.Request)))
	if err != nil {
		h.serverError(c, "check reset throttle", err)
		return
	}
	if held == nil {
		c.Header("Retry-After", throttle.RetryAfter(wait))
		page.Error = h.Render.T(c.Request, "forgot.throttled", h.Render.Wait(c.Request, wait))
		h.Render.Render(c.Writer, c.Request, http.StatusTooManyRequests, "forgot", nil, page)
		return
	}
	if err := h.sendReset(ctx, login); err != nil {
		slog.ErrorContext(ctx, "send a reset link", "error", err)
	}
	evenOut(ctx, start)
	page.Sent = true
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "forgot", nil, page)
}

// sendReset mails a reset link to the account named login, if there is
// one that can use it. The link replaces any older one.
func (h *Handler) sendReset(ctx context.Context, login string) error {
	u, err := h.Store.UserByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if u.Disabled || u.Email == "" {
		return nil
	}
	pks, err := h.Store.PasskeysByUser(ctx, u.ID)
	if err != nil {
		return err
	}
	lifetime := h.Lifecycle.ResetLifetime
	err = h.Mail.MailLink(ctx, h.Store, u, store.LinkRecovery, "", "", lifetime, func(to, link string) (mail.Message, error) {
		return h.Mail.Letters.Reset(h.Mail.For(u), to, u.Username, link, lifetime, len(pks) > 0)
	})
	if err == nil {
		slog.InfoContext(ctx, "reset link mailed", "user", u.ID)
	}
	return err
}
