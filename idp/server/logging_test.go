package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"
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
