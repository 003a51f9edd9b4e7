package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
)

// mailProcess is `idp serve` on a SQLite file whose mail goes to
// smtpAddr, where nothing may listen yet.
func mailProcess(t *testing.T, smtpAddr string) *sqliteProcess {
	t.Helper()
	bin, err := buildIDP()
	if err != nil {
		t.Fatal(err)
	}
	dir, addr := t.TempDir(), freeAddr(t)
	s := &sqliteProcess{bin: bin, dir: dir, cfgFile: filepath.Join(dir, "idp.yaml"), db: filepath.Join(dir, "idp.db"), addr: addr,
		issuer: "http://localhost:" + strings.TrimPrefix(addr, "127.0.0.1:")}
	host, port, _ := net.SplitHostPort(smtpAddr)
	cfg := fmt.Sprintf(`issuer: %s
listen: %s
database: {driver: sqlite, dsn: %q}
log: {level: info}
email: {from: "Community <no-reply@community.example>", smtp: {host: %s, port: %s, tls: none}}
`, s.issuer, addr, s.db, host, port)
	if err := os.WriteFile(s.cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// A reset mail is written to the outbox while the SMTP server is down;
// the provider is killed (SIGKILL) before it could send it. Restarted
// with the server up, it sends the mail, once.
func TestOutboxSurvivesKill(t *testing.T) {
	// The mail server's port is held by a listener that hangs up on
	// every connection (each send fails), so that no other test takes it
	// before Mailpit does.
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := down.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	smtpAddr := down.Addr().String()
	s := mailProcess(t, smtpAddr)
	if err := s.addMember(context.Background(), "erin"); err != nil {
		t.Fatal(err)
	}
	r := s.start(t, "before the kill")
	remote := &provider{t: t, URL: s.issuer, clock: newClock()}
	b := newBrowser(t, remote)
	page := b.Submit(b.Get(s.issuer+"/forgot").page, "Send link", map[string]string{"Email or username": "erin"})
	if !strings.Contains(page.Text(), "If an account exists, we sent a link.") {
		t.Fatalf("forgot: %s", page.Text())
	}
	// The first attempt fails (the server hangs up) and is recorded.
	waitFor(t, "a failed attempt", func() bool {
		return column(t, s.db, `SELECT COUNT(*) FROM outbox WHERE attempts = 1 AND sent_at IS NULL`)["1"]
	})
	kill(t, r)
	if logs := r.logs.String(); strings.Contains(logs, "token=") {
		t.Errorf("a link reached the log:\n%s", logs)
	}

	down.Close()
	mp := startMailpitAt(t, smtpAddr)
	s.start(t, "after the kill")
	// The retry comes after its back-off (30 s after the failure).
	deadline := time.Now().Add(90 * time.Second)
	for len(mp.to("erin@example.org")) == 0 && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	msg := mp.one("erin@example.org", "Reset your password")
	msg.link(t, "/recover")
	mp.quiet("erin@example.org", 1)
	if got := column(t, s.db, `SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL`); !got["1"] {
		t.Errorf("%v rows marked sent, want 1", got)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Two replicas on one database (PostgreSQL in CI) send from the same
// outbox: forty mails asked for through both arrive once each.
func TestReplicasSendEachMailOnce(t *testing.T) {
	mp := startMailpit(t)
	p1, p2 := throttleProviders(t, func(c *config.Config) {
		mp.configure(c)
		c.Throttle.IdentifierPerMinute = 1000
	})
	const n = 40
	ctx := context.Background()
	for i := range n {
		newMember(t, p1, "m"+strconv.Itoa(i), "member passphrase "+strconv.Itoa(i))
	}
	done := make(chan error, n)
	for i := range n {
		go func() {
			p := p1
			if i%2 == 1 {
				p = p2
			}
			b := browserFrom(t, p, fmt.Sprintf("198.51.100.%d", i+1))
			form := b.Get(p.URL + "/forgot")
			r := b.Submit(form.page, "Send link", map[string]string{"Email or username": "m" + strconv.Itoa(i)})
			if !strings.Contains(r.Text(), "If an account exists") {
				done <- fmt.Errorf("m%d: %d %s", i, r.Status, r.Text())
				return
			}
			done <- nil
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every mail", func() bool { return mp.total() >= n })
	time.Sleep(time.Second) // a duplicate would come now
	if got := mp.total(); got != n {
		t.Errorf("%d mails arrived, want %d", got, n)
	}
	for i := range n {
		if got := len(mp.to("m" + strconv.Itoa(i) + "@example.org")); got != 1 {
			t.Errorf("m%d got %d mails", i, got)
		}
	}
	if failed, err := p1.store.ListOutbox(ctx, 100); err != nil || len(failed) != 0 {
		t.Errorf("failed mails: %v %v", failed, err)
	}
}
