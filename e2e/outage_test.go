package e2e

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/store/pgtest"
)

// dbLink stands between the provider and PostgreSQL and can be cut, the
// way a database restart or a network failure looks to the provider:
// open connections drop, new ones are refused.
type dbLink struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newDBLink(t *testing.T, target string) *dbLink {
	l := &dbLink{t: t, target: target}
	l.up()
	t.Cleanup(l.down)
	return l
}

func (l *dbLink) up() {
	l.t.Helper()
	addr := l.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	l.ln, l.addr = ln, ln.Addr().String()
	l.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", l.target)
			if err != nil {
				c.Close()
				continue
			}
			l.mu.Lock()
			l.conns = append(l.conns, c, s)
			l.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

func (l *dbLink) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// PostgreSQL goes away mid-run and comes back: readiness flips, requests
// get a 503 page or temporarily_unavailable (no hang, no panic), and the
// provider recovers by itself.
func TestDatabaseOutage(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	u, _ := url.Parse(dsn)
	link := newDBLink(t, u.Host)
	u.Host = link.addr
	outage(t, u.String(), link.down, link.up)
}

// The same with the database server itself stopped (pg_ctl stop -m fast)
// and started again: a private PostgreSQL cluster, so the other tests'
// server is never touched.
func TestDatabaseServerRestart(t *testing.T) {
	pg := newPrivatePostgres(t)
	outage(t, pg.dsn, pg.stop, pg.start)
}

// outage runs a provider on dsn, calls down, checks the provider's answers
// during the outage, calls up and checks it recovers by itself.
func outage(t *testing.T, dsn string, down, up func()) {
	t.Helper()
	logStart := len(logs.String())
	p := startProvider(t, func(c *config.Config) { c.Database = config.Database{Driver: "postgres", DSN: dsn} })
	defer func() {
		if strings.Contains(logs.String()[logStart:], "panic") {
			t.Error("the provider panicked during the outage (see the log)")
		}
	}()
	site := newRP(t, p, siteID, siteSecret, siteRedirect, oauth2.AuthStyleInHeader, "openid", "offline_access")
	b := newBrowser(t, p)
	tok, _ := site.exchange(mustNoError(t, b.signIn(site.oauth.AuthCodeURL("s"), aliceLogin, alicePassword)))
	status := func(path string) int {
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := status("/ready"); st != 200 {
		t.Fatalf("ready before the outage: %d", st)
	}

	down()
	time.Sleep(1100 * time.Millisecond) // the availability check is cached for a second
	start := time.Now()
	if st := status("/ready"); st != http.StatusServiceUnavailable {
		t.Fatalf("ready during the outage: %d", st)
	}
	r := b.Get(p.URL + "/login")
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Text(), "UNAVAILABLE") {
		t.Fatalf("sign-in page during the outage: %d %s", r.Status, r.Text())
	}
	st, body, _ := tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret)
	if st != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
		t.Fatalf("refresh during the outage: %d %v", st, body)
	}
	if st, _, _ := userinfo(t, p, tok.AccessToken); st != http.StatusServiceUnavailable {
		t.Fatalf("userinfo during the outage: %d", st)
	}
	if st := status("/.well-known/openid-configuration"); st != 200 {
		t.Fatalf("discovery is served from memory, got %d", st)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("answers during the outage took %v", d)
	}

	up()
	deadline := time.Now().Add(15 * time.Second)
	for status("/ready") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("not ready again after the database came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Service resumes: the refresh token (not spent by the failed call) works.
	st, body, _ = tokenCall(t, p.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, siteID, siteSecret)
	if st != 200 {
		t.Fatalf("refresh after the outage: %d %v", st, body)
	}
	mustNoError(t, newBrowser(t, p).signIn(site.oauth.AuthCodeURL("t"), aliceLogin, alicePassword))
}
