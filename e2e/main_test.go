// Package e2e tests the provider the way its users meet it: a real server
// on a TCP port, a relying party built from go-oidc and x/oauth2, and a
// browser (an HTTP client that reads forms by their labels, and headless
// Chromium for the passkey pages).
package e2e

import (
	"io"
	"log/slog"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The provider logs every request; show the logs only when asked.
	if os.Getenv("IDP_TEST_LOG") == "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}
