package login

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/web"
)

// codeShape is what an error code looks like: PK-CANCELLED, CSRF, SERVER.
var codeShape = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$`)

// shownCodes finds every error code the pages can show a member: the
// Code of a web.Failure, the Error of a web.JSONError (the page script
// shows it), the codes of JSONFail and of sign-in failures (the
// password page shows them), passkey.Messages, and the codes the page
// script and templates set themselves.
func shownCodes(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{}
	add := func(code, where string) {
		if codeShape.MatchString(code) {
			if _, ok := found[code]; !ok {
				found[code] = where
			}
		}
	}
	lit := func(e ast.Expr) (string, bool) {
		b, ok := e.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(b.Value)
		return s, err == nil
	}
	fset := token.NewFileSet()
	for _, dir := range []string{".", "../account", "../passkey", "../web", "../admin", "../server"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.KeyValueExpr:
					if k, ok := n.Key.(*ast.Ident); ok && (k.Name == "Code" || k.Name == "Error") {
						if s, ok := lit(n.Value); ok {
							add(s, fset.Position(n.Pos()).String())
						}
					}
				case *ast.CallExpr:
					var fn string
					switch f := n.Fun.(type) {
					case *ast.Ident:
						fn = f.Name
					case *ast.SelectorExpr:
						fn = f.Sel.Name
					}
					var arg int
					switch fn {
					case "JSONFail":
						arg = 3
					case "SignIn":
						arg = 5
					case "PasskeyFailure":
						arg = 4
					default:
						return true
					}
					if len(n.Args) > arg {
						if s, ok := lit(n.Args[arg]); ok {
							add(s, fset.Position(n.Pos()).String())
						}
					}
				}
				return true
			})
		}
	}
	for code := range passkey.Messages {
		add(code, "passkey.Messages")
	}
	quoted := regexp.MustCompile(`'(PK-[A-Z]+)'`)
	js, err := os.ReadFile("../../ui/static/passkey.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range quoted.FindAllStringSubmatch(string(js), -1) {
		add(m[1], "passkey.js")
	}
	templates, _ := filepath.Glob("../../ui/templates/*.html")
	inText := regexp.MustCompile(`\b[A-Z]{2,}(?:-[A-Z]{2,})+\b`)
	for _, name := range templates {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range inText.FindAllString(string(body), -1) {
			add(m, name)
		}
	}
	// The error page for a refused protocol request shows the OAuth error
	// (server's errorPage): invalid_request for op's plain-text answers,
	// server_error for its failures.
	add("INVALID-REQUEST", "server errorPage")
	add("SERVER-ERROR", "server errorPage")
	return found
}

// Every code a member can see is explained on /help/errors.
func TestHelpListsEveryShownCode(t *testing.T) {
	shown := shownCodes(t)
	// The scan must see the codes it is meant to find.
	for _, c := range []string{"PK-CANCELLED", "LOGIN-WRONG", "LOGIN-THROTTLED", "PK-ROLLOUT", "SIGNED-OUT", "NOT-FOUND", "CSRF", "ACCOUNT-DISABLED"} {
		if _, ok := shown[c]; !ok {
			t.Errorf("the scan did not find %s", c)
		}
	}
	listed := map[string]bool{}
	for _, h := range helpCodes {
		if listed[h.Code] {
			t.Errorf("%s is listed twice", h.Code)
		}
		listed[h.Code] = true
		if len(h.Meaning) == 0 || strings.TrimSpace(h.WhatToDo) == "" {
			t.Errorf("%s has no explanation", h.Code)
		}
		for _, key := range append(h.Meaning, h.WhatToDo) {
			if !i18n.Default().Has(key) {
				t.Errorf("%s: %q is not in en.json", h.Code, key)
			}
		}
	}

	gin.SetMode(gin.TestMode)
	render, err := web.NewRenderer(web.Options{Site: "Test Community",
		CSRF: session.NewCSRF([]byte("0123456789abcdef0123456789abcdef"), "http://localhost")})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/help/errors", nil)
	(&Handler{Render: render}).helpErrors(c)
	if w.Code != http.StatusOK {
		t.Fatalf("/help/errors: %d", w.Code)
	}
	page := w.Body.String()

	codes := make([]string, 0, len(shown))
	for code := range shown {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		if !listed[code] {
			t.Errorf("%s (shown at %s) is not explained on the help page", code, shown[code])
		}
		if !strings.Contains(page, `<dt id="`+code+`">`) {
			t.Errorf("/help/errors has no entry #%s", code)
		}
	}
}
