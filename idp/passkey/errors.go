package passkey

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
)

// Error codes members can quote to support. The browser-side codes
// (PK-CANCELLED, PK-SECURITY, PK-UNSUPPORTED, PK-WEBVIEW) are set by the
// page script; the help page lists them all.
const (
	CodeCancelled   = "PK-CANCELLED"
	CodeSecurity    = "PK-SECURITY"
	CodeUnsupported = "PK-UNSUPPORTED"
	CodeWebView     = "PK-WEBVIEW"
	CodeExpired     = "PK-EXPIRED"
	CodeOrigin      = "PK-ORIGIN"
	CodeUnknown     = "PK-UNKNOWN"
	CodeNoUV        = "PK-UV"
	CodeExists      = "PK-EXISTS"
	CodeReauth      = "PK-REAUTH"
	CodeDisabled    = "ACCOUNT-DISABLED"
	CodeInvalid     = "PK-INVALID"
	CodeCloned      = "PK-CLONED"
)

// Messages is the message key (ui/locales) of the sentence that says each
// code in plain words.
var Messages = map[string]string{
	CodeCancelled:   "passkey.error.PK-CANCELLED",
	CodeSecurity:    "passkey.error.PK-SECURITY",
	CodeUnsupported: "passkey.error.PK-UNSUPPORTED",
	CodeWebView:     "passkey.error.PK-WEBVIEW",
	CodeExpired:     "passkey.error.PK-EXPIRED",
	CodeOrigin:      "passkey.error.PK-ORIGIN",
	CodeUnknown:     "passkey.error.PK-UNKNOWN",
	CodeNoUV:        "passkey.error.PK-UV",
	CodeExists:      "passkey.error.PK-EXISTS",
	CodeReauth:      "passkey.error.PK-REAUTH",
	CodeDisabled:    "passkey.error.ACCOUNT-DISABLED",
	CodeInvalid:     "passkey.error.PK-INVALID",
	CodeCloned:      "passkey.error.PK-CLONED",
}

// Error is a ceremony failure with the code shown to the member.
type Error struct {
	Code string
	// CredentialID is set for an unknown credential, so the page can tell
	// the password manager to forget it (signalUnknownCredential).
	CredentialID []byte
	// UserID and Clone are set for a refused clone (CodeCloned): whose
	// passkey, and what the counters were, for the audit log.
	UserID string
	Clone  map[string]string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// MessageKey is the message key of the member-facing sentence.
func (e *Error) MessageKey() string { return Messages[e.Code] }

// Status is the HTTP status to answer with.
func (e *Error) Status() int {
	switch e.Code {
	case CodeReauth:
		return http.StatusUnauthorized
	case CodeDisabled:
		return http.StatusForbidden
	case CodeExists:
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

var (
	errExpired  = &Error{Code: CodeExpired}
	errUnknown  = &Error{Code: CodeUnknown}
	errExists   = &Error{Code: CodeExists}
	errDisabled = &Error{Code: CodeDisabled}
	// ErrReauth asks for a fresh sign-in before a sensitive change.
	ErrReauth = &Error{Code: CodeReauth}
)

// classify maps a go-webauthn verification error to a member-facing code.
// A bad signature is answered like an unknown passkey (WebAuthn section
// 14.6.2), so a forged answer learns nothing more.
func classify(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var unknown *protocol.ErrorUnknownCredential
	if errors.As(err, &unknown) {
		return &Error{Code: CodeUnknown, Err: err}
	}
	var we *protocol.Error
	if !errors.As(err, &we) {
		return &Error{Code: CodeInvalid, Err: err}
	}
	text := strings.ToLower(we.Details + " " + we.DevInfo)
	switch {
	case strings.Contains(text, "origin") || strings.Contains(text, "rp hash") || strings.Contains(text, "cross origin"):
		return &Error{Code: CodeOrigin, Err: err}
	case strings.Contains(text, "user verification"):
		return &Error{Code: CodeNoUV, Err: err}
	case strings.Contains(text, "challenge") || strings.Contains(text, "expired"):
		return &Error{Code: CodeExpired, Err: err}
	case we.Type == protocol.ErrAssertionSignature.Type, strings.Contains(text, "not owned"),
		strings.Contains(text, "credential"), strings.Contains(text, "user handle"):
		return &Error{Code: CodeUnknown, Err: err}
	}
	return &Error{Code: CodeInvalid, Err: err}
}
