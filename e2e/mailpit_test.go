package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/testskip"
)

// mailpitVersion is the SMTP server the tests send to: a real one, which
// keeps what arrives and shows it through an HTTP API.
const mailpitVersion = "v1.33.1"

// mailpitBinary finds Mailpit: $IDP_MAILPIT, the checkout's .tools/bin
// (where .ci/run installs it), or the PATH; else it installs it into
// .tools/bin, once, from the Go module proxy.
var mailpitBinary = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("IDP_MAILPIT"); p != "" {
		return p, nil
	}
	tools, err := filepath.Abs("../.tools/bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(tools, "mailpit")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	cmd := exec.Command("go", "install", "github.com/axllent/mailpit@"+mailpitVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+tools, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("install mailpit (GOBIN=.tools/bin go install github.com/axllent/mailpit@%s): %v\n%s",
			mailpitVersion, err, out)
	}
	return bin, nil
})

// mailpit is a running Mailpit on free loopback ports.
type mailpit struct {
	t        *testing.T
	smtpPort int
	api      string
	cmd      *exec.Cmd
}

func startMailpit(t *testing.T) *mailpit {
	t.Helper()
	return startMailpitAt(t, freeAddr(t))
}

// startMailpitAt runs Mailpit with its SMTP server on smtpAddr: an
// address a provider was already told to send to.
func startMailpitAt(t *testing.T, smtpAddr string) *mailpit {
	t.Helper()
	bin, err := mailpitBinary()
	if err != nil {
		testskip.Skip(t, "mail (Mailpit)", err.Error())
	}
	httpAddr := freeAddr(t)
	_, port, _ := net.SplitHostPort(smtpAddr)
	m := &mailpit{t: t, api: "http://" + httpAddr}
	m.smtpPort, _ = strconv.Atoi(port)
	m.cmd = exec.Command(bin, "--smtp", smtpAddr, "--listen", httpAddr, "--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--max", "20000", "--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--disable-version-check", "--quiet")
	var logs lockedBuffer
	m.cmd.Stdout, m.cmd.Stderr = &logs, &logs
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- m.cmd.Wait() }()
	t.Cleanup(func() {
		_ = m.cmd.Process.Kill()
		<-exited
	})
	// A loaded CI machine (every package's tests at once on two cores)
	// can take a while to start it.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("mailpit exited at start (%v): %s", err, logs.String())
		default:
		}
		if resp, err := http.Get(m.api + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return m
			}
		}
	}
	t.Fatalf("mailpit did not start: %s", logs.String())
	return nil
}

// configure points a provider's mail at this Mailpit.
func (m *mailpit) configure(c *config.Config) {
	c.Email.From = "Community <no-reply@community.example>"
	c.Email.SMTP = config.SMTP{Host: "127.0.0.1", Port: m.smtpPort, TLS: "none"}
}

// mail is one message as Mailpit's API gives it.
type mail struct {
	ID      string
	Subject string
	To      []struct{ Address string }
	From    struct{ Address, Name string }
	Text    string
	HTML    string
	Headers map[string][]string
}

func (m *mailpit) get(path string, v any) {
	m.t.Helper()
	resp, err := http.Get(m.api + path)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		m.t.Fatalf("mailpit %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		m.t.Fatalf("mailpit %s: %v", path, err)
	}
}

// to returns every message sent to addr, oldest first, read in full.
func (m *mailpit) to(addr string) []mail {
	m.t.Helper()
	var list struct {
		Messages []struct {
			ID string
			To []struct{ Address string }
		}
	}
	m.get("/api/v1/search?limit=1000&query="+url.QueryEscape("to:"+addr), &list)
	var out []mail
	for i := len(list.Messages) - 1; i >= 0; i-- { // newest first from the API
		msg := list.Messages[i]
		if len(msg.To) == 0 || !strings.EqualFold(msg.To[0].Address, addr) {
			continue // the search matches parts of addresses too
		}
		var full mail
		m.get("/api/v1/message/"+msg.ID, &full)
		var headers map[string][]string
		m.get("/api/v1/message/"+msg.ID+"/headers", &headers)
		full.Headers = headers
		out = append(out, full)
	}
	return out
}

// total is how many messages arrived in all.
func (m *mailpit) total() int {
	m.t.Helper()
	var list struct{ Total int }
	m.get("/api/v1/messages?limit=1", &list)
	return list.Total
}

// wait returns the messages to addr once there are n of them; it fails
// the test after a while.
func (m *mailpit) wait(addr string, n int) []mail {
	m.t.Helper()
	var got []mail
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = m.to(addr); len(got) >= n {
			return got
		}
	}
	m.t.Fatalf("%d messages to %s, want %d: %v", len(got), addr, n, subjects(got))
	return nil
}

// one waits for a message to addr whose subject holds subject, and
// checks that it is the only such message.
func (m *mailpit) one(addr, subject string) mail {
	m.t.Helper()
	var found []mail
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && len(found) == 0; time.Sleep(100 * time.Millisecond) {
		found = found[:0]
		for _, msg := range m.to(addr) {
			if strings.Contains(msg.Subject, subject) {
				found = append(found, msg)
			}
		}
	}
	if len(found) != 1 {
		m.t.Fatalf("%d messages to %s about %q, want 1: %v", len(found), addr, subject, subjects(m.to(addr)))
	}
	return found[0]
}

// quiet checks that nothing more arrives for addr than the n it has.
func (m *mailpit) quiet(addr string, n int) {
	m.t.Helper()
	time.Sleep(500 * time.Millisecond)
	if got := m.to(addr); len(got) != n {
		m.t.Fatalf("%d messages to %s, want %d: %v", len(got), addr, n, subjects(got))
	}
}

func subjects(ms []mail) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Subject)
	}
	return out
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+`)

// link is the first link in the message's text that opens path.
func (ml mail) link(t *testing.T, path string) string {
	t.Helper()
	for _, l := range linkRE.FindAllString(ml.Text, -1) {
		if u, err := url.Parse(l); err == nil && u.Path == path {
			return l
		}
	}
	t.Fatalf("no %s link in %q:\n%s", path, ml.Subject, ml.Text)
	return ""
}
