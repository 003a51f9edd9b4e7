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
	{"PK-OFF", "Passkeys are not enabled on this site, so the passkey step could not start.", "Use your password."},
	{"PK-ROLLOUT", "Adding passkeys is not available for your account yet: the site offers them to some members first.",
		"Keep signing in with your password. You will be offered passkeys when they are available for you."},
	{"PK-NAME", "The passkey name was not accepted.", "Use a name of 1 to 64 characters on one line, for example Office Laptop."},
	{"SIGNED-OUT", "You were signed out (or your sign-in ended) while the page was open.", "Sign in again, then try again."},
	{"LOGIN-WRONG", errWrongCredentials, "Check them and try again. Forgot your password? Ask an admin for a recovery link."},
	{"LOGIN-THROTTLED", "There were too many wrong passwords for this account or from your network, so password sign-in is paused for a while.",
		"Wait the time the page says, then try again. Signing in with a passkey still works. Forgot your password? Ask an admin for a recovery link."},
	{"LOGIN-EXPIRED", failExpired.Message, failExpired.Hint},
	{"LOGIN-BROWSER", failBrowser.Message, failBrowser.Hint},
	{"LOGIN-OTHER-ACCOUNT", failOtherAccount.Message, failOtherAccount.Hint},
	{"ACCOUNT-DISABLED", failDisabled.Message, failDisabled.Hint},
	{"RECOVERY-LINK", failRecoveryLink.Message, failRecoveryLink.Hint},
	{"RECOVERY-THROTTLED", "Too many recovery links that do not work were opened from your network, so recovery links are paused for a while.",
		"Wait the time the page says, then open the whole link again. If it still fails, ask the admin for a new one."},
	{"SETUP-LINK", failSetupLink.Message, failSetupLink.Hint},
	{"CSRF", "The form expired or was sent from another site, so it was not accepted.", "Go back, reload the page and send the form again."},
	{"NOT-FOUND", "There is nothing at this address, or the item (for example a passkey) no longer exists.", "Go back to your account and start again."},
	{"BAD-REQUEST", "The address or form holds something this site cannot accept, for example a broken link.",
		"Go back and try again. If you followed a link from an app or website, tell support which one."},
	{"METHOD", "This address does not accept this kind of request.", "Go back and use the site's own buttons and links."},
	{"INVALID-REQUEST", "The app or website that sent you here asked for a sign-in this site cannot accept.",
		"Go back to the app or website and try again. If it keeps happening, tell support: the app may be misconfigured."},
	{"SERVER-ERROR", "The sign-in service could not finish the request from the app or website.",
		"Go back to the app or website and try again. If it keeps happening, tell support the code and reference."},
	{"ADMIN-ONLY", "This part of the site is for the community's admins.", "Go to your account instead. If you are an admin, sign in with your admin account."},
	{"ADMIN-SELF", "An admin cannot disable the account they are signed in with.", "Ask another admin to do it."},
	{"UNAVAILABLE", "The sign-in service cannot reach its database right now.", "Try again in a minute."},
	{"SERVER", "The sign-in service could not finish your request.", "Try again. If it keeps happening, tell support the code and reference."},
}

type helpPage struct{ Codes []helpCode }

// helpErrors is GET /help/errors: every error code, in plain words.
func (h *Handler) helpErrors(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	h.Render.Render(c.Writer, c.Request, http.StatusOK, "help_errors", nil, helpPage{Codes: helpCodes})
}
