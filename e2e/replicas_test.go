package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/communityidp/idp/idp/store/pgtest"
)

// buildIDP compiles the real command once per test binary.
var buildIDP = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "idp-e2e-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "idp")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/idp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// replica is one `idp serve` process.
type replica struct {
	name string
	addr string
	cmd  *exec.Cmd
	logs *strings.Builder
}

// startReplica runs `idp serve` on addr with the configuration file and
// waits until it is ready.
func startReplica(t *testing.T, bin, name, cfgFile, addr string) *replica {
	t.Helper()
	r := &replica{name: name, addr: addr, logs: &strings.Builder{}}
	r.cmd = exec.Command(bin, "serve", "--config", cfgFile)
	r.cmd.Env = append(os.Environ(), "IDP_LISTEN="+addr)
	var mu sync.Mutex
	pipe, _ := r.cmd.StderrPipe()
	r.cmd.Stdout = io.Discard
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			mu.Lock()
			r.logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- r.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("replica %s logs:\n%s", name, r.logs.String())
			mu.Unlock()
		}
	})
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
	}
	t.Fatalf("replica %s did not become ready:\n%s", name, r.logs.String())
	return nil
}

// balancer is the load balancer in front of the replicas: the issuer's
// address. route picks the replica for each request, so a test decides
// which one serves each step.
type balancer struct {
	URL    string
	mu     sync.Mutex
	route  func(r *http.Request) string // returns a replica's host:port
	served map[string][]string          // replica addr -> paths
}

func newBalancer(t *testing.T) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{URL: "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:"), served: map[string][]string{}}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		b.mu.Lock()
		target := b.route(pr.In)
		b.served[target] = append(b.served[target], pr.In.Method+" "+pr.In.URL.Path)
		b.mu.Unlock()
		pr.SetURL(&url.URL{Scheme: "http", Host: target})
		pr.Out.Host = pr.In.Host // the provider sees the public host
		pr.SetXForwarded()
	}}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *balancer) setRoute(f func(r *http.Request) string) {
	b.mu.Lock()
	b.route = f
	b.mu.Unlock()
}

// servedBy reports whether the replica at addr served method+path.
func (b *balancer) servedBy(addr, request string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.served[addr] {
		if s == request {
			return true
		}
	}
	return false
}

// Two `idp serve` processes share one PostgreSQL database behind a load
// balancer without sticky sessions: every step of a flow may land on
// either replica.
func TestReplicasShareEverything(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	bin, err := buildIDP()
	if err != nil {
		t.Fatal(err)
	}
	lb := newBalancer(t)
	app := newRPApp(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "idp.yaml")
	cfg := fmt.Sprintf(`issuer: %s
database: {driver: postgres, dsn: %q}
log: {level: info}
clients:
  - {id: %s, type: confidential, secret_hash: %q, redirect_uris: [%s], grant_types: [authorization_code, refresh_token]}
  - {id: %s, type: public, redirect_uris: [%s]}
`, lb.URL, dsn, rpClientID, siteSecretHash(), app.URL+"/callback", appID, appRedirect)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The admin account is created with the CLI against the shared database.
	add := exec.Command(bin, "users", "add", "--config", cfgFile, "--username", adminLogin, "--email", "admin@example.org",
		"--admin", "--password-stdin")
	add.Stdin = strings.NewReader(adminPassword)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("users add: %v %s", err, out)
	}
	a := startReplica(t, bin, "A", cfgFile, freeAddr(t))
	b := startReplica(t, bin, "B", cfgFile, freeAddr(t))

	// Steps that change state are sent to B; everything else to A.
	onB := map[string]bool{"/oauth/token": true, "/webauthn/register/finish": true, "/logout": true}
	lb.setRoute(func(r *http.Request) string {
		if onB[r.URL.Path] && r.Method == http.MethodPost {
			return b.addr
		}
		return a.addr
	})

	// Sign in with a password on A; code exchange and refresh on B;
	// userinfo on A.
	remote := &provider{t: t, URL: lb.URL, clock: newClock()}
	site := newRP(t, remote, appID, "", appRedirect, oauth2.AuthStyleInParams, oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess)
	verifier := oauth2.GenerateVerifier()
	browser := newBrowser(t, remote)
	back := browser.signIn(site.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), adminLogin, adminPassword)
	tok, idt := site.exchange(mustNoError(t, back), oauth2.VerifierOption(verifier))
	st, body, _ := tokenCall(t, lb.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {appID}}, "", "")
	if st != 200 {
		t.Fatalf("refresh on B: %d %v", st, body)
	}
	if st, info, _ := userinfo(t, remote, body["access_token"].(string)); st != 200 || info["sub"] != idt.Subject {
		t.Fatalf("userinfo on A with B's token: %d %v", st, info)
	}
	if !lb.servedBy(a.addr, "POST /login/password") || !lb.servedBy(b.addr, "POST /oauth/token") || !lb.servedBy(a.addr, "GET /userinfo") {
		t.Fatalf("routing did not happen as planned: %v", lb.served)
	}

	// A passkey registration begun on A is finished on B; signing in with
	// it works; signing out on B ends the session A sees.
	app.start(remote)
	c := newChrome(t)
	c.presence(false)
	c.signInWithPassword(app, adminLogin, adminPassword)
	c.waitFor("Signed in as admin") // "Not now" was answered above: no suggestion
	c.presence(true)
	c.addPasskey(remote, "Office Laptop")
	if !lb.servedBy(a.addr, "POST /webauthn/register/begin") || !lb.servedBy(b.addr, "POST /webauthn/register/finish") {
		t.Fatalf("the ceremony did not span the replicas: %v", lb.served)
	}
	c.signOut(remote)
	if !lb.servedBy(b.addr, "POST /logout") {
		t.Fatal("sign-out was not served by B")
	}
	// The sign-in page's autofill would sign in with the passkey at once
	// while presence is on: off first, so A's page is seen as it is.
	c.presence(false)
	c.open(lb.URL + "/settings") // on A
	c.waitFor("Email or username")
	c.open(app.URL + "/login")
	c.fill("Email or username", adminLogin)
	c.click("Continue")
	c.presence(true)
	c.click("Sign in with a passkey")
	c.waitFor("Signed in as admin")
	c.waitFor("amr: hwk user mfa")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
