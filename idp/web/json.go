package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"
)

// maxJSON bounds a JSON request body; WebAuthn answers are a few KiB.
const maxJSON = 64 << 10

// ErrBadJSON is returned for a body that is not a JSON object of the
// expected shape, or not sent as application/json.
var ErrBadJSON = errors.New("the request body must be a JSON object sent as application/json")

// ReadJSON decodes the request's JSON body into v.
func ReadJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return ErrBadJSON
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxJSON+1))
	if err != nil || len(raw) > maxJSON {
		return fmt.Errorf("%w: unreadable or too large", ErrBadJSON)
	}
	// JSON is UTF-8 (RFC 8259); Go would turn bad bytes into U+FFFD
	// quietly, and a \u0000 into a NUL byte that PostgreSQL refuses.
	if !utf8.Valid(raw) || bytes.Contains(raw, []byte(`\u0000`)) {
		return fmt.Errorf("%w: not UTF-8 text, or a NUL character", ErrBadJSON)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	return nil
}

// JSON writes v as the response.
func JSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// JSONError is the body of a failed JSON call: a code for support and a
// sentence for the member.
type JSONError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	// CredentialID names an unknown passkey (base64url), so the page can
	// tell the password manager to forget it.
	CredentialID string `json:"credentialId,omitempty"`
	// RPID goes with CredentialID: the relying party ID the passkey belongs
	// to (passkeys.rp_id, which may be a parent domain of the page's host).
	RPID string `json:"rpId,omitempty"`
	// Reauth is where to sign in again, when that is what is needed.
	Reauth string `json:"reauth,omitempty"`
}

// JSONFailure answers a JSON call that failed unexpectedly: 503 with
// UNAVAILABLE when the database is down, else 500 with SERVER, the
// message in the request's language.
func (r *Renderer) JSONFailure(w http.ResponseWriter, req *http.Request, err error) {
	r.JSONFor(w, req, FailureFor(err))
}

// JSONFor answers a JSON call with the failure f: its status, its code and
// its text in the request's language.
func (r *Renderer) JSONFor(w http.ResponseWriter, req *http.Request, f Failure) {
	JSON(w, f.Status, JSONError{Error: f.Code, Message: r.Text(req, f)})
}

// JSONFail answers a JSON call with a code and the message of key in the
// request's language: JSONFor, for a failure that has only a message.
func (r *Renderer) JSONFail(w http.ResponseWriter, req *http.Request, status int, code, key string, args ...any) {
	r.JSONFor(w, req, Failure{Status: status, Code: code, Message: key, Args: args})
}
