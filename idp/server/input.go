package server

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/oidcop"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/web"
)

// Bounds of one parameter. No value of the protocol or of the forms comes
// near them: an id_token_hint is about a kilobyte, a password at most 1024
// characters.
const (
	maxValue = 8 << 10
	maxName  = 256
)

// checkInput refuses, before any handler sees them, parameters no honest
// client sends: a path, query string or form body (urlencoded or
// multipart) that does not decode, text that is not UTF-8 or holds a NUL
// byte, a name or value over the bounds above. Such text would otherwise
// reach the database (PostgreSQL refuses it: a 500), be stored as is
// (SQLite) or be echoed to a client. The token, introspection and
// revocation endpoints also require a form body (RFC 6749 section 3.2,
// RFC 7662 section 2.1, RFC 7009 section 2.1). It runs after limitBody.
func checkInput(render *web.Renderer) gin.HandlerFunc {
	return func(c *gin.Context) {
		status, problem := inputProblem(c.Request)
		if problem == "" {
			c.Next()
			return
		}
		slog.InfoContext(c.Request.Context(), "request refused", "reason", problem)
		refuseInput(c, render, status, problem)
		c.Abort()
	}
}

// inputProblem says what is wrong with the request's parameters, and the
// status to answer with; "" when nothing is.
func inputProblem(r *http.Request) (int, string) {
	if !cleanText(r.URL.Path) {
		return http.StatusBadRequest, "the address is not valid UTF-8 text"
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return http.StatusBadRequest, "the query string cannot be decoded"
	}
	if p := valuesProblem(query); p != "" {
		return http.StatusBadRequest, p
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
		return 0, ""
	}
	mt, _, mtErr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch r.URL.Path {
	case oidcop.PathToken, oidcop.PathIntrospect, oidcop.PathRevoke:
		if mtErr != nil || mt != "application/x-www-form-urlencoded" {
			return http.StatusBadRequest, "the body must be application/x-www-form-urlencoded"
		}
	}
	switch {
	case mtErr != nil:
		return 0, "" // not a form: the handler reads the body its way
	case mt == "application/x-www-form-urlencoded":
		err = r.ParseForm()
	case mt == "multipart/form-data":
		err = r.ParseMultipartForm(maxBody) // adds the values to PostForm
	default:
		return 0, ""
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit)
	case err != nil:
		return http.StatusBadRequest, "the form cannot be decoded"
	}
	if p := valuesProblem(r.PostForm); p != "" {
		return http.StatusBadRequest, p
	}
	return 0, ""
}

// valuesProblem checks every name and value of a query or form.
func valuesProblem(v url.Values) string {
	for name, values := range v {
		if len(name) > maxName || !cleanText(name) {
			return "a parameter name is too long or not valid UTF-8 text"
		}
		for _, s := range values {
			if len(s) > maxValue {
				return fmt.Sprintf("the value of %s is longer than %d bytes", name, maxValue)
			}
			if !cleanText(s) {
				return fmt.Sprintf("the value of %s is not valid UTF-8 text", name)
			}
		}
	}
	return ""
}

// cleanText reports whether s is UTF-8 without NUL bytes, which is what a
// text column of either database accepts.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// refuseInput answers in the caller's language: the WebAuthn JSON error
// for the page scripts, an OAuth error for the back-channel endpoints, the
// error page for browsers. At end_session, like everything op refuses
// there (oidcop.EndSession), it is the sign-out confirmation page.
func refuseInput(c *gin.Context, render *web.Renderer, status int, problem string) {
	path := c.Request.URL.Path
	switch {
	case path == oidcop.PathEndSession:
		c.Redirect(http.StatusSeeOther, "/logout")
	case strings.HasPrefix(path, "/webauthn/"):
		web.JSON(c.Writer, status, web.JSONError{Error: passkey.CodeInvalid, Message: "The request could not be read: " + problem + "."})
	case isBackchannel(path):
		c.Header("Cache-Control", "no-store")
		c.JSON(status, gin.H{"error": "invalid_request", "error_description": problem})
	default:
		render.Error(c.Writer, c.Request, web.Failure{Status: status, Code: "BAD-REQUEST", Title: "This request cannot be read",
			Message: "The address or form holds something this site cannot accept: " + problem + ".",
			Hint:    "Go back and try again. If you followed a link from an app or website, the link may be broken."})
	}
}
