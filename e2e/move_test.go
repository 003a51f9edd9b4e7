package e2e

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/store/pgtest"
)

// Moving from SQLite to PostgreSQL with idp export / idp import keeps
// everything members and clients rely on: the member signs in with the
// same passkey, an old refresh token still refreshes, the browser stays
// signed in.
func TestMoveSQLiteToPostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	bin, err := buildIDP()
	if err != nil {
		t.Fatal(err)
	}
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	key := softauthn.New(p.URL)
	b := newBrowser(t, p)
	signInPage(t, b, p, aliceLogin, alicePassword)
	if st, body := b.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, "openid", "offline_access")
	tok, idt := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	p.stop()

	// Export with the SQLite configuration, import with the PostgreSQL one.
	dir := t.TempDir()
	// Both sides hold the same key-encryption key: the dump carries the
	// secrets sealed under it.
	kek := fmt.Sprintf("secrets: {key: %q}\n", p.cfg.Secrets.Key)
	sqliteCfg := writeYAML(t, dir, "sqlite.yaml", fmt.Sprintf("issuer: %s\ndatabase: {driver: sqlite, dsn: %q}\n", p.URL, p.cfg.Database.DSN)+kek)
	pgCfg := writeYAML(t, dir, "pg.yaml", fmt.Sprintf("issuer: %s\ndatabase: {driver: postgres, dsn: %q}\n", p.URL, dsn)+kek)
	dump := filepath.Join(dir, "dump.jsonl")
	runIDP(t, bin, "", "export", "--config", sqliteCfg, "--output", dump)
	out := runIDP(t, bin, "", "import", "--config", pgCfg, "--input", dump)
	if !strings.Contains(out, "1 passkey") || !strings.Contains(out, "secret") {
		t.Fatalf("import said %q", out)
	}
	// A second import is refused: the database has data now.
	cmd := exec.Command(bin, "import", "--config", pgCfg, "--input", dump)
	if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), "--wipe") {
		t.Fatalf("import into a non-empty database: %v %s", err, msg)
	}

	p.cfg.Database = config.Database{Driver: "postgres", DSN: dsn}
	p.restart()

	// The old refresh token refreshes, the access token still works.
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret)
	if st != 200 {
		t.Fatalf("old refresh token after the move: %d %v", st, body)
	}
	if st, info, _ := userinfo(t, p, tok.AccessToken); st != 200 || info["sub"] != idt.Subject {
		t.Fatalf("old access token after the move: %d %v", st, info)
	}
	// The browser is still signed in.
	if r := b.Get(site.oauth.AuthCodeURL("again", oauth2.SetAuthURLParam("prompt", "none"))); r.Away == nil || oauthError(r.Away) != "" {
		t.Fatalf("session lost in the move: %v", r.Away)
	}
	// The same member signs in with the same passkey.
	fresh := newBrowser(t, p)
	page := fresh.Get(p.URL + "/login")
	csrf := csrfOf(page.page)
	st, begin := fresh.postJSON("/webauthn/login/begin", csrf, map[string]any{"login": aliceLogin})
	if st != 200 {
		t.Fatalf("begin after the move: %d %s", st, begin)
	}
	st, done := fresh.finishPasskeySignIn(csrf, key, begin)
	if st != 200 {
		t.Fatalf("passkey sign-in after the move: %d %s", st, done)
	}
}

func writeYAML(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runIDP(t *testing.T, bin, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("idp %v: %v\n%s", args, err, out)
	}
	return string(out)
}
