// Package mail writes to members: password reset and invitation links,
// address verification, security notices. A message is rendered in the
// member's language (the message catalogs in ui/locales), as plain text
// and HTML with the community's branding, then put in the durable outbox
// (the store's, sealed under the key-encryption key, since it may hold a
// live link) in the same transaction as what it is about where it carries
// a link. Every replica runs a Worker that sends what is due: a message
// survives a restart and a crash, is retried with back-off, and is sent
// by one replica (see store.OutboxStore).
//
// Nothing here logs a message's body, link or token: only its topic, the
// outbox id and the error.
package mail

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/store"
)

// Message is one mail to send.
type Message struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
	// MessageID is stable across retries, so a receiver can tell a resend
	// from a new message.
	MessageID string `json:"message_id"`
}

// Sender hands a message on: to an SMTP server, or (the development
// provider without email) to a log.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTP sends through the configured SMTP server.
type SMTP struct {
	cfg  config.Email
	from *mail.Address
}

// NewSMTP returns a sender for cfg (email.from and email.smtp).
func NewSMTP(cfg config.Email) (*SMTP, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email.from: %w", err)
	}
	return &SMTP{cfg: cfg, from: from}, nil
}

// Send delivers m over one SMTP connection.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", s.cfg.SMTP.Host, s.cfg.SMTP.Port, err)
	}
	return nil
}

// client is a go-mail client for the configured server: TLS as
// email.smtp.tls says (starttls is mandatory, never opportunistic: a
// reset link must not cross the network in clear), authentication when
// a username is set.
func (s *SMTP) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(s.cfg.SMTP.Port), gomail.WithTimeout(20 * time.Second)}
	switch s.cfg.SMTP.TLS {
	case "implicit":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.SMTP.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.SMTP.Username), gomail.WithPassword(s.cfg.SMTP.Password))
	}
	c, err := gomail.NewClient(s.cfg.SMTP.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

// Check connects to the SMTP server (TLS and authentication included)
// and hangs up, sending nothing: idp doctor's test of the settings.
func (s *SMTP) Check(ctx context.Context) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", s.cfg.SMTP.Host, s.cfg.SMTP.Port, err)
	}
	return c.Close()
}

// Printer "sends" by writing the message to w: the development provider,
// which has no mail server, shows its mail (links included) there.
type Printer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewPrinter returns a sender that prints to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// Send prints m's recipient, subject and text.
func (p *Printer) Send(_ context.Context, m Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := fmt.Fprintf(p.w, "\n--- mail (development: not sent) ---\nTo: %s\nSubject: %s\n\n%s\n--- end of mail ---\n\n",
		m.To, m.Subject, strings.TrimSpace(m.Text))
	return err
}

// Sealer seals and opens outbox payloads (secrets.Keyring).
type Sealer interface {
	Seal(purpose, id string, plain []byte) ([]byte, error)
	Open(purpose, id string, sealed []byte) ([]byte, error)
}

// Outbox turns messages into sealed outbox rows.
type Outbox struct {
	Sealer Sealer
	// Domain is the right-hand side of Message-IDs (the issuer's host).
	Domain string
	Now    func() time.Time
	// Nudge tells the local outbox worker a message is queued (nil:
	// it finds it on its next round).
	Nudge func()
}

// NewOutbox returns an Outbox sealing with s.
func NewOutbox(s Sealer, domain string, now func() time.Time) *Outbox {
	if now == nil {
		now = time.Now
	}
	return &Outbox{Sealer: s, Domain: domain, Now: now}
}

// Row returns the outbox row for m, about topic, due now.
func (o *Outbox) Row(topic string, m Message) (*store.OutboxMessage, error) {
	id := randomID()
	if m.MessageID == "" {
		m.MessageID = "<" + id + "@" + o.Domain + ">"
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode mail: %w", err)
	}
	sealed, err := o.Sealer.Seal(store.PurposeOutbox, id, plain)
	if err != nil {
		return nil, fmt.Errorf("seal mail: %w", err)
	}
	now := o.Now()
	return &store.OutboxMessage{ID: id, Kind: Kind, Recipient: m.To, Topic: topic, Payload: sealed,
		CreatedAt: now, NextAttemptAt: now}, nil
}

// Queued tells the local worker a message is waiting, so it need not
// wait for its next round.
func (o *Outbox) Queued() {
	if o.Nudge != nil {
		o.Nudge()
	}
}

func randomID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand failed: %w", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
