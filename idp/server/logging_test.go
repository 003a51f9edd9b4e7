package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/communityidp/idp/config"
)

// Secret parameters are dropped wherever they are: a plain attribute, a
// group, an attribute bound with With, or a LogValuer's group (op logs
// an *oidc.Error, whose value holds the state).
func TestRedact(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Redact(slog.NewTextHandler(&buf, nil)))
	e := oidc.ErrLoginRequired().WithDescription("not signed in")
	e.State = "STATE-SECRET"
	log.With("login_hint", "HINT-SECRET").Warn("auth request", "oidc_error", e, "code_verifier", "VERIFIER-SECRET",
		slog.Group("req", "nonce", "NONCE-SECRET", "client_id", "site"))
	out := buf.String()
	for _, s := range []string{"STATE-SECRET", "HINT-SECRET", "VERIFIER-SECRET", "NONCE-SECRET"} {
		if strings.Contains(out, s) {
			t.Errorf("%s logged: %s", s, out)
		}
	}
	for _, s := range []string{"not signed in", "login_required", "req.client_id=site"} {
		if !strings.Contains(out, s) {
			t.Errorf("%q missing from %s", s, out)
		}
	}
}

// A request the client abandoned fails with its own cancellation: the
// provider did nothing wrong, so that is no ERROR or WARN (op logs it as a
// server_error or invalid_grant). An error of another cause stays an
// error, canceled request or not.
func TestCanceledRequestIsNoError(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(config.Log{Level: "info"}, &buf)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	canceled := oidc.ErrServerError().WithParent(fmt.Errorf("issue tokens: %w", context.Canceled))
	broken := oidc.ErrServerError().WithParent(errors.New("disk I/O error"))

	for _, c := range []struct {
		name  string
		ctx   context.Context
		level slog.Level // as the logger chose it
		err   error
		want  string
	}{
		{"the client went away", gone, slog.LevelError, canceled, "level=INFO"},
		{"the client went away, logged by us", gone, slog.LevelError, fmt.Errorf("complete: %w", context.Canceled), "level=INFO"},
		{"a read cut short (op: invalid_grant)", gone, slog.LevelWarn, oidc.ErrInvalidGrant().WithParent(fmt.Errorf("load: %w", context.Canceled)), "level=INFO"},
		{"another cause, client gone", gone, slog.LevelError, broken, "level=ERROR"},
		{"canceled, but the request is live", context.Background(), slog.LevelError, canceled, "level=ERROR"},
	} {
		buf.Reset()
		log.Log(c.ctx, c.level, "request error", "oidc_error", c.err)
		if !strings.Contains(buf.String(), c.want) {
			t.Errorf("%s: logged %q, want %s", c.name, buf.String(), c.want)
		}
	}

	// At level error the abandoned request is not logged at all.
	buf.Reset()
	quiet := NewLogger(config.Log{Level: "error"}, &buf)
	quiet.ErrorContext(gone, "request error", "oidc_error", canceled)
	if buf.Len() != 0 {
		t.Errorf("logged at level error: %q", buf.String())
	}
}
