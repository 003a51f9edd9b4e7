package server

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/i18n"
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
		if problem.key == "" {
			c.Next()
			return
		}
		slog.InfoContext(c.Request.Context(), "request refused", "reason", problem.english())
		refuseInput(c, render, status, problem)
		c.Abort()
	}
}

// problem is what is wrong with a request: a message key (ui/locales)
// and its arguments.
type problem struct {
	key  string
	args []any
}

func (p problem) english() string { return i18n.English().T(p.key, p.args...) }

// inputProblem says what is wrong with the request's parameters, and the
// status to answer with; a zero problem when nothing is.
func inputProblem(r *http.Request) (int, problem) {
	if !cleanText(r.URL.Path) {
		return http.StatusBadRequest, problem{key: "input.path"}
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return http.StatusBadRequest, problem{key: "input.query"}
	}
	if p := valuesProblem(query); p.key != "" {
		return http.StatusBadRequest, p
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
		return 0, problem{}
	}
	mt, _, mtErr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch r.URL.Path {
	case oidcop.PathToken, oidcop.PathIntrospect, oidcop.PathRevoke:
		if mtErr != nil || mt != "application/x-www-form-urlencoded" {
			return http.StatusBadRequest, problem{key: "input.form_required"}
		}
	}
	switch {
	case mtErr != nil:
		return 0, problem{} // not a form: the handler reads the body its way
	case mt == "application/x-www-form-urlencoded":
		err = r.ParseForm()
	case mt == "multipart/form-data":
		err = r.ParseMultipartForm(maxBody) // adds the values to PostForm
	default:
		return 0, problem{}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, problem{"input.body_too_large", []any{strconv.FormatInt(tooBig.Limit, 10)}}
	case err != nil:
		return http.StatusBadRequest, problem{key: "input.form"}
	}
	if p := valuesProblem(r.PostForm); p.key != "" {
		return http.StatusBadRequest, p
	}
	return 0, problem{}
}

// valuesProblem checks every name and value of a query or form.
func valuesProblem(v url.Values) problem {
	for name, values := range v {
		if len(name) > maxName || !cleanText(name) {
			return problem{key: "input.name"}
		}
		for _, s := range values {
			if len(s) > maxValue {
				return problem{"input.value_too_long", []any{name, strconv.Itoa(maxValue)}}
			}
			if !cleanText(s) {
				return problem{"input.value_text", []any{name}}
			}
		}
	}
	return problem{}
}

// cleanText reports whether s is UTF-8 without NUL bytes, which is what a
// text column of either database accepts.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// refuseInput answers in the caller's language: the WebAuthn JSON error
// for the page scripts, an OAuth error for the back-channel endpoints, the
// error page for browsers. At end_session, like everything op refuses
// there (oidcop.EndSession), it is the sign-out confirmation page. Pages
// and the page scripts get the member's language; OAuth clients English.
func refuseInput(c *gin.Context, render *web.Renderer, status int, p problem) {
	path := c.Request.URL.Path
	switch {
	case path == oidcop.PathEndSession:
		c.Redirect(http.StatusSeeOther, "/logout")
	case strings.HasPrefix(path, "/webauthn/"):
		render.JSONFail(c.Writer, c.Request, status, passkey.CodeInvalid, "json.unreadable_because", render.T(c.Request, p.key, p.args...))
	case isBackchannel(path):
		c.Header("Cache-Control", "no-store")
		c.JSON(status, gin.H{"error": "invalid_request", "error_description": p.english()})
	default:
		f := web.Coded(status, "BAD-REQUEST")
		f.Args = []any{render.T(c.Request, p.key, p.args...)}
		render.Error(c.Writer, c.Request, f)
	}
}
