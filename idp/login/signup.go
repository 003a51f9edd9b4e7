package login

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/throttle"
	"github.com/communityidp/idp/idp/users"
	"github.com/communityidp/idp/idp/web"
)

type signupPage struct {
	Flow                   flow
	Username, Email, Error string
	Invalid                string
	MinLength              int
	// Sent: the answer for a new address and a taken one alike.
	Sent bool
	// SignInNow: a new account may sign in before it verifies its
	// address; SignIn is where, in the same flow.
	SignInNow bool
	SignIn    string
}

// signupOpen reports whether anyone may create an account.
func (h *Handler) signupOpen() bool { return h.Lifecycle.Registration == config.RegistrationOpen }

// signupForm is GET /signup: "Username", "Email", "Password", "Create
// account" (registration: open only).
func (h *Handler) signupForm(c *gin.Context) {
	if !h.signupOpen() {
		h.Render.Error(c.Writer, c.Request, web.FailNotFound)
		return
	}
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "signup", nil, signupPage{Flow: flowFrom(c), MinLength: h.PasswordMinLength})
}

// signup is POST /signup. A taken username is said (usernames are public);
// a taken email is not: its owner is told by mail, and the page answers
// as for a new address, after the same time, when the new account must
// verify its address before it signs in. Throttled per address.
func (h *Handler) signup(c *gin.Context) {
	if !h.checkCSRF(c) {
		return
	}
	if !h.signupOpen() {
		h.Render.Error(c.Writer, c.Request, web.FailNotFound)
		return
	}
	ctx, start := c.Request.Context(), time.Now()
	f := flowFrom(c)
	page := signupPage{Flow: f, Username: c.PostForm("username"), Email: c.PostForm("email"), MinLength: h.PasswordMinLength}
	again := func(status int, field, msg string) {
		page.Invalid, page.Error = field, msg
		h.Render.Render(c.Writer, c.Request, status, "signup", nil, page)
	}
	held, wait, err := h.Throttle.Reserve(ctx, h.Throttle.Signup(clientip.From(c.Request)))
	if err != nil {
		h.serverError(c, "check sign-up throttle", err)
		return
	}
	if held == nil {
		c.Header("Retry-After", throttle.RetryAfter(wait))
		again(http.StatusTooManyRequests, "", h.Render.T(c.Request, "forgot.throttled", h.Render.Wait(c.Request, wait)))
		return
	}
	pw := c.PostForm("password")
	if err := password.CheckPolicy(pw, h.PasswordMinLength, page.Username, page.Email, h.Render.Site()); err != nil {
		again(http.StatusBadRequest, "password", h.Render.ErrorText(c.Request, err))
		return
	}
	u, err := users.New(users.Input{Username: page.Username, Email: page.Email}, h.Now())
	var fe *users.FieldError
	if errors.As(err, &fe) {
		again(http.StatusBadRequest, fe.Field, h.Render.T(c.Request, "setup.error", h.fieldLabel(c, fe.Field), h.Render.ErrorText(c.Request, fe)))
		return
	}
	if err != nil {
		h.serverError(c, "new user", err)
		return
	}
	if _, err := h.Store.UserByLogin(ctx, u.Username); err == nil {
		again(http.StatusConflict, "username", h.Render.T(c.Request, "signup.username_taken"))
		return
	}
	if owner, err := h.Store.UserByLogin(ctx, u.Email); err == nil {
		// Taken: tell its owner, answer as for a new address.
		m, err := h.Mail.Letters.SignupExists(h.Mail.For(owner), owner.Email, owner.Username, h.Lifecycle.Issuer+"/login",
			h.Lifecycle.Issuer+"/forgot")
		if err := h.Mail.Queue(ctx, "signup_exists", m, err); err != nil {
			slog.ErrorContext(ctx, "tell an address's owner of a sign-up", "error", err)
		}
		h.signupSent(c, start, page)
		return
	}
	if u.PasswordHash, err = password.Hash(pw); err != nil {
		h.serverError(c, "hash password", err)
		return
	}
	u.Locale = h.Render.Printer(c.Request).Tag().String()
	if err := h.Store.CreateUser(ctx, u); err != nil {
		var ce *store.ConflictError
		if errors.As(err, &ce) && ce.Field == "username" {
			again(http.StatusConflict, "username", h.Render.T(c.Request, "signup.username_taken"))
			return
		}
		if errors.As(err, &ce) {
			h.signupSent(c, start, page) // the address was taken meanwhile
			return
		}
		h.serverError(c, "create user", err)
		return
	}
	slog.InfoContext(ctx, "member signed up", "user", u.ID)
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.SignedUp, ActorID: u.ID, UserID: u.ID,
		Details: map[string]string{"via": "sign-up"}})
	if err := h.Mail.Verify(ctx, h.Store, u, h.Lifecycle.VerifyLifetime); err != nil {
		slog.ErrorContext(ctx, "send a verification link", "user", u.ID, "error", err)
	}
	// The answer is the one a taken address gets: the member signs in
	// next, at once or once verified (registration.require_verified_email).
	h.signupSent(c, start, page)
}

// signupSent answers a sign-up with "If that email is new, we sent a
// link", after evenTime.
func (h *Handler) signupSent(c *gin.Context, start time.Time, page signupPage) {
	evenOut(c.Request.Context(), start)
	page.Sent, page.Error, page.Invalid = true, "", ""
	page.SignInNow, page.SignIn = !h.Lifecycle.RequireVerifiedEmail, page.Flow.restartURL()
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "signup", nil, page)
}

type verifiedPage struct {
	Email    string
	SignedIn bool
}

// verify is GET /verify?token=...: the link in a verification mail, from
// any browser (the member may read mail on a phone). The address is the
// member's if it is still the account's.
func (h *Handler) verify(c *gin.Context) {
	ctx := c.Request.Context()
	token := c.Query("token")
	link, err := h.recoveryLinkOf(c, token, store.LinkVerify)
	if link == nil {
		if err != nil {
			h.serverError(c, "load verification link", err)
		}
		return
	}
	if !h.consumeLink(c, token, "use verification link") {
		return
	}
	verified := false
	u, err := h.Store.UpdateUser(ctx, link.UserID, func(u *store.User) error {
		if !strings.EqualFold(u.Email, link.Email) {
			return nil // the address changed since: this link proves nothing now
		}
		verified = !u.EmailVerified
		u.EmailVerified = true
		return nil
	})
	if err != nil {
		h.serverError(c, "verify email", err)
		return
	}
	if !strings.EqualFold(u.Email, link.Email) {
		h.Render.Error(c.Writer, c.Request, failRecoveryLink)
		return
	}
	if verified {
		h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.EmailVerified, ActorID: u.ID, UserID: u.ID})
	}
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "verified", nil, verifiedPage{Email: u.Email})
}
