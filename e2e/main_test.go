// Package e2e tests the provider the way its users meet it: a real server
// on a TCP port, a relying party built from go-oidc and x/oauth2, and a
// browser (an HTTP client that reads forms by their labels, and headless
// Chromium for the passkey pages).
package e2e

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/communityidp/idp/idp/server"
	"github.com/communityidp/idp/idp/testskip"
)

// logs holds everything the providers under test logged, so that the run
// can be checked for leaked secrets at the end.
var logs lockedBuffer

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// secrets are values that must never appear in a log: passwords, client
// secrets, and every token and code the tests receive.
var secrets = struct {
	sync.Mutex
	list []string
}{list: []string{alicePassword, adminPassword, siteSecret, otherSecret, "bob password 123", "recovered passphrase 1"}}

// remember adds a secret to look for.
func remember(s string) {
	if len(s) < 12 {
		return
	}
	secrets.Lock()
	secrets.list = append(secrets.list, s)
	secrets.Unlock()
}

func TestMain(m *testing.M) {
	var out io.Writer = &logs
	if os.Getenv("IDP_TEST_LOG") != "" {
		out = io.MultiWriter(&logs, os.Stderr)
	}
	// The provider's own redaction (server.NewLogger) over a text handler
	// at debug level: every line a provider may log is looked at.
	slog.SetDefault(slog.New(server.Redact(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	code := testskip.Main(m)
	if code == 0 {
		text := logs.String()
		for _, s := range secrets.list {
			if strings.Contains(text, s) {
				fmt.Fprintf(os.Stderr, "FAIL: a secret (%.6s…) appears in the logs of the test run\n", s)
				code = 1
			}
		}
	}
	os.Exit(code)
}
