package login

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/web"
)

// hasPasskeys reports whether passkeys are on and the account named by
// login has one.
func (h *Handler) hasPasskeys(c *gin.Context, login string) bool {
	return h.passkeyAccount(c, login) != nil
}

// passkeyAccount is the account named by login if passkeys are on and it
// has one, else nil.
func (h *Handler) passkeyAccount(c *gin.Context, login string) *store.User {
	if !h.Passkeys.On() {
		return nil
	}
	u, err := h.Store.UserByLogin(c.Request.Context(), login)
	if err != nil || u.Passkeys == 0 {
		return nil
	}
	return u
}

type passkeyPage struct {
	Flow    flow
	Login   string
	Restart string
	// WebView is set in an app's built-in browser, where the passkey
	// prompt fails: the page says so instead of offering it, with the
	// ways out: OpenURL to open in the browser (IntentURL on Android,
	// which hands it to the browser directly), and the password.
	WebView bool
	OpenURL string
	// IntentURL is built here from an address this provider chose, so
	// the template may trust its intent: scheme.
	IntentURL template.URL
	// Options begin the ceremony with the page (the page script's first
	// /webauthn/login/begin, done here), or nil: the script fetches them.
	Options *passkey.Begin
}

func (h *Handler) passkeyPage(c *gin.Context, f flow, login string, u *store.User) passkeyPage {
	p := passkeyPage{Flow: f, Login: login, Restart: f.restartURL(),
		WebView: device.IsEmbeddedWebView(c.Request.UserAgent())}
	if p.WebView {
		p.OpenURL = h.openElsewhere(c, f)
		if strings.Contains(c.Request.UserAgent(), "Android") {
			p.IntentURL = intentURL(p.OpenURL)
		}
		return p
	}
	// The options come with the page, as Keycloak's do: the button is
	// ready as soon as the page shows, with no request the script must
	// make first (on a slow network, a click before it answered waited
	// for it), and a sign-in is a round trip shorter. The ceremony counts
	// against the address's allowance as the begin endpoint's do; past
	// it the page comes without, and the script's own begin is refused.
	ctx := c.Request.Context()
	if ok, _ := h.Limits.Ceremony.Allow(clientip.From(c.Request)); !ok {
		return p
	}
	b, err := h.Passkeys.BeginLoginFor(ctx, login, u, h.CSRF.Binding(c.Request))
	if err != nil {
		slog.WarnContext(ctx, "begin passkey sign-in with the page; the page script will", "error", err)
		return p
	}
	p.Options = b
	return p
}

// openElsewhere is where a member stuck in an app's built-in browser
// starts again in their browser: the sign-in cannot move (it is bound to
// this browser, and so is the app's own state), so the app's site when it
// is a website, else the provider's sign-in.
func (h *Handler) openElsewhere(c *gin.Context, f flow) string {
	if f.AuthRequestID != "" {
		if ar, err := h.Store.AuthRequestByID(c.Request.Context(), f.AuthRequestID); err == nil {
			if u, err := url.Parse(ar.RedirectURI); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
				return u.Scheme + "://" + u.Host + "/"
			}
		}
	}
	return h.Lifecycle.Issuer + "/login"
}

// intentURL opens u in the member's browser from an Android app's
// WebView (an intent: link), falling back to u itself.
func intentURL(u string) template.URL {
	parsed, err := url.Parse(u)
	if err != nil {
		return template.URL(url.PathEscape(u))
	}
	return template.URL("intent://" + parsed.Host + parsed.EscapedPath() + "#Intent;scheme=" + parsed.Scheme +
		";action=android.intent.action.VIEW;S.browser_fallback_url=" + url.QueryEscape(u) + ";end")
}

// jsonGuard checks a JSON call's CSRF token and origin.
func (h *Handler) jsonGuard(c *gin.Context) bool {
	if !h.Passkeys.On() {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusNotFound, "PK-OFF", "json.PK-OFF")
		return false
	}
	if !h.CSRF.Check(c.Request) {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusForbidden, "CSRF", "json.CSRF")
		return false
	}
	return true
}

type beginRequest struct {
	// Login names the account; empty for a discoverable sign-in.
	Login       string `json:"login"`
	Conditional bool   `json:"conditional"`
}

// passkeyBegin is POST /webauthn/login/begin.
func (h *Handler) passkeyBegin(c *gin.Context) {
	if !h.jsonGuard(c) || h.rateLimited(c, h.Limits.Ceremony, true) {
		return
	}
	var req beginRequest
	if err := web.ReadJSON(c.Request, &req); err != nil || len(req.Login) > 254 {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusBadRequest, passkey.CodeInvalid, "json.unreadable_request")
		return
	}
	ctx, binding := c.Request.Context(), h.CSRF.Binding(c.Request)
	var (
		b   *passkey.Begin
		err error
	)
	if req.Login != "" {
		b, err = h.Passkeys.BeginLogin(ctx, req.Login, binding)
	} else {
		b, err = h.Passkeys.BeginDiscoverable(ctx, binding, req.Conditional)
	}
	if err != nil {
		slog.ErrorContext(ctx, "begin passkey sign-in", "error", err)
		h.Render.JSONFailure(c.Writer, c.Request, err)
		return
	}
	web.JSON(c.Writer, http.StatusOK, b)
}

type finishRequest struct {
	Ceremony      string          `json:"ceremony"`
	Credential    json.RawMessage `json:"credential"`
	AuthRequestID string          `json:"authRequestID"`
	Next          string          `json:"next"`
}

type finishResponse struct {
	Redirect string           `json:"redirect"`
	Signals  *passkey.Signals `json:"signals,omitempty"`
}

// passkeyFinish is POST /webauthn/login/finish: verify, sign in, and
// continue the flow like a password sign-in would.
func (h *Handler) passkeyFinish(c *gin.Context) {
	if !h.jsonGuard(c) {
		return
	}
	ctx := c.Request.Context()
	var req finishRequest
	if err := web.ReadJSON(c.Request, &req); err != nil || req.Ceremony == "" || len(req.Credential) == 0 {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusBadRequest, passkey.CodeInvalid, passkey.Messages[passkey.CodeInvalid])
		return
	}
	f := flow{AuthRequestID: req.AuthRequestID, Next: web.LocalPath(req.Next, "")}
	clientID := ""
	var ar *store.AuthRequest
	if f.AuthRequestID != "" {
		var err error
		if ar, err = h.Store.AuthRequestByID(ctx, f.AuthRequestID); err == nil {
			clientID = ar.ClientID
			c.Request = h.Render.UseLocales(c.Writer, c.Request, ar.UILocales)
		}
	}
	res, err := h.Passkeys.FinishLogin(ctx, req.Ceremony, h.CSRF.Binding(c.Request), req.Credential, c.Request.UserAgent())
	var pe *passkey.Error
	if errors.As(err, &pe) {
		slog.InfoContext(ctx, "sign-in failed", "method", "passkey", "code", pe.Code, "reason", err)
		if pe.Clone != nil {
			h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.PasskeyClone, UserID: pe.UserID, ClientID: clientID,
				Result: audit.ResultFailed, Code: pe.Code, Details: pe.Clone})
		}
		h.Audit.SignIn(ctx, c.Request, pe.UserID, clientID, audit.MethodPasskey, pe.Code)
		h.Audit.PasskeyFailure(ctx, c.Request, "", audit.StageLogin, pe.Code, h.browserTag(c))
		body := web.JSONError{Error: pe.Code, Message: h.Render.T(c.Request, pe.MessageKey())}
		if pe.CredentialID != nil {
			body.CredentialID = base64.RawURLEncoding.EncodeToString(pe.CredentialID)
			body.RPID = h.Passkeys.RPID()
		}
		web.JSON(c.Writer, pe.Status(), body)
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "finish passkey sign-in", "error", err)
		h.Render.JSONFailure(c.Writer, c.Request, err)
		return
	}
	sess, err := h.Sessions.Start(ctx, c.Writer, c.Request, res.User, res.AMR())
	if err != nil {
		slog.ErrorContext(ctx, "start session", "error", err)
		h.Render.JSONFailure(c.Writer, c.Request, err)
		return
	}
	slog.InfoContext(ctx, "sign-in", "method", "passkey", "user", res.User.ID, "passkey", res.Passkey.ID, "uv", res.Verified)
	if res.Clone != nil {
		h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.PasskeyClone, ActorID: res.User.ID, UserID: res.User.ID,
			ClientID: clientID, Result: audit.ResultOK, Details: res.Clone})
	}
	if res.FlagsChanged != nil {
		h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.PasskeyFlags, ActorID: res.User.ID, UserID: res.User.ID,
			ClientID: clientID, Result: audit.ResultOK, Details: res.FlagsChanged})
	}
	h.Audit.SignIn(ctx, c.Request, res.User.ID, clientID, audit.MethodPasskey, "")
	next, fail := h.completeFlow(c, f, ar, res.User, sess, true)
	if fail != nil {
		h.Render.JSONFor(c.Writer, c.Request, *fail)
		return
	}
	web.JSON(c.Writer, http.StatusOK, finishResponse{Redirect: next, Signals: passkey.SignalsFor(h.Passkeys.RPID(), res.User, res.Passkeys)})
}

type failureReport struct {
	Stage string `json:"stage"`
	Code  string `json:"code"`
	// Ceremony is the ceremony that failed: a report counts only for a
	// ceremony this browser began, once.
	Ceremony string `json:"ceremony"`
}

// passkeyFailure is POST /webauthn/failure: the page reports a ceremony
// that failed in the browser (cancelled, timed out, refused), so the
// admins' figures count what members actually run into. Only a ceremony
// this browser began counts, once (the report ends it): anonymous calls
// cannot fill the audit log or fake the rollout alarms.
func (h *Handler) passkeyFailure(c *gin.Context) {
	if !h.jsonGuard(c) || h.rateLimited(c, h.Limits.FailureReport, true) {
		return
	}
	var req failureReport
	if err := web.ReadJSON(c.Request, &req); err != nil || (req.Stage != audit.StageLogin && req.Stage != audit.StageRegister) ||
		!knownBrowserCode(req.Code) || req.Ceremony == "" {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusBadRequest, passkey.CodeInvalid, "json.unreadable_report")
		return
	}
	conditional, err := h.Passkeys.Abandon(c.Request.Context(), req.Ceremony, h.CSRF.Binding(c.Request), req.Stage == audit.StageRegister)
	var pe *passkey.Error
	if errors.As(err, &pe) {
		// Unknown, already reported or finished, or another browser's.
		h.Render.JSONFail(c.Writer, c.Request, http.StatusNotFound, pe.Code, pe.MessageKey())
		return
	}
	if err != nil {
		slog.ErrorContext(c.Request.Context(), "end a failed ceremony", "error", err)
		h.Render.JSONFailure(c.Writer, c.Request, err)
		return
	}
	if conditional {
		// Autofill found nothing, or the page moved on: not a sign-in
		// that failed, and no reason to call the password that follows
		// "after a failed passkey".
		c.Status(http.StatusNoContent)
		return
	}
	userID := ""
	if cur := session.FromContext(c.Request.Context()); cur != nil {
		userID = cur.User.ID
	}
	h.Audit.PasskeyFailure(c.Request.Context(), c.Request, userID, req.Stage, req.Code, h.browserTag(c))
	c.Status(http.StatusNoContent)
}

// knownBrowserCode accepts the codes the page script can report.
func knownBrowserCode(code string) bool {
	switch code {
	case passkey.CodeCancelled, passkey.CodeSecurity, passkey.CodeUnsupported, passkey.CodeExists, "PK-FAILED":
		return true
	}
	return false
}

// --- the suggestion after a password sign-in

// suggestFor decides on the server's side whether the member may see the
// passkey suggestion: the rollout includes them, they have no passkey, and
// this is not an app's built-in browser. The page then asks the browser
// whether it can create a passkey, and continues at once if not.
func (h *Handler) suggestFor(c *gin.Context, u *store.User) bool {
	if !h.Passkeys.Offered(u) || device.IsEmbeddedWebView(c.Request.UserAgent()) {
		return false
	}
	return u.Passkeys == 0
}

type suggestPage struct {
	Continue, Sig string
	// Snoozed members skip the suggestion but may still get a passkey
	// created by their password manager (auto_upgrade).
	Snoozed     bool
	AutoUpgrade bool
}

// continueTarget reads the signed place to continue to.
func (h *Handler) continueTarget(c *gin.Context) (string, bool) {
	get := c.Query
	if c.Request.Method == http.MethodPost {
		get = c.PostForm
	}
	target := get("continue")
	if !h.CSRF.VerifyTarget(target, get("sig")) {
		return "", false
	}
	return target, true
}

// suggestion is GET /login/suggest: "Set up a passkey" or "Not now",
// between a password sign-in and the app.
func (h *Handler) suggestion(c *gin.Context) {
	target, ok := h.continueTarget(c)
	cur := session.FromContext(c.Request.Context())
	if !ok || cur == nil {
		c.Redirect(http.StatusSeeOther, "/settings")
		return
	}
	if !h.suggestFor(c, cur.User) {
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	until, err := h.Store.SuggestionSnoozedUntil(c.Request.Context(), cur.User.ID)
	if err != nil {
		h.serverError(c, "load suggestion snooze", err)
		return
	}
	snoozed := h.Now().Before(until)
	if snoozed && !h.Passkeys.AutoUpgrade() {
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	h.Audit.Record(c.Request.Context(), c.Request, store.AuditEvent{Kind: audit.SuggestionShown, ActorID: cur.User.ID, UserID: cur.User.ID})
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "suggest", cur.User, suggestPage{
		Continue: target, Sig: c.Query("sig"), Snoozed: snoozed, AutoUpgrade: h.Passkeys.AutoUpgrade(),
	})
}

// snooze is POST /login/suggest ("Not now"): remember the answer and
// continue at once.
func (h *Handler) snooze(c *gin.Context) {
	if !h.checkCSRF(c) {
		return
	}
	target, ok := h.continueTarget(c)
	cur := session.FromContext(c.Request.Context())
	if !ok || cur == nil {
		c.Redirect(http.StatusSeeOther, "/settings")
		return
	}
	h.Audit.Record(c.Request.Context(), c.Request, store.AuditEvent{Kind: audit.SuggestionSnoozed, ActorID: cur.User.ID, UserID: cur.User.ID})
	until := h.Now().Add(h.Passkeys.SuggestionSnooze())
	if err := h.Store.SnoozeSuggestion(c.Request.Context(), cur.User.ID, until); err != nil {
		// Never block the sign-in on this.
		slog.ErrorContext(c.Request.Context(), "snooze suggestion", "error", err)
	}
	c.Redirect(http.StatusSeeOther, target)
}
