package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/store"
)

// runCLI runs one command in-process with the given standard input.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, env: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}
	code := c.run(context.Background(), args)
	return code, out.String(), errb.String()
}

// writeConfig writes a configuration with a SQLite file in a temp dir.
func writeConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "idp.yaml")
	body := fmt.Sprintf("issuer: http://localhost:9000\nlisten: 127.0.0.1:0\ndatabase: {driver: sqlite, dsn: %s}\n%s",
		filepath.Join(dir, "idp.db"), extra)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsersCommands(t *testing.T) {
	cfg := writeConfig(t, "")
	add := func(stdin string, args ...string) (int, string, string) {
		return runCLI(t, nil, stdin, append([]string{"users", "add", "--config", cfg}, args...)...)
	}
	if code, out, errs := add("a long enough password\n", "--username", "Alice", "--email", "Alice@Example.org", "--name", "Alice A", "--admin", "--password-stdin"); code != 0 {
		t.Fatalf("users add: %d %s %s", code, out, errs)
	}
	code, _, errs := add("another password 123", "--username", "alice", "--email", "other@example.org", "--password-stdin")
	if code != 1 || !strings.Contains(errs, "--username") || !strings.Contains(errs, "already used") {
		t.Fatalf("duplicate username: %d %q", code, errs)
	}
	code, _, errs = add("another password 123", "--username", "bob", "--email", "ALICE@example.org", "--password-stdin")
	if code != 1 || !strings.Contains(errs, "--email") {
		t.Fatalf("duplicate email: %d %q", code, errs)
	}
	code, _, errs = add("short", "--username", "bob", "--email", "bob@example.org", "--password-stdin")
	if code != 1 || !strings.Contains(errs, "at least 8") {
		t.Fatalf("short password: %d %q", code, errs)
	}
	code, _, errs = add("", "--username", "bob", "--email", "bob@example.org")
	if code != 2 || !strings.Contains(errs, "--password-stdin") {
		t.Fatalf("no --password-stdin: %d %q", code, errs)
	}
	code, _, errs = add("a long enough password", "--username", "b@d", "--email", "bob@example.org", "--password-stdin")
	if code != 1 || !strings.Contains(errs, "--username") {
		t.Fatalf("bad username: %d %q", code, errs)
	}

	code, out, _ := runCLI(t, nil, "", "users", "list", "--config", cfg)
	if code != 0 || !regexp.MustCompile(`alice\s+alice@example.org\s+Alice A\s+admin\s+active`).MatchString(out) {
		t.Fatalf("users list: %d\n%s", code, out)
	}
	if code, _, errs := runCLI(t, nil, "", "users", "disable", "--config", cfg, "alice"); code != 0 {
		t.Fatalf("disable: %s", errs)
	}
	_, out, _ = runCLI(t, nil, "", "users", "list", "--config", cfg, "--json")
	if !strings.Contains(out, `"disabled":true`) {
		t.Fatalf("disabled account listed as %s", out)
	}
	if code, _, errs := runCLI(t, nil, "", "users", "enable", "--config", cfg, "--username", "alice@example.org"); code != 0 {
		t.Fatalf("enable: %s", errs)
	}
	if code, _, errs := runCLI(t, nil, "new password 456\n", "users", "set-password", "--config", cfg, "--username", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("set-password: %s", errs)
	}
	if code, _, errs := runCLI(t, nil, "new password 456\n", "users", "set-password", "--config", cfg, "--username", "nobody", "--password-stdin"); code != 1 || !strings.Contains(errs, "no account") {
		t.Fatalf("set-password of an unknown account: %d %s", code, errs)
	}
}

func TestHashSecret(t *testing.T) {
	code, out, _ := runCLI(t, nil, "0123456789abcdef0123456789abcdef\n", "clients", "hash-secret")
	if code != 0 {
		t.Fatal(out)
	}
	hash := strings.TrimSpace(out)
	if ok, _, err := password.Verify(hash, "0123456789abcdef0123456789abcdef"); err != nil || !ok {
		t.Fatalf("hash %q does not verify: %v", hash, err)
	}
	// The printed hash is usable as secret_hash.
	cfg := writeConfig(t, fmt.Sprintf("clients:\n  - {id: site, type: confidential, secret_hash: %q, redirect_uris: [https://site.example/cb]}\n", hash))
	if code, out, errs := runCLI(t, nil, "", "config", "check", "--config", cfg); code != 0 {
		t.Fatalf("config with the printed hash: %s %s", out, errs)
	}
	if code, _, errs := runCLI(t, nil, "short", "clients", "hash-secret"); code != 1 || !strings.Contains(errs, "at least 16") {
		t.Fatalf("short secret: %d %s", code, errs)
	}
}

func TestConfigRefusedAtStart(t *testing.T) {
	cases := map[string]struct{ yaml, field string }{
		"typo in a key":                      {"clients:\n  - {id: site, type: confidential, secret: 0123456789abcdef0123, redirect_uri: [https://site.example/cb]}\n", "clients[0].redirect_uri"},
		"client without redirect URIs":       {"clients:\n  - {id: site, type: confidential, secret: 0123456789abcdef0123}\n", "clients[0].redirect_uris"},
		"public client with a secret":        {"clients:\n  - {id: app, type: public, secret: 0123456789abcdef0123, redirect_uris: [com.example.app:/cb]}\n", "clients[0].secret"},
		"RP ID that does not fit the issuer": {"passkeys: {rp_id: example.com}\n", "passkeys.rp_id"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := writeConfig(t, c.yaml)
			for _, cmd := range [][]string{{"serve", "--config", cfg}, {"config", "check", "--config", cfg}} {
				code, _, errs := runCLI(t, nil, "", cmd...)
				if code != 1 || !strings.Contains(errs, c.field+":") {
					t.Errorf("%v: exit %d, stderr %q; want 1 naming %s", cmd, code, errs, c.field)
				}
			}
			// IDP_CONFIG is honoured like --config.
			code, _, errs := runCLI(t, map[string]string{"IDP_CONFIG": cfg}, "", "config", "check")
			if code != 1 || !strings.Contains(errs, c.field) {
				t.Errorf("IDP_CONFIG: exit %d %q", code, errs)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	if code, _, errs := runCLI(t, nil, "", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %s", code, errs)
	}
	if code, out, _ := runCLI(t, nil, "", "help"); code != 0 || !strings.Contains(out, "serve") {
		t.Fatalf("help: %d %s", code, out)
	}
	if code, _, _ := runCLI(t, nil, "", "users", "list", "--bogus"); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

// Every command and subcommand answers -h and --help with its usage on
// standard output, exit 0; --version prints the version; bare idp prints
// the usage on standard error, exit 2.
func TestHelpEverywhere(t *testing.T) {
	subs := map[string][]string{
		"users":   {"add", "list", "set-password", "disable", "enable", "invite", "import"},
		"clients": {"hash-secret"},
		"config":  {"check"},
		"keys":    {"list", "rotate"},
		"secrets": {"rotate-kek", "rotate"},
		"audit":   {"export"},
	}
	for _, cmd := range commands() {
		lines := [][]string{{cmd.name}}
		for _, sub := range subs[cmd.name] {
			lines = append(lines, []string{cmd.name, sub})
		}
		if cmd.subcommands != "" && len(subs[cmd.name]) == 0 {
			t.Errorf("%s has subcommands the test does not know", cmd.name)
		}
		for _, line := range lines {
			for _, h := range []string{"-h", "--help"} {
				args := append(append([]string{}, line...), h)
				code, out, errs := runCLI(t, nil, "", args...)
				if code != 0 || !strings.Contains(out, "usage:") || errs != "" {
					t.Errorf("idp %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errs)
				}
			}
		}
	}
	if code, out, _ := runCLI(t, nil, "", "--version"); code != 0 || !strings.HasPrefix(out, "idp ") {
		t.Errorf("idp --version: %d %q", code, out)
	}
	if code, out, errs := runCLI(t, nil, "", "keys", "list", "-h"); code != 0 || strings.Contains(out, "-alg") || errs != "" {
		t.Errorf("idp keys list -h documents flags of rotate: %q", out)
	}
	if code, out, errs := runCLI(t, nil, ""); code != 2 || out != "" || !strings.Contains(errs, "Usage: idp <command>") {
		t.Errorf("bare idp: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, nil, "", "users", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown subcommand") {
		t.Errorf("unknown subcommand: exit %d %q", code, errs)
	}
}

// buildBinary compiles the real command once per test run.
// buildBinary returns the idp binary, built once per test run: static,
// stamped with the git revision (-buildvcs=auto: GOFLAGS may turn stamping
// off) and with -X main.version=9.9.9-test, as the Dockerfile passes one.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

var binaryDir string

var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "idp-bin-")
	if err != nil {
		return "", err
	}
	binaryDir = dir
	bin := filepath.Join(dir, "idp")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=auto", "-ldflags", "-s -w -X main.version=9.9.9-test", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort().String()
}

// The real binary, started with no configuration file in an empty
// directory, serves a working provider on SQLite, prints the one-time setup
// link, lets the first person create the admin account in the browser,
// passes its own healthcheck, and shuts down cleanly on SIGTERM.
func TestServeWithoutConfig(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freePort(t)
	issuer := "http://localhost:" + strings.TrimPrefix(addr, "127.0.0.1:")
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	// Only the address is moved off the default 8080, so parallel runs
	// cannot collide; everything else is the no-config default.
	cmd.Env = append(os.Environ(), "IDP_LISTEN="+addr, "IDP_ISSUER="+issuer, "IDP_CONFIG=")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	link := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, issuer+"/setup?token=") {
			link = l
			break
		}
	}
	if link == "" {
		t.Fatalf("no setup link printed; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	// The example clients are registered: the example site's client
	// authenticates with the secret its README line gives it.
	tokenReq, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader("grant_type=authorization_code&code=nope"))
	tokenReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tokenReq.SetBasicAuth("community-site", "example-only-community-site-secret-2a8f")
	if resp, err := http.DefaultClient.Do(tokenReq); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte("invalid_grant")) {
			t.Errorf("the example site's client at the token endpoint: %d %s (want invalid_grant for the made-up code, not invalid_client)", resp.StatusCode, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "idp.db")); err != nil {
		t.Fatalf("no idp.db in the working directory: %v", err)
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil || !bytes.Contains(body, []byte("Create the admin account")) {
		t.Fatalf("setup page: %d %s", resp.StatusCode, body)
	}
	token := strings.TrimPrefix(link, issuer+"/setup?token=")
	form := url.Values{"csrf_token": {string(m[1])}, "token": {token}, "username": {"admin"}, "email": {"admin@example.org"},
		"name": {"Site Admin"}, "password": {"a good long password"}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/setup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", issuer)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings" {
		t.Fatalf("create admin: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = client.Get(issuer + "/settings")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("admin@example.org")) {
		t.Fatalf("settings after setup: %d %s", resp.StatusCode, body)
	}
	// The link worked once.
	resp, _ = client.Get(link)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("setup link reused: %d", resp.StatusCode)
	}

	hc := exec.Command(bin, "healthcheck")
	hc.Dir = dir
	hc.Env = append(os.Environ(), "IDP_LISTEN="+addr, "IDP_CONFIG=")
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("healthcheck: %v %s", err, out)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Fatalf("no shutdown log:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), `clients="community-site, mobile-app"`) {
		t.Errorf("the example clients were not announced:\n%s", stderr.String())
	}

	// The account is in the working directory's database.
	list := exec.Command(bin, "users", "list")
	list.Dir = dir
	list.Env = append(os.Environ(), "IDP_CONFIG=")
	out, err := list.CombinedOutput()
	if err != nil || !regexp.MustCompile(`admin\s+admin@example.org\s+Site Admin\s+admin`).Match(out) {
		t.Fatalf("users list after setup: %v\n%s", err, out)
	}
}

// idp audit export writes the selected events as JSON lines; a bad date
// names the flag.
func TestAuditExport(t *testing.T) {
	cfg := writeConfig(t, "")
	if code, _, errs := runCLI(t, nil, "", "migrate", "--config", cfg); code != 0 {
		t.Fatalf("migrate: %s", errs)
	}
	st := openStore(t, cfg)
	for _, e := range []store.AuditEvent{
		{At: time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC), Kind: "signin.success", Method: "password", Result: "ok"},
		{At: time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC), Kind: "signin.failure", Method: "passkey", Result: "failure", Code: "PK-CANCELLED"},
		{At: time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC), Kind: "signin.success", Method: "passkey", Result: "ok"},
	} {
		if err := st.AppendAudit(context.Background(), &e); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	code, out, errs := runCLI(t, nil, "", "audit", "export", "--config", cfg, "--since", "2026-11-01")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(out, `"PK-CANCELLED"`) || strings.Contains(out, "2026-10-30") {
		t.Fatalf("export --since: %d %q %s", code, out, errs)
	}
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
	}
	code, out, _ = runCLI(t, nil, "", "audit", "export", "--config", cfg, "--kind", "signin.failure")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "PK-CANCELLED") {
		t.Fatalf("export --kind: %d %q", code, out)
	}
	code, _, errs = runCLI(t, nil, "", "audit", "export", "--config", cfg, "--since", "yesterday")
	if code == 0 || !strings.Contains(errs, "--since") {
		t.Fatalf("bad --since: %d %s", code, errs)
	}
}
