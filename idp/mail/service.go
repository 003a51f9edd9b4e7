package mail

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/device"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/store"
)

// Service is what the pages use to write to members. A nil *Service is
// mail turned off: Enabled reports false and nothing is sent.
type Service struct {
	Letters *Letters
	Outbox  *Outbox
	Store   store.OutboxStore
	Notices config.Notices
	// Issuer is the provider's public address, for links.
	Issuer string
	Now    func() time.Time
}

// Enabled reports whether mail can be sent.
func (s *Service) Enabled() bool { return s != nil }

// For is the language to write to u in.
func (s *Service) For(u *store.User) *i18n.Printer { return s.Letters.Printer(u.Locale) }

// Row seals a composed message into an outbox row about topic.
func (s *Service) Row(topic string, m Message, err error) (*store.OutboxMessage, error) {
	if err != nil {
		return nil, fmt.Errorf("compose %s mail: %w", topic, err)
	}
	return s.Outbox.Row(topic, m)
}

// Queue enqueues a composed message on its own and wakes the sender.
func (s *Service) Queue(ctx context.Context, topic string, m Message, err error) error {
	row, err := s.Row(topic, m, err)
	if err != nil {
		return err
	}
	if err := s.Store.Enqueue(ctx, row); err != nil {
		return fmt.Errorf("queue %s mail: %w", topic, err)
	}
	s.Outbox.Queued()
	return nil
}

// Notify sends u (at to, their address unless another is given) the
// security notice of kind, if mail is on and the notice is: what
// happened, when, and on which device (named from userAgent, in the
// member's language; "" for a change an admin made). A failure is
// logged: the change it tells of has happened either way.
func (s *Service) Notify(ctx context.Context, u *store.User, to, kind, userAgent string) {
	if s == nil || !s.Notices.Notice(kind) {
		return
	}
	if to == "" {
		to = u.Email
	}
	if to == "" {
		return
	}
	p := s.For(u)
	m, err := s.Letters.Notice(p, to, u.Username, kind, s.Now(), device.In(p, userAgent), s.Issuer+"/settings")
	if err := s.Queue(ctx, "notice."+kind, m, err); err != nil {
		slog.ErrorContext(ctx, "queue a security notice", "kind", kind, "user", u.ID, "error", err)
	}
}

// LinkPaths are where each kind of link opens.
var LinkPaths = map[string]string{store.LinkRecovery: "/recover", store.LinkInvite: "/recover", store.LinkVerify: "/verify"}

// MailLink mails u a one-time link of purpose (store.Link*), good for
// lifetime: the link (256 random bits, stored hashed) and the message
// compose writes around it are saved in one transaction, and the link
// replaces u's older one of the same purpose. For a verify link, email is
// the address it proves; the message goes to email too.
func (s *Service) MailLink(ctx context.Context, st store.RecoveryStore, u *store.User, purpose, email, createdBy string,
	lifetime time.Duration, compose func(to, link string) (Message, error)) error {
	token := randomToken()
	link := s.Issuer + LinkPaths[purpose] + "?token=" + token
	to := u.Email
	if email != "" {
		to = email
	}
	m, err := compose(to, link)
	row, err := s.Row(purpose, m, err)
	if err != nil {
		return err
	}
	now := s.Now()
	l := &store.RecoveryLink{TokenHash: store.HashToken(token), UserID: u.ID, Purpose: purpose, Email: email,
		CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(lifetime)}
	if err := st.CreateRecoveryLink(ctx, l, row); err != nil {
		return fmt.Errorf("save the %s link: %w", purpose, err)
	}
	s.Outbox.Queued()
	return nil
}

// Verify mails u a link proving their address is theirs.
func (s *Service) Verify(ctx context.Context, st store.RecoveryStore, u *store.User, lifetime time.Duration) error {
	if s == nil || u.Email == "" {
		return nil
	}
	return s.MailLink(ctx, st, u, store.LinkVerify, u.Email, "", lifetime, func(to, link string) (Message, error) {
		return s.Letters.Verify(s.For(u), to, u.Username, link, lifetime)
	})
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand failed: %w", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
