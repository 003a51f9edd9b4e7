package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Each counter shows on /metrics under its name and labels; a nil
// Metrics (metrics off) takes every call and does nothing.
func TestCounters(t *testing.T) {
	m := New()
	m.HTTP("/login", "POST", 200, 20*time.Millisecond)
	m.SignIn("passkey", "ok")
	m.Ceremony("login", "PK-CANCELLED")
	m.Token("authorization_code")
	m.Store("UserByID", time.Millisecond)
	m.Created("auth_request")
	m.RateLimited("identifier")
	m.Mail("reset", "sent")
	m.Backchannel("site", "retry")
	rw := httptest.NewRecorder()
	m.Handler().ServeHTTP(rw, httptest.NewRequest("GET", "/metrics", nil))
	body := rw.Body.String()
	for _, want := range []string{
		`idp_http_requests_total{method="POST",route="/login",status="200"} 1`,
		`idp_signins_total{method="passkey",result="ok"} 1`,
		`idp_passkey_ceremonies_total{kind="login",result="PK-CANCELLED"} 1`,
		`idp_tokens_issued_total{grant="authorization_code"} 1`,
		`idp_created_total{what="auth_request"} 1`,
		`idp_rate_limited_total{limit="identifier"} 1`,
		`idp_mail_total{result="sent",topic="reset"} 1`,
		`idp_backchannel_logout_total{client="site",result="retry"} 1`,
		`idp_store_operation_duration_seconds_count{op="UserByID"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	var off *Metrics
	off.HTTP("/", "GET", 200, 0)
	off.SignIn("pwd", "ok")
	off.Ceremony("login", "ok")
	off.Token("refresh_token")
	off.Store("x", 0)
	off.Created("x")
	off.RateLimited("x")
	off.Mail("x", "sent")
	off.Backchannel("x", "sent")
}
