package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/web"
)

// While the database is down, each caller gets the answer it reads: the
// page script a JSON error with a code and a sentence in the member's
// language, OAuth clients temporarily_unavailable, browsers the page.
func TestGateAnswersInTheCallersLanguage(t *testing.T) {
	gin.SetMode(gin.TestMode)
	render, err := web.NewRenderer(web.Options{Site: "Test", CSRF: session.NewCSRF(make([]byte, 32), "http://localhost")})
	if err != nil {
		t.Fatal(err)
	}
	down := newAvailability(func(context.Context) error { return errors.New("down") })
	g := gin.New()
	g.Use(chooseLanguage(render), down.gate(render))
	g.Any("/*path", func(c *gin.Context) { c.String(http.StatusOK, "up") })

	for path, want := range map[string]string{
		"/webauthn/login/begin": `"error":"UNAVAILABLE","message":"The sign-in service cannot reach its database right now. Please try again in a moment."`,
		"/oauth/token":          `"error":"temporarily_unavailable"`,
		"/login":                `<h1>Temporarily unavailable</h1>`,
	} {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}")))
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), want) || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
		if strings.HasPrefix(path, "/webauthn/") {
			var body web.JSONError
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Message == "" {
				t.Errorf("%s: %v %+v", path, err, body)
			}
		}
	}
}
