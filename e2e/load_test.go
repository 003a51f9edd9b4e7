package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/idp/formclient"
	"github.com/communityidp/idp/idp/passkey/softauthn"
)

// This file holds what the crash and backup tests share: a provider
// process on SQLite, and clients that report errors instead of failing the
// test. They run in goroutines, where t.Fatal is not allowed, and their
// requests are expected to fail once the provider is killed.

const loadPassword = "load test password 123"

// sqliteProcess is `idp serve` on a SQLite file, with its configuration.
type sqliteProcess struct {
	bin, dir, cfgFile, db, addr, issuer string
}

// newSQLiteProcess writes a configuration for a provider on a SQLite file
// in a fresh directory: the community site (confidential, refresh tokens)
// and passkeys for everyone. It does not start the provider.
func newSQLiteProcess(t *testing.T) *sqliteProcess {
	t.Helper()
	bin, err := buildIDP()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	s := &sqliteProcess{bin: bin, dir: dir, cfgFile: filepath.Join(dir, "idp.yaml"), db: filepath.Join(dir, "idp.db"), addr: addr,
		issuer: "http://localhost:" + strings.TrimPrefix(addr, "127.0.0.1:")}
	cfg := fmt.Sprintf(`issuer: %s
listen: %s
database: {driver: sqlite, dsn: %q}
log: {level: warn}
passkeys: {rollout: everyone}
# The kill test's clients retry a refresh whose answer the kill cut off.
tokens: {refresh_token_reuse_interval: 30s}
clients:
  - {id: %s, type: confidential, secret_hash: %q, redirect_uris: [%s], grant_types: [authorization_code, refresh_token]}
`, s.issuer, addr, s.db, siteID, siteSecretHash(), siteRedirect)
	if err := os.WriteFile(s.cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *sqliteProcess) start(t *testing.T, name string) *replica {
	t.Helper()
	return startReplica(t, s.bin, name, s.cfgFile, s.addr)
}

// idp runs a command of the binary against the configuration.
func (s *sqliteProcess) idp(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = append(os.Environ(), "IDP_CONFIG="+s.cfgFile)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("idp %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// addMember creates a member with loadPassword through the CLI.
func (s *sqliteProcess) addMember(ctx context.Context, username string) error {
	_, err := s.idp(ctx, loadPassword, "users", "add", "--username", username, "--email", username+"@example.org", "--password-stdin")
	return err
}

// kill ends the provider with SIGKILL (kill -9): no shutdown, no
// checkpoint, whatever was in flight is cut off.
func kill(t *testing.T, r *replica) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = r.cmd.Wait() // "signal: killed"; the locks and the port are free once it returns
}

// column opens the SQLite file read-only (as a second process would,
// while the provider may be running), runs q and returns the first column
// of every row as text.
func column(t *testing.T, db, q string, args ...any) map[string]bool {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out[string(v)] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// integrityOK fails the test unless PRAGMA integrity_check says "ok".
func integrityOK(t *testing.T, db string) {
	t.Helper()
	got := column(t, db, "PRAGMA integrity_check")
	if len(got) != 1 || !got["ok"] {
		t.Fatalf("PRAGMA integrity_check on %s: %v", db, got)
	}
}

// loadClient is one browser plus the site's OAuth client, reporting
// errors instead of failing.
type loadClient struct {
	issuer string
	http   *http.Client
	oauth  oauth2.Config
}

// siteOAuth discovers the provider and returns the site's client
// configuration.
func siteOAuth(t *testing.T, issuer string) oauth2.Config {
	t.Helper()
	op, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := op.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return oauth2.Config{ClientID: siteID, ClientSecret: siteSecret, Endpoint: ep, RedirectURL: siteRedirect,
		Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
}

func newLoadClient(issuer string, oauth oauth2.Config) *loadClient {
	jar, _ := cookiejar.New(nil)
	return &loadClient{issuer: issuer, oauth: oauth, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       15 * time.Second,
	}}
}

// do follows redirects while they stay on the provider, like browser.do.
func (c *loadClient) do(req *http.Request) (*result, error) {
	p, err := formclient.Navigate(c.http, c.issuer, req)
	if err != nil {
		return nil, err
	}
	return &result{page: p}, nil
}

func (c *loadClient) get(u string) (*result, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return c.do(req)
}

// submit sends the form holding the button labelled button, fields set by
// their labels, as browser.Submit does.
func (c *loadClient) submit(p *page, button string, fields map[string]string) (*result, error) {
	form, values, err := p.Fill(button, fields)
	if err != nil {
		return nil, fmt.Errorf("%w (%d): %.200s", err, p.Status, p.Text())
	}
	next, err := formclient.Submit(c.http, c.issuer, p, form, values)
	if err != nil {
		return nil, err
	}
	return &result{page: next}, nil
}

// passwordSteps answers the sign-in pages with a password, from the page
// that asks for the account.
func (c *loadClient) passwordSteps(r *result, login, pw string) (*result, error) {
	if r.Away != nil {
		return r, nil
	}
	if !strings.Contains(r.Text(), "Email or username") {
		return nil, fmt.Errorf("expected the sign-in page, got %d: %.200s", r.Status, r.Text())
	}
	r, err := c.submit(r.page, "Continue", map[string]string{"Email or username": login})
	if err != nil {
		return nil, err
	}
	if r.Away == nil && strings.Contains(r.Text(), "Use Password") {
		if r, err = c.submit(r.page, "Use Password", nil); err != nil {
			return nil, err
		}
	}
	if r.Away != nil {
		return r, nil
	}
	if r, err = c.submit(r.page, "Sign in", map[string]string{"Password": pw}); err != nil {
		return nil, err
	}
	if r.Away == nil && strings.Contains(r.Text(), "Sign in faster with a passkey") {
		return c.submit(r.page, "Not now", nil)
	}
	return r, nil
}

// signIn runs the site's code flow with a password and redeems the code:
// a member signing in to the site.
func (c *loadClient) signIn(ctx context.Context, login, pw string) (*oauth2.Token, error) {
	verifier := oauth2.GenerateVerifier()
	r, err := c.get(c.oauth.AuthCodeURL("load", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		return nil, err
	}
	if r, err = c.passwordSteps(r, login, pw); err != nil {
		return nil, err
	}
	if r.Away == nil {
		return nil, fmt.Errorf("sign-in of %s did not return to the site: %d %.200s", login, r.Status, r.Text())
	}
	code := r.Away.Query().Get("code")
	if code == "" {
		return nil, fmt.Errorf("sign-in of %s: no code in %s", login, r.Away.Redacted())
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	tok, err := c.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("code exchange for %s: %w", login, err)
	}
	if tok.RefreshToken == "" {
		return nil, fmt.Errorf("code exchange for %s: no refresh token", login)
	}
	return tok, nil
}

// refresh redeems a refresh token and returns the new one. status is 0
// when no answer came.
func (c *loadClient) refresh(rt string) (newRT string, status int, err error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, _ := http.NewRequest(http.MethodPost, c.oauth.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(siteID, siteSecret)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", resp.StatusCode, fmt.Errorf("refresh: %d, unreadable answer: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || body.RefreshToken == "" {
		return "", resp.StatusCode, fmt.Errorf("refresh: %d %s %s", resp.StatusCode, body.Error, body.Description)
	}
	return body.RefreshToken, resp.StatusCode, nil
}

// signInToSettings signs in on the provider's own pages, as a member
// about to manage passkeys.
func (c *loadClient) signInToSettings(login, pw string) error {
	r, err := c.get(c.issuer + "/login")
	if err != nil {
		return err
	}
	if r, err = c.passwordSteps(r, login, pw); err != nil {
		return err
	}
	if r.Away != nil || !strings.HasPrefix(r.URL.Path, "/settings") {
		return fmt.Errorf("sign-in of %s ended at %v %v: %.200s", login, r.URL, r.Away, r.Text())
	}
	return nil
}

// PostJSON calls a JSON endpoint as the page script does.
func (c *loadClient) PostJSON(path, csrf string, body, out any) error {
	return formclient.PostJSON(c.http, c.issuer, path, csrf, body, out)
}

// addPasskey registers a new passkey from a new authenticator (a new
// device) as the Settings page script does, and returns its credential
// ID once the provider confirmed it.
func (c *loadClient) addPasskey() (*softauthn.Authenticator, []byte, error) {
	settings, err := c.get(c.issuer + "/settings/passkeys")
	if err != nil {
		return nil, nil, err
	}
	a := softauthn.New(c.issuer)
	if _, err := a.Register(c, csrfOf(settings.page), "settings"); err != nil {
		return nil, nil, err
	}
	return a, a.Credentials()[0], nil
}

// signInWithPasskey signs in on the provider's pages with the
// authenticator's passkey.
func (c *loadClient) signInWithPasskey(login string, a *softauthn.Authenticator) error {
	r, err := c.get(c.issuer + "/login")
	if err != nil {
		return err
	}
	_, err = a.SignIn(c, r.page.Script("passkey-options"), csrfOf(r.page), login, "")
	return err
}
