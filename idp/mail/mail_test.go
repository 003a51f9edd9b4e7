package mail

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/outbox"
	"github.com/communityidp/idp/idp/secrets"
	"github.com/communityidp/idp/idp/store/sqlite"
	"github.com/communityidp/idp/idp/store/storetest"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// recorder stands for the SMTP server in these unit tests of the retry
// schedule (the e2e tests send to a real one): it fails while down.
type recorder struct {
	mu   sync.Mutex
	down bool
	got  []Message
}

func (r *recorder) Send(_ context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return errors.New("dial tcp 127.0.0.1:25: connect: connection refused")
	}
	r.got = append(r.got, m)
	return nil
}

// worker is an outbox worker for mail, with the outbox that writes it.
type worker struct {
	*outbox.Worker
	Outbox *Outbox
}

func newWorker(t *testing.T) (*worker, *sqlite.Store, *storetest.Clock, *recorder) {
	t.Helper()
	st := storetest.SQLite(t)
	kr, err := secrets.NewKeyring(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.NewClock(t0)
	rec := &recorder{}
	ob := NewOutbox(kr, "login.example.org", c.Now)
	w := outbox.NewWorker(st, map[string]outbox.Handler{Kind: ob.Handler(rec)}, c.Now)
	return &worker{Worker: w, Outbox: ob}, st, c, rec
}

// A message is sealed in the outbox (its link is not in the database in
// clear), sent once, and retried with back-off while the server is down,
// until it is given up after a day and shown to the admins.
func TestWorkerRetriesThenGivesUp(t *testing.T) {
	ctx := t.Context()
	w, st, c, rec := newWorker(t)
	m := Message{To: "alice@example.org", Subject: "Reset", Text: "https://login.example.org/recover?token=SECRET-LINK"}
	row, err := w.Outbox.Row("recovery", m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(row.Payload, []byte("SECRET-LINK")) {
		t.Fatal("the payload holds the link in clear")
	}
	if err := st.Enqueue(ctx, row); err != nil {
		t.Fatal(err)
	}
	rec.down = true
	attempts := []time.Duration{0, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, time.Hour}
	at := t0
	for i, wait := range attempts {
		// Just before it is due, nothing is tried.
		c.Set(at.Add(wait - time.Second))
		w.Drain(ctx)
		at = at.Add(wait)
		c.Set(at)
		w.Drain(ctx)
		failed, err := st.ListOutbox(ctx, 10)
		if err != nil || len(failed) != 1 || failed[0].Attempts != i+1 {
			t.Fatalf("after attempt %d at +%v: %+v %v", i+1, at.Sub(t0), failed, err)
		}
		if !strings.Contains(failed[0].LastError, "connection refused") {
			t.Errorf("last error %q", failed[0].LastError)
		}
	}
	// Past a day it is given up: no more tries, still listed.
	for at.Sub(t0) <= outbox.GiveUpAfter {
		at = at.Add(time.Hour)
		c.Set(at)
		w.Drain(ctx)
	}
	failed, _ := st.ListOutbox(ctx, 10)
	n := failed[0].Attempts
	if !failed[0].NextAttemptAt.IsZero() {
		t.Errorf("not given up after a day: next at %v", failed[0].NextAttemptAt)
	}
	rec.down = false
	c.Set(at.Add(24 * time.Hour))
	w.Drain(ctx)
	if failed, _ := st.ListOutbox(ctx, 10); len(failed) != 1 || failed[0].Attempts != n || len(rec.got) != 0 {
		t.Errorf("a given-up message was tried again: %+v, %d sent", failed, len(rec.got))
	}
}

// A message due is sent once, even when two workers (two replicas) drain
// at the same moment, and its sealed payload opens to what was queued.
func TestWorkerSendsOnce(t *testing.T) {
	ctx := t.Context()
	w, st, c, rec := newWorker(t)
	other := outbox.NewWorker(st, w.Handlers, c.Now)
	for i := range 20 {
		row, err := w.Outbox.Row("notice", Message{To: "m@example.org", Subject: "n" + string(rune('a'+i)), Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Enqueue(ctx, row); err != nil {
			t.Fatal(err)
		}
	}
	c.Set(t0.Add(time.Second))
	var wg sync.WaitGroup
	for _, x := range []*outbox.Worker{w.Worker, other} {
		wg.Add(1)
		go func() { defer wg.Done(); x.Drain(ctx) }()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, m := range rec.got {
		seen[m.Subject]++
		if !strings.HasPrefix(m.MessageID, "<") || !strings.HasSuffix(m.MessageID, "@login.example.org>") {
			t.Errorf("Message-ID %q", m.MessageID)
		}
	}
	if len(rec.got) != 20 || len(seen) != 20 {
		t.Errorf("sent %d messages, %d distinct; want 20 once each", len(rec.got), len(seen))
	}
}

// untranslated is a message key shown as is.
var untranslated = regexp.MustCompile(`\bmail\.[a-z]`)

// Every letter renders in every shipped language, text and HTML, with
// no message key left untranslated.
func TestLettersInEveryLanguage(t *testing.T) {
	l, err := NewLetters(Brand{Site: "Maple <Forum>", Logo: "https://maple.example/logo.png", Support: "help@maple.example"}, "en")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "de", "es", "fr", "pt", "vi"} {
		p := l.Printer(lang)
		var letters []Message
		add := func(m Message, err error) {
			if err != nil {
				t.Fatalf("%s: %v", lang, err)
			}
			letters = append(letters, m)
		}
		add(l.Reset(p, "a@example.org", "alice", "https://x/recover?token=T", 30*time.Minute, true))
		add(l.Verify(p, "a@example.org", "alice", "https://x/verify?token=T", 7*24*time.Hour))
		add(l.Invite(p, "a@example.org", "alice", "https://x/recover?token=T", 7*24*time.Hour))
		add(l.SignupExists(p, "a@example.org", "alice", "https://x/login", "https://x/forgot"))
		for kind := range noticeKeys {
			add(l.Notice(p, "a@example.org", "alice", kind, t0, "Chrome on Windows", "https://x/settings"))
		}
		for _, m := range letters {
			for _, part := range []string{m.Subject, m.Text, m.HTML} {
				if untranslated.MatchString(part) || strings.Contains(part, "%!") || part == "" {
					t.Errorf("%s %q: %q", lang, m.Subject, part)
				}
			}
			if strings.Contains(m.HTML, "Maple <Forum>") || !strings.Contains(m.HTML, "Maple &lt;Forum&gt;") {
				t.Errorf("%s: the site name is not escaped in HTML", lang)
			}
			if !strings.Contains(m.Text, "https://x/") || !strings.Contains(m.HTML, "https://x/") {
				t.Errorf("%s %q: no link", lang, m.Subject)
			}
		}
	}
	for _, kind := range []string{config.NoticePasskeyAdded, config.NoticePasskeyDeleted, config.NoticePasswordChanged,
		config.NoticeEmailChanged, config.NoticeRecoveryUsed, config.NoticeAccountDisabled, config.NoticeAccountEnabled} {
		if _, ok := noticeKeys[kind]; !ok {
			t.Errorf("no letter for the notice %s", kind)
		}
	}
}
