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
	"github.com/communityidp/idp/idp/outbox"
	"github.com/communityidp/idp/idp/secrets"
	"github.com/communityidp/idp/idp/store"
)

// NewMail builds the mail service and its sender: SMTP when email is
// configured; else, for the development provider, a printer on standard
// error (the development provider's mail, links included, is meant to be
// read there); else none (nil, nil), and everything that needs mail is
// off. logo is the branding's logo address ("" for none; a path is on
// the issuer). The commands that mail (users invite, users import) build
// theirs here too, so their mail reads like the server's. The handler
// delivers the mail the outbox holds.
func NewMail(cfg config.Config, st store.OutboxStore, kr *secrets.Keyring, logo string, now func() time.Time) (*mail.Service, outbox.Handler, error) {
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
	ob := mail.NewOutbox(kr, host, now)
	svc := &mail.Service{Letters: letters, Outbox: ob, Store: st, Notices: cfg.Email.Notices, Issuer: cfg.Issuer, Now: now}
	return svc, ob.Handler(sender), nil
}

// NewCommandMail is NewMail for a command line: the branding read from
// cfg, and a worker that delivers mail only (the provider delivers the
// rest); nil, nil when mail is off.
func NewCommandMail(cfg config.Config, st *secrets.Store) (*mail.Service, *outbox.Worker, error) {
	b, err := newBranding(cfg.Branding)
	if err != nil {
		return nil, nil, err
	}
	svc, handler, err := NewMail(cfg, st, st.Keyring(), b.brand.Logo, time.Now)
	if err != nil || svc == nil {
		return nil, nil, err
	}
	return svc, outbox.NewWorker(st, map[string]outbox.Handler{mail.Kind: handler}, time.Now), nil
}
