package login

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/passkey"
)

// helpCode explains one error code for members and for support.
type helpCode struct {
	Code, Meaning, WhatToDo string
}

// helpCodes lists every code a member can see, in the brief's words:
// what happened, and what to do about it.
var helpCodes = []helpCode{
	{passkey.CodeCancelled, passkey.Messages[passkey.CodeCancelled] + " The device prompt was closed, waited too long, or the device locked.",
		"Try again. If it keeps happening, choose Use Password."},
	{passkey.CodeNoUV, passkey.Messages[passkey.CodeNoUV], "Unlock your device with your fingerprint, face, PIN or passcode when asked, then try again."},
	{passkey.CodeUnknown, passkey.Messages[passkey.CodeUnknown],
		"Sign in with your password, then add a new passkey in Settings > Passkeys. Remove passkeys you no longer use."},
	{passkey.CodeExists, passkey.Messages[passkey.CodeExists], "You can already sign in with this device. Nothing to do."},
	{passkey.CodeExpired, passkey.Messages[passkey.CodeExpired], "Reload the page and try again."},
	{passkey.CodeOrigin, passkey.Messages[passkey.CodeOrigin],
		"Make sure you are on the site's real address. If it keeps happening, tell support: it can mean the site is misconfigured."},
	{passkey.CodeSecurity, passkey.Messages[passkey.CodeSecurity],
		"Make sure you are on the site's real address and not inside another site. Tell support if it keeps happening."},
	{passkey.CodeUnsupported, passkey.Messages[passkey.CodeUnsupported], "Update your browser or system, or use your password."},
	{passkey.CodeWebView, passkey.Messages[passkey.CodeWebView], "Open the page in Safari, Chrome or your usual browser, or use your password."},
	{passkey.CodeReauth, passkey.Messages[passkey.CodeReauth], "Sign in again, then add the passkey."},
	{passkey.CodeInvalid, passkey.Messages[passkey.CodeInvalid], "Try again. If it keeps happening, update your browser and tell support."},
	{"PK-FAILED", "The passkey did not work for a reason the browser did not say.", "Try again, or use your password."},
	{"LOGIN-WRONG", "The email, username or password is not right.", "Check them and try again. Forgot your password? Ask an admin for a recovery link."},
	{"LOGIN-EXPIRED", failExpired.Message, failExpired.Hint},
	{"LOGIN-BROWSER", failBrowser.Message, failBrowser.Hint},
	{"LOGIN-OTHER-ACCOUNT", failOtherAccount.Message, failOtherAccount.Hint},
	{"ACCOUNT-DISABLED", failDisabled.Message, failDisabled.Hint},
	{"RECOVERY-LINK", failRecoveryLink.Message, failRecoveryLink.Hint},
	{"SETUP-LINK", failSetupLink.Message, failSetupLink.Hint},
	{"CSRF", "The form expired or was sent from another site, so it was not accepted.", "Go back, reload the page and send the form again."},
	{"UNAVAILABLE", "The sign-in service cannot reach its database right now.", "Try again in a minute."},
	{"SERVER", "The sign-in service could not finish your request.", "Try again. If it keeps happening, tell support the code and reference."},
}

type helpPage struct{ Codes []helpCode }

// helpErrors is GET /help/errors: every error code, in plain words.
func (h *Handler) helpErrors(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "help_errors", nil, helpPage{Codes: helpCodes})
}
