package login

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/passkey"
)

// helpCode explains one error code for members and for support: message
// keys (ui/locales) of what happened, one sentence or more, and of what
// to do about it.
type helpCode struct {
	Code     string
	Meaning  []string
	WhatToDo string
}

// helpCodes lists every code a member can see, in the brief's words:
// what happened, and what to do about it. The sentence a page shows for a
// code comes first, so the help says what the member read.
var helpCodes = []helpCode{
	{passkey.CodeCancelled, []string{passkey.Messages[passkey.CodeCancelled], "help.PK-CANCELLED.meaning"}, "help.PK-CANCELLED.todo"},
	{passkey.CodeNoUV, []string{passkey.Messages[passkey.CodeNoUV]}, "help.PK-UV.todo"},
	{passkey.CodeUnknown, []string{passkey.Messages[passkey.CodeUnknown]}, "help.PK-UNKNOWN.todo"},
	{passkey.CodeExists, []string{passkey.Messages[passkey.CodeExists]}, "help.PK-EXISTS.todo"},
	{passkey.CodeExpired, []string{passkey.Messages[passkey.CodeExpired]}, "help.PK-EXPIRED.todo"},
	{passkey.CodeOrigin, []string{passkey.Messages[passkey.CodeOrigin]}, "help.PK-ORIGIN.todo"},
	{passkey.CodeSecurity, []string{passkey.Messages[passkey.CodeSecurity]}, "help.PK-SECURITY.todo"},
	{passkey.CodeUnsupported, []string{passkey.Messages[passkey.CodeUnsupported]}, "help.PK-UNSUPPORTED.todo"},
	{passkey.CodeWebView, []string{passkey.Messages[passkey.CodeWebView]}, "help.PK-WEBVIEW.todo"},
	{passkey.CodeReauth, []string{passkey.Messages[passkey.CodeReauth]}, "help.PK-REAUTH.todo"},
	{passkey.CodeInvalid, []string{passkey.Messages[passkey.CodeInvalid]}, "help.PK-INVALID.todo"},
	{passkey.CodeCloned, []string{passkey.Messages[passkey.CodeCloned]}, "help.PK-CLONED.todo"},
	{"PK-FAILED", []string{"help.PK-FAILED.meaning"}, "help.PK-FAILED.todo"},
	{"PK-OFF", []string{"help.PK-OFF.meaning"}, "help.PK-OFF.todo"},
	{"PK-ROLLOUT", []string{"help.PK-ROLLOUT.meaning"}, "help.PK-ROLLOUT.todo"},
	{"PK-NAME", []string{"help.PK-NAME.meaning"}, "help.PK-NAME.todo"},
	{"SIGNED-OUT", []string{"help.SIGNED-OUT.meaning"}, "help.SIGNED-OUT.todo"},
	{"LOGIN-WRONG", []string{errWrongCredentials}, "help.LOGIN-WRONG.todo"},
	{"LOGIN-THROTTLED", []string{"help.LOGIN-THROTTLED.meaning"}, "help.LOGIN-THROTTLED.todo"},
	{"LOGIN-EXPIRED", []string{failExpired.Message}, failExpired.Hint},
	{"LOGIN-BROWSER", []string{failBrowser.Message}, failBrowser.Hint},
	{"LOGIN-OTHER-ACCOUNT", []string{failOtherAccount.Message}, failOtherAccount.Hint},
	{"ACCOUNT-DISABLED", []string{failDisabled.Message}, failDisabled.Hint},
	{"RECOVERY-LINK", []string{failRecoveryLink.Message}, failRecoveryLink.Hint},
	{"RECOVERY-THROTTLED", []string{"help.RECOVERY-THROTTLED.meaning"}, "help.RECOVERY-THROTTLED.todo"},
	{"RATE-LIMITED", []string{"help.RATE-LIMITED.meaning"}, "help.RATE-LIMITED.todo"},
	{"EMAIL-UNVERIFIED", []string{"login.unverified"}, "help.EMAIL-UNVERIFIED.todo"},
	{"SETUP-LINK", []string{failSetupLink.Message}, failSetupLink.Hint},
	{"CSRF", []string{"help.CSRF.meaning"}, "error.CSRF.hint"},
	{"NOT-FOUND", []string{"help.NOT-FOUND.meaning"}, "help.NOT-FOUND.todo"},
	{"BAD-REQUEST", []string{"help.BAD-REQUEST.meaning"}, "help.BAD-REQUEST.todo"},
	{"METHOD", []string{"error.METHOD.message"}, "help.METHOD.todo"},
	{"INVALID-REQUEST", []string{"help.INVALID-REQUEST.meaning"}, "help.INVALID-REQUEST.todo"},
	{"SERVER-ERROR", []string{"help.SERVER-ERROR.meaning"}, "help.SERVER-ERROR.todo"},
	{"ADMIN-ONLY", []string{"error.ADMIN-ONLY.message"}, "help.ADMIN-ONLY.todo"},
	{"ADMIN-SELF", []string{"help.ADMIN-SELF.meaning"}, "help.ADMIN-SELF.todo"},
	{"UNAVAILABLE", []string{"error.UNAVAILABLE.message"}, "help.UNAVAILABLE.todo"},
	{"SERVER", []string{"error.SERVER.message"}, "help.SERVER.todo"},
}

// helpRow is a helpCode in the member's language.
type helpRow struct{ Code, Meaning, WhatToDo string }

type helpPage struct{ Codes []helpRow }

// helpErrors is GET /help/errors: every error code, in plain words.
func (h *Handler) helpErrors(c *gin.Context) {
	t := func(key string, args ...any) string { return h.Render.T(c.Request, key, args...) }
	// Some advice names the page's own words: the button, the menu.
	args := map[string][]any{
		"help.PK-CANCELLED.todo": {t("login.passkey.use_password")},
		"help.PK-UNKNOWN.todo":   {t("help.menu_path", t("settings.title"), t("passkeys.title"))},
		"help.PK-CLONED.todo":    {t("help.menu_path", t("settings.title"), t("passkeys.title"))},
	}
	rows := make([]helpRow, 0, len(helpCodes))
	for _, hc := range helpCodes {
		row := helpRow{Code: hc.Code, WhatToDo: t(hc.WhatToDo, args[hc.WhatToDo]...)}
		for i, key := range hc.Meaning {
			if i > 0 {
				row.Meaning += " "
			}
			row.Meaning += t(key)
		}
		rows = append(rows, row)
	}
	c.Header("Cache-Control", "public, max-age=3600")
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "help_errors", nil, helpPage{Codes: rows})
}

// checkPage is /help/passkeys-check: what this browser can do with
// passkeys, found out by the page script, and a report for support.
type checkPage struct {
	// Code and Message are the error the member came with, if any (only
	// a code this provider shows; anything else is ignored).
	Code, Message string
	// Stage is "setup" or "signin" when the link said which.
	Stage string
	// WebView: the server recognised an app's built-in browser.
	WebView bool
	// Texts are the script's words, in the member's language.
	Texts map[string]string
}

// checkTexts are the words the check script shows: key in the page
// script, message key in ui/locales.
var checkTexts = map[string]string{
	"webauthn_yes": "check.webauthn.yes", "webauthn_no": "check.webauthn.no",
	"platform_yes": "check.platform.yes", "platform_no": "check.platform.no",
	"conditional_yes": "check.conditional.yes", "conditional_no": "check.conditional.no",
	"hybrid_yes": "check.hybrid.yes", "hybrid_no": "check.hybrid.no",
	"verdict_yes": "check.verdict.yes", "verdict_no": "check.verdict.no",
	"yes": "common.yes", "no": "common.no", "unknown": "check.unknown",
	"summary_webauthn": "check.summary.webauthn", "summary_platform": "check.summary.platform",
	"summary_conditional": "check.summary.conditional", "summary_hybrid": "check.summary.hybrid",
	"summary_webview": "check.summary.webview",
}

// helpPasskeysCheck is GET /help/passkeys-check.
func (h *Handler) helpPasskeysCheck(c *gin.Context) {
	p := checkPage{WebView: device.IsEmbeddedWebView(c.Request.UserAgent()), Texts: map[string]string{}}
	for k, key := range checkTexts {
		p.Texts[k] = h.Render.T(c.Request, key)
	}
	if code := c.Query("code"); strings.HasPrefix(code, "PK-") {
		for _, hc := range helpCodes {
			if hc.Code == code {
				p.Code, p.Message = code, h.Render.T(c.Request, hc.Meaning[0])
			}
		}
	}
	if st := c.Query("stage"); st == "setup" || st == "signin" {
		p.Stage = st
	}
	c.Header("Cache-Control", "no-store")
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "help_passkeys_check", nil, p)
}
