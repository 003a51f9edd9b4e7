package server

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/secrets"
	"github.com/communityidp/idp/idp/store"
)

// NewMail builds the mail service and its sender: SMTP when email is
// configured; else, for the development provider, a printer on standard
// error (the development provider's mail, links included, is meant to be
// read there); else none (nil, nil), and everything that needs mail is
// off. logo is the branding's logo address ("" for none; a path is on
// the issuer). The commands that mail (users invite, users import) build
// theirs here too, so their mail reads like the server's.
func NewMail(cfg config.Config, st store.OutboxStore, kr *secrets.Keyring, logo string, m *metrics.Metrics, now func() time.Time) (*mail.Service, *mail.Worker, error) {
	var sender mail.Sender
	switch {
	case cfg.Email.Enabled():
		smtp, err := mail.NewSMTP(cfg.Email)
		if err != nil {
			return nil, nil, err
		}
		sender = smtp
	case cfg.Development():
		sender = mail.NewPrinter(os.Stderr)
		slog.Info("email is not configured: the development provider prints the mail it would send on standard error")
	default:
		return nil, nil, nil
	}
	if strings.HasPrefix(logo, "/") {
		logo = cfg.Issuer + logo
	}
	support := cfg.Branding.SupportEmail
	if support == "" {
		support = cfg.Branding.SupportURL
	}
	letters, err := mail.NewLetters(mail.Brand{Site: cfg.Branding.SiteName, Logo: logo, Color: cfg.Branding.PrimaryColor,
		Support: support}, cfg.UI.DefaultLanguage)
	if err != nil {
		return nil, nil, fmt.Errorf("mail templates: %w", err)
	}
	host := cfg.Issuer
	if u, err := url.Parse(cfg.Issuer); err == nil {
		host = u.Hostname()
	}
	outbox := mail.NewOutbox(kr, host, now)
	svc := &mail.Service{Letters: letters, Outbox: outbox, Store: st, Notices: cfg.Email.Notices, Issuer: cfg.Issuer, Now: now}
	return svc, &mail.Worker{Store: st, Outbox: outbox, Sender: sender, Metrics: m}, nil
}

// NewCommandMail is NewMail for a command line: the branding read from
// cfg, no metrics.
func NewCommandMail(cfg config.Config, st *secrets.Store) (*mail.Service, *mail.Worker, error) {
	b, err := newBranding(cfg.Branding)
	if err != nil {
		return nil, nil, err
	}
	return NewMail(cfg, st, st.Keyring(), b.brand.Logo, nil, time.Now)
}
