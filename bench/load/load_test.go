package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/server"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/users"
)

const (
	benchClient   = "bench-site"
	benchSecret   = "bench-secret-0123456789abcdefghijklmnop"
	benchRedirect = "http://127.0.0.1/callback"
)

// startProvider runs a provider in-process, on SQLite, with two members.
func startProvider(t testing.TB) string {
	issuer, _ := startProviderStore(t)
	return issuer
}

// startProviderStore is startProvider, with the provider's store.
func startProviderStore(t testing.TB) (string, store.Store) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg := config.Default()
	cfg.Issuer = "http://localhost:" + strings.TrimPrefix(addr, "127.0.0.1:")
	cfg.Listen = addr
	cfg.Database = config.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "idp.db")}
	cfg.Log.Level = "error"
	cfg.Passkeys.Rollout = config.RolloutEveryone
	// One address doing what a whole community does (as in bench/run.sh):
	// the per-address rates would refuse it within seconds.
	cfg.Throttle.IdentifierPerMinute, cfg.Throttle.AuthorizePerMinute, cfg.Throttle.CeremonyPerMinute = 0, 0, 0
	cfg.Clients = []config.Client{{ID: benchClient, Name: "Bench", Type: config.ClientConfidential, Secret: benchSecret,
		RedirectURIs: []string{benchRedirect}}}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, cfg, st, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bench1", "bench2"} {
		hash, err := password.Hash("bench password " + name)
		if err != nil {
			t.Fatal(err)
		}
		u, err := users.New(users.Input{Username: name, Email: name + "@example.org", PasswordHash: hash}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	return cfg.Issuer, st
}

func writeUsers(t testing.TB, lines string) string {
	p := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(p, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The smoke run CI does: every scenario, a moment each, no errors.
func TestSmokeAllScenarios(t *testing.T) {
	issuer := startProvider(t)
	usersFile := writeUsers(t, "# login:password\nbench1:bench password bench1\nbench2@example.org:bench password bench2\n")
	var out bytes.Buffer
	code, err := run(t.Context(), []string{"-issuer", issuer, "-client-id", benchClient, "-client-secret", benchSecret,
		"-redirect-uri", benchRedirect, "-users", usersFile, "-workers", "2", "-duration", "700ms"}, &out)
	t.Log("\n" + out.String())
	if code != 0 || err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	for _, s := range allScenarios {
		row := ""
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, s+" ") {
				row = line
			}
		}
		f := strings.Fields(row)
		if len(f) < 9 || f[2] == "0" || f[8] != "0" {
			t.Errorf("scenario %s: row %q: want operations and no errors", s, row)
			continue
		}
		// A sign-in flow's token requests have a row of their own, right
		// under it: one per flow.
		if strings.HasPrefix(s, "authcode-") {
			_, after, _ := strings.Cut(out.String(), row+"\n")
			next, _, _ := strings.Cut(after, "\n")
			if tf := strings.Fields(next); len(tf) < 7 || tf[0] != "token" || tf[1] != f[2] {
				t.Errorf("scenario %s: %q under %q, want the token requests of its %s flows", s, next, row, f[2])
			}
		}
	}
}

// A failing flow makes the tool fail: a wrong password is an error, not a
// fast answer.
func TestErrorsExitNonZero(t *testing.T) {
	issuer := startProvider(t)
	var out bytes.Buffer
	code, err := run(t.Context(), []string{"-issuer", issuer, "-client-id", benchClient, "-client-secret", benchSecret,
		"-redirect-uri", benchRedirect, "-user", "bench1", "-password", "not the password",
		"-scenarios", "authcode-password", "-workers", "1", "-duration", "300ms"}, &out)
	if code != 1 || err == nil || !strings.Contains(out.String(), "error: password") {
		t.Fatalf("exit %d, %v:\n%s", code, err, out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-client-id", "x", "-scenarios", "nope"},
		{"-client-id", "x", "-scenarios", "refresh"},
		{"-client-id", "x", "-scenarios", "introspect", "-user", "a", "-password", "b", "-redirect-uri", "http://127.0.0.1/cb"},
		{"-client-id", "x", "-workers", "0"},
	} {
		code, err := run(t.Context(), args, &bytes.Buffer{})
		if code != 2 || err == nil {
			t.Errorf("run(%q) = %d, %v; want a usage error", args, code, err)
		}
	}
}

// bench/pair.sh names the bad input and stops before building anything.
func TestPairScriptRefusesBadInput(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, "usage: bench/pair.sh"},
		{nil, []string{"a", "b", "c"}, "usage: bench/pair.sh"},
		{[]string{"PAIRS=0"}, []string{"HEAD"}, "PAIRS=0: want a whole number"},
		{[]string{"PAIRS=ten"}, []string{"HEAD"}, "PAIRS=ten: want a whole number"},
		{nil, []string{"no-such-revision-here"}, "no-such-revision-here: not a commit"},
	} {
		cmd := exec.Command("bash", append([]string{"../pair.sh"}, tc.args...)...)
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v bench/pair.sh %q: %v\n%s\nwant exit 2 and %q", tc.env, tc.args, err, out, tc.want)
		}
	}
}

func TestMain(m *testing.M) {
	// The provider logs every request; the tool's own output is the point.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}
