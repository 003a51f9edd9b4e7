package account

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/web"
)

type passkeyView struct {
	store.Passkey
	Provider string
}

type passkeysPage struct {
	Tab, Notice, Error string
	// Coaching is a note when the passkeys would not survive losing one
	// device or password manager.
	Coaching string
	Offered  bool
	Passkeys []passkeyView
	Signals  *passkey.Signals
}

// passkeys is GET /settings/passkeys: Settings > Passkeys.
func (h *Handler) passkeys(c *gin.Context) {
	cur := h.member(c)
	if cur == nil {
		return
	}
	if !h.Passkeys.On() {
		h.Render.Error(c.Writer, c.Request, web.FailNotFound)
		return
	}
	ctx := c.Request.Context()
	pks, err := h.Store.PasskeysByUser(ctx, cur.User.ID)
	if err != nil {
		h.serverError(c, "list passkeys", err)
		return
	}
	p := passkeysPage{Tab: "passkeys", Offered: h.Passkeys.Offered(cur.User)}
	var providers []string
	for _, pk := range pks {
		v := passkeyView{Passkey: pk, Provider: h.Render.PasskeyProvider(c.Request, pk)}
		p.Passkeys = append(p.Passkeys, v)
		providers = append(providers, v.Provider)
	}
	p.Coaching = h.coaching(c, pks, providers)
	switch c.Query("done") {
	case "added":
		p.Notice = h.Render.T(c.Request, "passkeys.notice.added")
	case "renamed":
		p.Notice = h.Render.T(c.Request, "passkeys.notice.renamed")
	case "recovered":
		p.Notice = h.Render.T(c.Request, "passkeys.notice.recovered")
	case "deleted":
		p.Notice = h.Render.T(c.Request, "passkeys.notice.deleted")
	}
	// After a change, and on every visit, tell the password manager which
	// passkeys still exist here (the WebAuthn Signal API).
	p.Signals = passkey.SignalsFor(h.Passkeys.RPID(), cur.User, pks)
	// And right after a delete, that the deleted one is gone. Only a
	// deletion this member just made in this browser counts (the redirect
	// carries a signed, short-lived value): a crafted link must not make
	// the password manager drop a passkey that still works.
	if gone := c.Query("unknown"); gone != "" && h.deletedJustNow(c, cur.User.ID, gone, c.Query("usig")) &&
		!slices.Contains(p.Signals.Accepted, gone) {
		p.Signals.Unknown = gone
	}
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "passkeys", cur.User, p)
}

// jsonMember checks a JSON call: passkeys on, CSRF, signed in.
func (h *Handler) jsonMember(c *gin.Context) *session.Current {
	if !h.Passkeys.On() {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusNotFound, "PK-OFF", "json.PK-OFF")
		return nil
	}
	if !h.CSRF.Check(c.Request) {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusForbidden, "CSRF", "json.CSRF")
		return nil
	}
	cur := session.FromContext(c.Request.Context())
	if cur == nil {
		web.JSON(c.Writer, http.StatusUnauthorized, web.JSONError{Error: "SIGNED-OUT", Message: h.Render.T(c.Request, "json.SIGNED-OUT"),
			Reauth: "/login?next=%2Fsettings%2Fpasskeys"})
		return nil
	}
	return cur
}

type registerBeginRequest struct {
	Conditional bool `json:"conditional"`
}

// registerBegin is POST /webauthn/register/begin. Adding a passkey is a
// sensitive change: it needs a recent sign-in, and the rollout must offer
// it to this member.
func (h *Handler) registerBegin(c *gin.Context) {
	cur := h.jsonMember(c)
	if cur == nil {
		return
	}
	if !h.Render.Limited(c.Writer, c.Request, h.CeremonyLimit, true, "") {
		return
	}
	var req registerBeginRequest
	if err := web.ReadJSON(c.Request, &req); err != nil {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusBadRequest, passkey.CodeInvalid, passkey.Messages[passkey.CodeInvalid])
		return
	}
	if !h.Passkeys.Offered(cur.User) {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusForbidden, "PK-ROLLOUT", "passkeys.not_offered")
		return
	}
	if !cur.Recent(h.Now(), h.ReauthAfter) {
		web.JSON(c.Writer, http.StatusUnauthorized, web.JSONError{Error: passkey.CodeReauth, Message: h.Render.T(c.Request, passkey.Messages[passkey.CodeReauth]),
			Reauth: "/login?reauth=1&next=%2Fsettings%2Fpasskeys"})
		return
	}
	b, err := h.Passkeys.BeginRegistration(c.Request.Context(), cur.User, h.CSRF.Binding(c.Request), req.Conditional)
	if err != nil {
		slog.ErrorContext(c.Request.Context(), "begin passkey registration", "error", err)
		h.Render.JSONFailure(c.Writer, c.Request, err)
		return
	}
	web.JSON(c.Writer, http.StatusOK, b)
}

type registerFinishRequest struct {
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
	// Source is the page that added it: settings, suggestion or auto-upgrade.
	Source string `json:"source"`
}

type registerFinishResponse struct {
	ID      string           `json:"id"`
	Name    string           `json:"name"`
	Rename  string           `json:"rename"`
	Signals *passkey.Signals `json:"signals"`
}

// registerFinish is POST /webauthn/register/finish.
func (h *Handler) registerFinish(c *gin.Context) {
	cur := h.jsonMember(c)
	if cur == nil {
		return
	}
	ctx := c.Request.Context()
	var req registerFinishRequest
	if err := web.ReadJSON(c.Request, &req); err != nil || req.Ceremony == "" || len(req.Credential) == 0 {
		h.Render.JSONFail(c.Writer, c.Request, http.StatusBadRequest, passkey.CodeInvalid, passkey.Messages[passkey.CodeInvalid])
		return
	}
	pk, err := h.Passkeys.FinishRegistration(ctx, cur.User, req.Ceremony, h.CSRF.Binding(c.Request), req.Credential, c.Request.UserAgent())
	var pe *passkey.Error
	if errors.As(err, &pe) {
		slog.InfoContext(ctx, "passkey registration failed", "user", cur.User.ID, "code", pe.Code, "reason", err)
		h.Audit.PasskeyFailure(ctx, c.Request, cur.User.ID, audit.StageRegister, pe.Code, "")
		h.Render.JSONFail(c.Writer, c.Request, pe.Status(), pe.Code, pe.MessageKey())
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "finish passkey registration", "error", err)
		h.Render.JSONFailure(c.Writer, c.Request, err)
		return
	}
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.PasskeyAdded, ActorID: cur.User.ID, UserID: cur.User.ID,
		Details: map[string]string{"passkey": pk.ID, "name": pk.Name, "provider": device.Provider(pk.AAGUID), "source": req.Source}})
	h.Mail.Notify(ctx, cur.User, "", config.NoticePasskeyAdded, c.Request.UserAgent())
	if req.Source == "suggestion" {
		h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.SuggestionAccepted, ActorID: cur.User.ID, UserID: cur.User.ID})
	}
	pks, _ := h.Store.PasskeysByUser(ctx, cur.User.ID)
	web.JSON(c.Writer, http.StatusOK, registerFinishResponse{ID: pk.ID, Name: pk.Name,
		Rename: "/settings/passkeys/" + pk.ID + "/rename", Signals: passkey.SignalsFor(h.Passkeys.RPID(), cur.User, pks)})
}

// validPasskeyName checks a name a member gives a passkey.
func validPasskeyName(n string) (string, bool) {
	n = strings.TrimSpace(n)
	return n, n != "" && utf8.ValidString(n) && utf8.RuneCountInString(n) <= 64 && !strings.ContainsAny(n, "\x00\r\n")
}

// rename is POST /settings/passkeys/:id/rename. After naming a new passkey
// from the sign-in suggestion, it continues to the signed target.
func (h *Handler) rename(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil || !h.Passkeys.On() {
		return
	}
	ctx := c.Request.Context()
	name, ok := validPasskeyName(c.PostForm("name"))
	if !ok {
		h.passkeysError(c, "passkeys.error.name")
		return
	}
	if !h.stored(c, "rename passkey", h.Store.RenamePasskey(ctx, cur.User.ID, c.Param("id"), name)) {
		return
	}
	slog.InfoContext(ctx, "passkey renamed", "user", cur.User.ID, "passkey", c.Param("id"))
	if c.PostForm("added") != "1" {
		h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.PasskeyRenamed, ActorID: cur.User.ID, UserID: cur.User.ID,
			Details: map[string]string{"passkey": c.Param("id"), "name": name}})
	}
	if target := c.PostForm("continue"); target != "" && h.CSRF.VerifyTarget(target, c.PostForm("sig")) {
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	if c.PostForm("added") == "1" {
		c.Redirect(http.StatusSeeOther, "/settings/passkeys?done=added")
		return
	}
	c.Redirect(http.StatusSeeOther, "/settings/passkeys?done=renamed")
}

// remove is POST /settings/passkeys/:id/delete.
func (h *Handler) remove(c *gin.Context) {
	cur := h.guard(c)
	if cur == nil || !h.Passkeys.On() || h.stale(c, cur, "/settings/passkeys") {
		return
	}
	ctx := c.Request.Context()
	var credential []byte
	pks, err := h.Store.PasskeysByUser(ctx, cur.User.ID)
	for _, p := range pks {
		if p.ID == c.Param("id") {
			credential = p.CredentialID
		}
	}
	if err == nil {
		err = h.Store.DeletePasskey(ctx, cur.User.ID, c.Param("id"))
	}
	if !h.stored(c, "delete passkey", err) {
		return
	}
	slog.InfoContext(ctx, "passkey deleted", "user", cur.User.ID, "passkey", c.Param("id"))
	h.Mail.Notify(ctx, cur.User, "", config.NoticePasskeyDeleted, c.Request.UserAgent())
	h.Audit.Record(ctx, c.Request, store.AuditEvent{Kind: audit.PasskeyDeleted, ActorID: cur.User.ID, UserID: cur.User.ID,
		Details: map[string]string{"passkey": c.Param("id")}})
	// The page tells the password manager the credential is gone.
	q := url.Values{"done": {"deleted"}}
	if len(credential) > 0 {
		gone := base64.RawURLEncoding.EncodeToString(credential)
		q.Set("unknown", gone)
		q.Set("usig", h.signDeleted(c, cur.User.ID, gone, h.Now().Add(deletedSignalTTL)))
	}
	c.Redirect(http.StatusSeeOther, "/settings/passkeys?"+q.Encode())
}

// deletedSignalTTL is how long the page after a delete may still tell the
// password manager about the deleted passkey: long enough for the redirect.
const deletedSignalTTL = 2 * time.Minute

const deletedSignalPurpose = "signal-unknown-credential"

// deletedSignalValue is what the signature after a delete covers: the
// member, this browser, the credential and the expiry.
func (h *Handler) deletedSignalValue(c *gin.Context, userID, credential string, exp int64) string {
	return strings.Join([]string{userID, string(h.CSRF.Binding(c.Request)), credential, strconv.FormatInt(exp, 10)}, "\x00")
}

// signDeleted signs the credential id of a passkey the member just deleted,
// for the page the delete redirects to: "expiry.signature".
func (h *Handler) signDeleted(c *gin.Context, userID, credential string, until time.Time) string {
	exp := until.Unix()
	return strconv.FormatInt(exp, 10) + "." + h.CSRF.SignValue(deletedSignalPurpose, h.deletedSignalValue(c, userID, credential, exp))
}

// deletedJustNow checks a signature made by signDeleted for this member
// and browser, and that it has not expired.
func (h *Handler) deletedJustNow(c *gin.Context, userID, credential, sig string) bool {
	if _, err := base64.RawURLEncoding.DecodeString(credential); err != nil {
		return false
	}
	expText, mac, ok := strings.Cut(sig, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || !h.Now().Before(time.Unix(exp, 0)) {
		return false
	}
	return h.CSRF.VerifyValue(deletedSignalPurpose, h.deletedSignalValue(c, userID, credential, exp), mac)
}

// stored renders the page for a failed change of a member's passkey and
// reports whether the change went through.
func (h *Handler) stored(c *gin.Context, what string, err error) bool {
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.Render.Error(c.Writer, c.Request, web.FailNotFound)
		return false
	case err != nil:
		h.serverError(c, what, err)
		return false
	}
	return true
}

// passkeysError shows a refused change with the message of key.
func (h *Handler) passkeysError(c *gin.Context, key string) {
	f := web.Failure{Status: http.StatusBadRequest, Code: "PK-NAME", Title: "error.please_try_again", Message: key,
		Back: "/settings/passkeys", BackLabel: "passkeys.back"}
	h.Render.Error(c.Writer, c.Request, f)
}
