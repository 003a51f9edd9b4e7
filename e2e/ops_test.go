package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/doctor"
	"github.com/communityidp/idp/idp/passkey/softauthn"
	"github.com/communityidp/idp/idp/server"
)

// /metrics, on its own address, counts what a scripted run did.
func TestMetrics(t *testing.T) {
	metricsAddr := freeAddr(t)
	p := startProvider(t, func(c *config.Config) {
		c.Metrics.Listen = metricsAddr
		c.Passkeys.Rollout = config.RolloutEveryone
	})
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, "openid", "offline_access")
	b := newBrowser(t, p)
	tok, _ := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	if st, _, _ := tokenCall(t, p.URL+"/oauth/token", urlValues("grant_type", "refresh_token", "refresh_token", tok.RefreshToken), siteID, siteSecret); st != 200 {
		t.Fatal(st)
	}
	// One failed password sign-in.
	x := newBrowser(t, p)
	r := x.Get(p.URL + "/login")
	r = x.Submit(r.page, "Continue", map[string]string{"Email or username": aliceLogin})
	x.Submit(r.page, "Sign in", map[string]string{"Password": "wrong"})
	// A passkey added, one sign-in with it and one cancelled prompt.
	key := softauthn.New(p.URL)
	if st, body := b.addPasskeyHTTP(key); st != 200 {
		t.Fatalf("add passkey: %d %s", st, body)
	}
	pk := newBrowser(t, p)
	csrf := csrfOf(pk.Get(p.URL + "/login").page)
	_, begin := pk.postJSON("/webauthn/login/begin", csrf, map[string]any{"conditional": false})
	if st, done := pk.finishPasskeySignIn(csrf, key, begin); st != 200 {
		t.Fatalf("passkey sign-in: %d %s", st, done)
	}
	if st, _ := pk.reportFailure(csrf, "login", "PK-CANCELLED"); st >= 300 {
		t.Fatalf("report a cancelled prompt: %d", st)
	}

	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(raw)
			break
		}
	}
	for _, want := range []string{
		`idp_signins_total{method="pwd",result="ok"} 1`,
		`idp_signins_total{method="pwd",result="fail"} 1`,
		`idp_tokens_issued_total{grant="authorization_code"} 1`,
		`idp_passkey_ceremonies_total{kind="register",result="ok"} 1`,
		`idp_passkey_ceremonies_total{kind="login",result="ok"} 1`,
		`idp_passkey_ceremonies_total{kind="login",result="PK-CANCELLED"} 1`,
		`idp_tokens_issued_total{grant="refresh_token"} 1`,
		`idp_http_requests_total{method="POST",route="/oauth/token",status="200"} 2`,
		`idp_http_request_duration_seconds_count{route="/login/password"} 2`,
		`idp_store_operation_duration_seconds_count{op="issue_tokens"} 2`,
		`idp_created_total{what="auth_request"} 1`,
		`idp_created_total{what="ceremony"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The public port does not serve them.
	resp, _ := http.Get(p.URL + "/metrics")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public port: %d", resp.StatusCode)
	}
}

func urlValues(kv ...string) map[string][]string {
	v := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		v[kv[i]] = []string{kv[i+1]}
	}
	return v
}

// doctorConfig is the configuration the doctor reads: the provider's,
// with a synthetic test account on the public client.
func doctorConfig(p *provider) config.Config {
	cfg := p.cfg
	cfg.Doctor = config.Doctor{Username: aliceLogin, Password: alicePassword, ClientID: appID, RedirectURI: "http://127.0.0.1:1/callback"}
	return cfg
}

// idp doctor passes a healthy provider, and its synthetic sign-in works
// with the password and a software passkey registered on the first run.
func TestDoctorHealthy(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutEveryone })
	cfg := doctorConfig(p)
	for _, f := range doctor.Check(context.Background(), cfg, doctor.Options{Store: p.store}) {
		if !f.OK && !(f.Note && f.Check == "email") {
			t.Errorf("healthy provider: %s: %s", f.Check, f.Problem)
		}
	}
	state := server.SecretState{Store: p.store}
	for run := 1; run <= 2; run++ { // the second run reuses the passkey
		res := doctor.Synthetic(context.Background(), cfg, state)
		if !res.OK {
			t.Fatalf("synthetic run %d: %+v", run, res.Steps)
		}
		if len(res.Steps) != 4 {
			t.Fatalf("steps %+v", res.Steps)
		}
	}
	if pks, _ := p.store.PasskeysByUser(context.Background(), userID(t, p, aliceLogin)); len(pks) != 1 {
		t.Fatalf("the synthetic check registered %d passkeys, want 1", len(pks))
	}
}

// Planted problems are each reported with a fix; the synthetic check
// names the failing step.
func TestDoctorFindsProblems(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.Passkeys.Rollout = config.RolloutEveryone
		c.Passkeys.IOS = []config.IOSApp{{AppID: "ABCDE12345.com.example.app"}}
	})
	bad := doctorConfig(p)
	bad.Issuer = strings.Replace(p.URL, "localhost", "127.0.0.1", 1) // discovery will not match
	findings := doctor.Check(context.Background(), bad, doctor.Options{})
	if !failed(findings, "discovery matches the issuer") && !failed(findings, "configuration") {
		t.Errorf("wrong issuer not reported: %+v", findings)
	}
	// The iOS app of the doctor's configuration is not the one served.
	other := doctorConfig(p)
	other.Passkeys.IOS = []config.IOSApp{{AppID: "ZZZZZ99999.com.other.app"}}
	if !failed(doctor.Check(context.Background(), other, doctor.Options{}), "/.well-known/apple-app-site-association") {
		t.Error("mismatched apple-app-site-association not reported")
	}
	// A database that does not take writes.
	closedCfg := config.Default()
	closedCfg.Database.DSN = filepath.Join(t.TempDir(), "x.db")
	closed, err := server.OpenStore(context.Background(), closedCfg)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if !failed(doctor.Check(context.Background(), doctorConfig(p), doctor.Options{Store: closed}), "database writable") {
		t.Error("closed database not reported")
	}

	// Synthetic: a wrong redirect URI fails at the password sign-in, naming it.
	wrong := doctorConfig(p)
	wrong.Doctor.RedirectURI = "https://not-registered.example/cb"
	res := doctor.Synthetic(context.Background(), wrong, server.SecretState{Store: p.store})
	if res.OK || res.Steps[len(res.Steps)-1].Name != "sign in with the password" {
		t.Errorf("wrong redirect URI: %+v", res.Steps)
	}
}

// With passkeys switched off, the synthetic check fails at the passkey step.
func TestDoctorPasskeysOff(t *testing.T) {
	p := startProvider(t, func(c *config.Config) { c.Passkeys.Rollout = config.RolloutOff })
	res := doctor.Synthetic(context.Background(), doctorConfig(p), server.SecretState{Store: p.store})
	if res.OK || res.Steps[len(res.Steps)-1].Name != "passkey registration" {
		t.Fatalf("passkeys off: %+v", res.Steps)
	}
}

// The command: idp doctor prints each problem with its fix and exits 1.
func TestDoctorCommand(t *testing.T) {
	bin, err := buildIDP()
	if err != nil {
		t.Fatal(err)
	}
	p := startProvider(t, nil)
	dir := t.TempDir()
	cfgFile := writeYAML(t, dir, "idp.yaml", "issuer: "+p.URL+"\ndatabase: {driver: sqlite, dsn: "+filepath.Join(dir, "other.db")+"}\n"+
		"passkeys: {ios: [{app_id: ABCDE12345.com.example.app}]}\n")
	cmd := exec.Command(bin, "doctor", "--config", cfgFile)
	cmd.Env = append(os.Environ(), "IDP_CONFIG=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "FAIL  /.well-known/apple-app-site-association") || !strings.Contains(string(out), "fix:") {
		t.Fatalf("idp doctor: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`ok +issuer reachable`).Match(out) || !regexp.MustCompile(`note +email: off`).Match(out) {
		t.Fatalf("idp doctor: %s", out)
	}
}

// idp doctor says when mail is off, tries the SMTP server when it is on,
// and reports mail that keeps failing.
func TestDoctorEmail(t *testing.T) {
	mp := startMailpit(t)
	p := startProvider(t, mp.configure)
	check := func(cfg config.Config) map[string]doctor.Finding {
		out := map[string]doctor.Finding{}
		for _, f := range doctor.Check(context.Background(), cfg, doctor.Options{Store: p.store}) {
			out[f.Check] = f
		}
		return out
	}
	got := check(doctorConfig(p))
	if f := got["email: SMTP server 127.0.0.1 answers"]; !f.OK {
		t.Errorf("reachable SMTP server: %+v", got)
	}
	if f := got["email: no mail failing"]; !f.OK {
		t.Errorf("empty outbox: %+v", got)
	}
	off := doctorConfig(p)
	off.Email = config.Email{}
	off.FillDefaults()
	if f := check(off)["email"]; !f.Note || !strings.Contains(f.Problem, "forgot password") {
		t.Errorf("mail off: %+v", f)
	}
	// A server that is not there, and mail that keeps failing.
	down := doctorConfig(p)
	down.Email.SMTP.Port = portOf(t, freeAddr(t))
	if f := check(down)["email: SMTP server"]; f.OK || !strings.Contains(f.Fix, "email.smtp") {
		t.Errorf("unreachable server: %+v", f)
	}
	q := startProvider(t, func(c *config.Config) { c.Email = down.Email })
	b := newBrowser(t, q)
	b.Submit(b.Get(q.URL+"/forgot").page, "Send link", map[string]string{"Email or username": aliceLogin})
	waitFor(t, "a failed mail", func() bool {
		failing, _ := q.store.ListOutbox(context.Background(), 10)
		return len(failing) == 1
	})
	var f doctor.Finding
	for _, x := range doctor.Check(context.Background(), doctorConfig(q), doctor.Options{Store: q.store}) {
		if x.Check == "email: outbox" {
			f = x
		}
	}
	if f.OK || !strings.Contains(f.Problem, "1 messages are not sent") || !strings.Contains(f.Problem, "refused") {
		t.Errorf("failing mail: %+v", f)
	}
	// The console's Mail page shows it to the admins.
	addAdmin(t, q)
	adm := newBrowser(t, q)
	signInPage(t, adm, q, adminLogin, adminPassword)
	page := adm.Get(q.URL + "/admin/mail").Text()
	if !strings.Contains(page, "alice@example.org") || !strings.Contains(page, "refused") {
		t.Errorf("admin mail page: %s", page)
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func failed(findings []doctor.Finding, check string) bool {
	for _, f := range findings {
		if f.Check == check && !f.OK && f.Fix != "" {
			return true
		}
	}
	return false
}

// The admin console runs the synthetic check and shows its last result.
func TestAdminHealthCheck(t *testing.T) {
	p := startProvider(t, func(c *config.Config) {
		c.Passkeys.Rollout = config.RolloutEveryone
		c.Doctor = config.Doctor{Username: aliceLogin, Password: alicePassword, ClientID: appID, RedirectURI: "http://127.0.0.1:1/callback"}
	})
	addAdmin(t, p)
	adm := newBrowser(t, p)
	signInPage(t, adm, p, adminLogin, adminPassword)
	r := adm.Get(p.URL + "/admin/health")
	r = adm.Submit(r.page, "Run now", nil)
	if !strings.Contains(r.Text(), "Last result: passed") || !strings.Contains(r.Text(), "sign in with the passkey") ||
		!strings.Contains(r.Text(), "issuer reachable") {
		t.Fatalf("health page: %s", r.Text())
	}
	if r := adm.Get(p.URL + "/admin"); !strings.Contains(r.Text(), "Last health check: passed") {
		t.Fatalf("overview: %s", r.Text())
	}

	// Without the synthetic account, "Run now" still runs the deployment
	// checks, and "not configured" is a note, not a success.
	q := startProvider(t, nil)
	addAdmin(t, q)
	adm = newBrowser(t, q)
	signInPage(t, adm, q, adminLogin, adminPassword)
	r = adm.Get(q.URL + "/admin/health")
	if strings.Contains(r.Body, `class="notice"`) || !strings.Contains(r.Body, `class="info"`) {
		t.Errorf("not configured shows as a success: %s", r.Body)
	}
	r = adm.Submit(r.page, "Run now", nil)
	if !strings.Contains(r.Text(), "Last result: passed") || !strings.Contains(r.Text(), "database writable") {
		t.Errorf("deployment checks without the synthetic account: %s", r.Text())
	}
}
