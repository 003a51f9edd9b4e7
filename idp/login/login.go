// Package login serves the sign-in pages: "Email or username" then
// "Password", the first-admin setup page, and sign-out. A finished sign-in
// starts a browser session, marks the authorization request done and sends
// the browser to the protocol callback; the callback URL and the error
// redirect are injected, so this package never imports the OIDC glue.
package login

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/ratelimit"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/throttle"
	"github.com/communityidp/idp/idp/web"
)

// Handler serves the sign-in pages.
// Store is what the sign-in pages read and write.
type Store interface {
	store.UserStore
	store.SetupStore
	store.AuthRequestStore
	store.TokenStore
	store.SessionStore
	store.PasskeyStore
	store.SuggestionStore
	store.RecoveryStore
}

type Handler struct {
	Store    Store
	Sessions *session.Manager
	CSRF     *session.CSRF
	Render   *web.Renderer
	// Passkeys is nil when passkeys are off.
	Passkeys *passkey.Service
	Audit    *audit.Recorder
	// ClientNames maps client IDs to the names shown on the sign-in page.
	ClientNames map[string]string
	// CallbackURL is where a finished sign-in continues.
	CallbackURL func(authRequestID string) string
	// Answer is the client's answer to a sign-in being finished, for a
	// browser that goes straight on to it (false: through CallbackURL). It
	// adds the answer's code to the completion, which stores it.
	Answer func(ctx context.Context, ar *store.AuthRequest, c *store.Completion) (string, bool)
	// RedirectError ends an authorization request with an error for the client.
	RedirectError     func(w http.ResponseWriter, r *http.Request, authRequestID, kind, description string)
	PasswordMinLength int
	// Throttle slows down password guessing and recovery-link scanning.
	Throttle *throttle.Throttle
	// Limits cap per address what costs the provider a page or a row.
	Limits Limits
	// Mail writes to members (nil: mail is off).
	Mail *mail.Service
	// Lifecycle configures the self-service pages.
	Lifecycle Lifecycle
	Now       func() time.Time
}

// Limits are the per-address rate limits of the sign-in pages (nil: none).
type Limits struct {
	// Identifier is the "Email or username" step.
	Identifier *ratelimit.Limiter
	// Ceremony is passkey ceremonies begun (sign-in and registration).
	Ceremony *ratelimit.Limiter
	// FailureReport is failed passkey prompts the pages report.
	FailureReport *ratelimit.Limiter
}

// rateLimited answers, and returns true, when address limit l has no
// allowance left for this request: a page, or JSON for the passkey calls.
func (h *Handler) rateLimited(c *gin.Context, l *ratelimit.Limiter, asJSON bool) bool {
	return !h.Render.Limited(c.Writer, c.Request, l, asJSON, flowFrom(c).restartURL())
}

// Register mounts the pages.
func (h *Handler) Register(r gin.IRouter) {
	r.GET("/login", h.start)
	r.POST("/login", h.identifier)
	r.POST("/login/password", h.password)
	r.POST("/login/cancel", h.cancel)
	r.GET("/setup", h.setupForm)
	r.POST("/setup", h.setup)
	r.GET("/logout", h.logoutConfirm)
	r.POST("/logout", h.logout)
	r.GET("/logout/done", h.loggedOut)
	r.POST("/webauthn/login/begin", h.passkeyBegin)
	r.POST("/webauthn/login/finish", h.passkeyFinish)
	r.POST("/webauthn/failure", h.passkeyFailure)
	r.GET("/signup", h.signupForm)
	r.POST("/signup", h.signup)
	r.GET("/verify", h.verify)
	r.GET("/forgot", h.forgotForm)
	r.POST("/forgot", h.forgot)
	r.GET("/recover", h.recoverForm)
	r.POST("/recover", h.recoverAccount)
	r.GET("/help/errors", h.helpErrors)
	r.GET("/help/passkeys-check", h.helpPasskeysCheck)
	r.GET("/login/suggest", h.suggestion)
	r.POST("/login/suggest", h.snooze)
}

// flow is an unfinished sign-in carried from page to page: for a client
// (an authorization request) or for the provider's own pages (next).
type flow struct {
	AuthRequestID string
	Next          string
	// Reauth asks a signed-in member to sign in again (for a sensitive
	// change) instead of passing straight through.
	Reauth bool
}

func flowFrom(c *gin.Context) flow {
	get := c.Query
	if c.Request.Method == http.MethodPost {
		get = c.PostForm
	}
	return flow{AuthRequestID: get("authRequestID"), Next: web.LocalPath(get("next"), ""), Reauth: get("reauth") == "1"}
}

// restartURL is the first sign-in page of the same flow.
func (f flow) restartURL() string {
	q := url.Values{}
	if f.AuthRequestID != "" {
		q.Set("authRequestID", f.AuthRequestID)
	}
	if f.Next != "" {
		q.Set("next", f.Next)
	}
	if f.Reauth {
		q.Set("reauth", "1")
	}
	if len(q) == 0 {
		return "/login"
	}
	return "/login?" + q.Encode()
}

var (
	failExpired  = web.Coded(http.StatusBadRequest, "LOGIN-EXPIRED")
	failDisabled = web.Failure{Status: http.StatusForbidden, Code: "ACCOUNT-DISABLED", Title: "error.ACCOUNT-DISABLED.title",
		Message: "passkey.error.ACCOUNT-DISABLED", Hint: "error.ACCOUNT-DISABLED.hint"}
	failBrowser      = web.Coded(http.StatusBadRequest, "LOGIN-BROWSER")
	failOtherAccount = web.Coded(http.StatusForbidden, "LOGIN-OTHER-ACCOUNT")
)

// browserTag identifies this browser in the audit log without exposing
// its cookie: the first bytes of the cookie's hash.
func (h *Handler) browserTag(c *gin.Context) string {
	b := h.CSRF.Binding(c.Request)
	if b == nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// sameBrowser reports whether the request comes from the browser that
// started the authorization request (requests made before binding existed
// carry none).
func (h *Handler) sameBrowser(c *gin.Context, ar *store.AuthRequest) bool {
	if len(ar.BrowserBinding) == 0 {
		return true
	}
	sum := sha256.Sum256(h.CSRF.Binding(c.Request))
	return subtle.ConstantTimeCompare(sum[:], ar.BrowserBinding) == 1
}

// authRequest loads the flow's authorization request if it can still be
// signed in to. It renders the error page and returns nil otherwise.
func (h *Handler) authRequest(c *gin.Context, f flow) *store.AuthRequest {
	ar, err := h.Store.AuthRequestByID(c.Request.Context(), f.AuthRequestID)
	if err == nil {
		// The pages of a sign-in speak the language the app asked for.
		c.Request = h.Render.UseLocales(c.Writer, c.Request, ar.UILocales)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		h.serverError(c, "load auth request", err)
		return nil
	case ar.Done || !h.Now().Before(ar.ExpiresAt):
	case !h.sameBrowser(c, ar):
		h.Render.Error(c.Writer, c.Request, failBrowser)
		return nil
	default:
		return ar
	}
	h.Render.Error(c.Writer, c.Request, failExpired)
	return nil
}

type identifierPage struct {
	Flow   flow
	Client string
	Login  string
	Error  string
	// Autofill offers passkeys in the field's autofill (conditional UI).
	Autofill bool
	// Signup links "Create account" (registration: open).
	Signup bool
}

func (h *Handler) identifierPage(c *gin.Context, f flow, login, errMsg string) identifierPage {
	return identifierPage{Flow: f, Login: login, Error: errMsg, Signup: h.signupOpen(),
		Autofill: h.Passkeys.On() && !device.IsEmbeddedWebView(c.Request.UserAgent())}
}

// start is GET /login: answer at once from the browser session when the
// request allows it (SSO, prompt=none), else ask for the identifier.
func (h *Handler) start(c *gin.Context) {
	f := flowFrom(c)
	if f.AuthRequestID == "" {
		cur := session.FromContext(c.Request.Context())
		if cur != nil && !f.Reauth {
			c.Redirect(http.StatusSeeOther, web.LocalPath(f.Next, "/settings"))
			return
		}
		page := h.identifierPage(c, f, "", "")
		if cur != nil {
			page.Login = cur.User.Username
		}
		h.Render.Render(c.Writer, c.Request, http.StatusOK, "login_identifier", nil, page)
		return
	}
	if ar := h.authRequest(c, f); ar != nil {
		h.startFor(c, f, ar)
	}
}

// Start answers an authorization request the endpoint has just stored
// (oidcop.Provider.Begin), in the same response: as GET
// /login?authRequestID= would, without reading the request back.
func (h *Handler) Start(c *gin.Context, ar *store.AuthRequest) {
	c.Request = h.Render.UseLocales(c.Writer, c.Request, ar.UILocales)
	h.startFor(c, flow{AuthRequestID: ar.ID}, ar)
}

// startFor continues the sign-in for ar: at once for a member already
// signed in as it asks, else with the first page.
func (h *Handler) startFor(c *gin.Context, f flow, ar *store.AuthRequest) {
	cur := session.FromContext(c.Request.Context())
	promptLogin := slices.Contains(ar.Prompt, "login")
	if cur.Satisfies(h.Now(), ar.MaxAge, ar.HintSubject, promptLogin) {
		h.continueFlow(c, f, ar, cur.User, cur.Session)
		return
	}
	if slices.Contains(ar.Prompt, "none") {
		h.RedirectError(c.Writer, c.Request, ar.ID, "login_required", "the member is not signed in")
		return
	}
	login := ar.LoginHint
	if login == "" && cur != nil {
		login = cur.User.Username
	}
	page := h.identifierPage(c, f, login, "")
	page.Client = h.ClientNames[ar.ClientID]
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "login_identifier", nil, page)
}

type passwordPage struct {
	Flow    flow
	Login   string
	Restart string
	Error   string
	// Code is the error code for support, shown with Error.
	Code string
	// Passkey offers "Use a passkey instead": the name gets the passkey
	// step (an account with a passkey, or a stand-in that looks like one).
	Passkey bool
}

// identifier is POST /login: the member said who they are.
func (h *Handler) identifier(c *gin.Context) {
	if !h.checkCSRF(c) || h.rateLimited(c, h.Limits.Identifier, false) {
		return
	}
	f := flowFrom(c)
	if f.AuthRequestID != "" && h.authRequest(c, f) == nil {
		return
	}
	login := strings.TrimSpace(c.PostForm("login"))
	if login == "" || len(login) > 254 {
		h.Render.Render(c.Writer, c.Request, http.StatusBadRequest, "login_identifier", nil,
			h.identifierPage(c, f, login, h.Render.T(c.Request, "login.enter_identifier")))
		return
	}
	// Accounts with a passkey are offered it first ("Use Password" stays
	// on the page). Unknown accounts get the password step, exactly like
	// accounts without passkeys.
	u := h.passkeyAccount(c, login)
	if u != nil && c.PostForm("method") != "password" {
		h.Render.Render(c.Writer, c.Request, http.StatusOK, "login_passkey", nil, h.passkeyPage(c, f, login, u))
		return
	}
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "login_password", nil,
		passwordPage{Flow: f, Login: login, Restart: f.restartURL(), Passkey: u != nil})
}

// errWrongCredentials is the one message (key) for an unknown account and
// a wrong password, so the page does not reveal which accounts exist.
const errWrongCredentials = "login.wrong"

// password is POST /login/password.
func (h *Handler) password(c *gin.Context) {
	if !h.checkCSRF(c) {
		return
	}
	ctx := c.Request.Context()
	f := flowFrom(c)
	clientID := ""
	if f.AuthRequestID != "" {
		ar := h.authRequest(c, f)
		if ar == nil {
			return
		}
		clientID = ar.ClientID
	}
	login := strings.TrimSpace(c.PostForm("login"))
	pw := c.PostForm("password")
	page := passwordPage{Flow: f, Login: login, Restart: f.restartURL()}
	if login != "" && len(login) <= 254 {
		page.Passkey = h.hasPasskeys(c, login)
	}
	if login == "" || pw == "" || len(pw) > 4*password.MaxLength {
		password.VerifyDummy(pw)
		h.Audit.SignIn(ctx, c.Request, "", clientID, audit.MethodPassword, "LOGIN-WRONG")
		page.Error, page.Code = h.Render.T(c.Request, errWrongCredentials), "LOGIN-WRONG"
		h.Render.Render(c.Writer, c.Request, http.StatusUnauthorized, "login_password", nil, page)
		return
	}
	u, rehash := h.verifyPassword(c, clientID, login, pw, page)
	if u == nil {
		return // the page said why
	}
	if u.Disabled {
		h.Audit.SignIn(ctx, c.Request, u.ID, clientID, audit.MethodPassword, failDisabled.Code)
		h.Render.Error(c.Writer, c.Request, failDisabled)
		return
	}
	if h.Lifecycle.RequireVerifiedEmail && !u.EmailVerified {
		// Not until the address is verified: a fresh link goes to it.
		if err := h.Mail.Verify(ctx, h.Store, u, h.Lifecycle.VerifyLifetime); err != nil {
			slog.ErrorContext(ctx, "send a verification link", "user", u.ID, "error", err)
		}
		h.Audit.SignIn(ctx, c.Request, u.ID, clientID, audit.MethodPassword, "EMAIL-UNVERIFIED")
		page.Error, page.Code = h.Render.T(c.Request, "login.unverified"), "EMAIL-UNVERIFIED"
		h.Render.Render(c.Writer, c.Request, http.StatusForbidden, "login_password", nil, page)
		return
	}
	if rehash {
		h.rehash(ctx, u.ID, pw)
	}
	h.passwordSignedIn(c, f, u, clientID)
}

// rehash upgrades a password hash made with weaker parameters.
func (h *Handler) rehash(ctx context.Context, userID, pw string) {
	hash, err := password.Hash(pw)
	if err == nil {
		_, err = h.Store.UpdateUser(ctx, userID, func(u *store.User) error { u.PasswordHash = hash; return nil })
	}
	if err != nil {
		slog.WarnContext(ctx, "rehash password", "error", err)
	}
}

// continueFlow completes the flow for a member signed in (by a session
// they already had) and sends the browser on.
func (h *Handler) continueFlow(c *gin.Context, f flow, ar *store.AuthRequest, u *store.User, s *store.Session) {
	next, fail := h.completeFlow(c, f, ar, u, s, true)
	if fail != nil {
		h.Render.Error(c.Writer, c.Request, *fail)
		return
	}
	c.Redirect(http.StatusSeeOther, next)
}

// completeFlow marks the flow's authorization request done for a signed-in
// member and returns where the browser continues: the client's answer when
// straight is set (nothing is shown in between), else the protocol
// callback; or the provider page it came from. ar is the request when the
// handler already read it (what is checked here never changes), else nil.
func (h *Handler) completeFlow(c *gin.Context, f flow, ar *store.AuthRequest, u *store.User, s *store.Session, straight bool) (string, *web.Failure) {
	h.rememberLanguage(c, u)
	if f.AuthRequestID == "" {
		return web.LocalPath(f.Next, "/settings"), nil
	}
	var err error
	if ar == nil || ar.ID != f.AuthRequestID {
		ar, err = h.Store.AuthRequestByID(c.Request.Context(), f.AuthRequestID)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", &failExpired
	case err != nil:
		slog.ErrorContext(c.Request.Context(), "load auth request", "error", err)
		f := web.FailureFor(err)
		return "", &f
	case !h.sameBrowser(c, ar):
		return "", &failBrowser
	case ar.HintSubject != "" && ar.HintSubject != u.ID:
		// The client named the account it expects (id_token_hint).
		return "", &failOtherAccount
	}
	done := store.Completion{Subject: u.ID, AuthTime: s.AuthTime, AMR: s.AMR, SessionID: s.ID}
	var answer string
	if straight && h.Answer != nil {
		// The code goes into the same write as the completion.
		answer, _ = h.Answer(c.Request.Context(), ar, &done)
	}
	err = h.Store.CompleteAuthRequest(c.Request.Context(), f.AuthRequestID, done, h.Now())
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		return "", &failExpired
	case err != nil:
		slog.ErrorContext(c.Request.Context(), "complete auth request", "error", err)
		f := web.FailureFor(err)
		return "", &f
	}
	if answer != "" {
		return answer, nil
	}
	return h.CallbackURL(f.AuthRequestID), nil
}

// rememberLanguage keeps the language the member signs in with, when
// their browser says one, for the mail written to them. Only a change is
// written.
func (h *Handler) rememberLanguage(c *gin.Context, u *store.User) {
	if c.Request.Header.Get("Accept-Language") == "" {
		if _, err := c.Request.Cookie(web.LangCookie); err != nil {
			return
		}
	}
	tag := h.Render.Printer(c.Request).Tag().String()
	if tag == u.Locale {
		return
	}
	_, err := h.Store.UpdateUser(c.Request.Context(), u.ID, func(x *store.User) error { x.Locale = tag; return nil })
	if err != nil {
		slog.WarnContext(c.Request.Context(), "remember the member's language", "user", u.ID, "error", err)
		return
	}
	u.Locale = tag
}

// cancel is POST /login/cancel: the member does not want to sign in; the
// client gets access_denied.
func (h *Handler) cancel(c *gin.Context) {
	if !h.checkCSRF(c) {
		return
	}
	f := flowFrom(c)
	if h.authRequest(c, f) == nil {
		return
	}
	h.RedirectError(c.Writer, c.Request, f.AuthRequestID, "access_denied", "the member cancelled the sign-in")
}

func (h *Handler) checkCSRF(c *gin.Context) bool {
	if h.CSRF.Check(c.Request) {
		return true
	}
	f := web.FailCSRF
	f.Back = flowFrom(c).restartURL()
	h.Render.Error(c.Writer, c.Request, f)
	return false
}

func (h *Handler) serverError(c *gin.Context, what string, err error) {
	slog.ErrorContext(c.Request.Context(), what, "error", err)
	h.Render.Error(c.Writer, c.Request, web.FailureFor(err))
}

// --- first admin

type setupPage struct {
	Token, Username, Email, Name, Error string
	// Invalid names the field the error is about, so the page marks it
	// (aria-invalid, described by the error).
	Invalid   string
	MinLength int
}

// verifyPassword checks a password sign-in: the throttle first (guesses
// are counted per sign-in name, an unknown name exactly like an
// account's, and per address, and reserved before the hash runs, so
// guesses sent at once cannot all pass), then the hash, at the same cost
// for an unknown account. It returns the member and whether their hash
// wants upgrading, or nil when it answered the page itself (wrong,
// throttled, or a server error).
func (h *Handler) verifyPassword(c *gin.Context, clientID, login, pw string, page passwordPage) (*store.User, bool) {
	ctx := c.Request.Context()
	u, err := h.Store.UserByLogin(ctx, login)
	known := err == nil && u.PasswordHash != ""
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.serverError(c, "load user", err)
		return nil, false
	}
	name, addr := h.Throttle.Login(login), h.Throttle.Address(clientip.From(c.Request))
	userID := ""
	if known {
		userID = u.ID
	}
	held, wait, err := h.Throttle.Reserve(ctx, name, addr)
	if err != nil {
		h.serverError(c, "check sign-in throttle", err)
		return nil, false
	}
	if held == nil {
		h.Audit.SignIn(ctx, c.Request, userID, clientID, audit.MethodPassword, "LOGIN-THROTTLED")
		slog.WarnContext(ctx, "sign-in throttled", "user", userID, "wait", wait.Round(time.Second))
		page.Code = "LOGIN-THROTTLED"
		page.Error = h.Render.T(c.Request, "login.throttled", h.Render.Wait(c.Request, wait))
		if h.Passkeys.On() {
			page.Error += " " + h.Render.T(c.Request, "login.throttled_passkey")
		}
		c.Header("Retry-After", throttle.RetryAfter(wait))
		h.Render.Render(c.Writer, c.Request, http.StatusTooManyRequests, "login_password", nil, page)
		return nil, false
	}
	ok, rehash := false, false
	if known {
		if ok, rehash, err = password.Verify(u.PasswordHash, pw); err != nil {
			h.serverError(c, "verify password", err)
			return nil, false
		}
	} else {
		// Same cost as a real check: unknown accounts must not answer faster.
		password.VerifyDummy(pw)
	}
	if !ok {
		// The reservation stays: it is the failure.
		if known {
			slog.InfoContext(ctx, "sign-in failed", "method", "pwd", "user", u.ID)
		}
		h.Audit.SignIn(ctx, c.Request, userID, clientID, audit.MethodPassword, "LOGIN-WRONG")
		page.Error, page.Code = h.Render.T(c.Request, errWrongCredentials), "LOGIN-WRONG"
		h.Render.Render(c.Writer, c.Request, http.StatusUnauthorized, "login_password", nil, page)
		return nil, false
	}
	if err := errors.Join(h.Throttle.Clear(ctx, name), held.Release(ctx)); err != nil {
		slog.ErrorContext(ctx, "clear failed sign-ins", "error", err)
	}
	return u, rehash
}

// passwordSignedIn starts the session of a member who signed in with
// their password, records it (as "password after a failed passkey" when
// this browser's passkey just failed) and sends the browser on: to the
// passkey suggestion first, when it applies.
func (h *Handler) passwordSignedIn(c *gin.Context, f flow, u *store.User, clientID string) {
	ctx := c.Request.Context()
	sess, err := h.Sessions.Start(ctx, c.Writer, c.Request, u, []string{"pwd"})
	if err != nil {
		h.serverError(c, "start session", err)
		return
	}
	method := audit.MethodPassword
	if h.Audit.FailedPasskeyBefore(ctx, h.browserTag(c)) {
		method = audit.MethodPasswordAfterFail
	}
	h.Audit.SignIn(ctx, c.Request, u.ID, clientID, method, "")
	slog.InfoContext(ctx, "sign-in", "method", method, "user", u.ID)
	// No suggestion on a re-authentication: the member is on the way to a
	// settings page already.
	suggest := !f.Reauth && h.suggestFor(c, u)
	next, failure := h.completeFlow(c, f, nil, u, sess, !suggest)
	if failure != nil {
		h.Render.Error(c.Writer, c.Request, *failure)
		return
	}
	if suggest {
		next = "/login/suggest?" + url.Values{"continue": {next}, "sig": {h.CSRF.SignTarget(next)}}.Encode()
	}
	// 303: the browser follows with GET, never re-posting the password.
	c.Redirect(http.StatusSeeOther, next)
}
