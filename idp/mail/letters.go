package mail

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"golang.org/x/text/language"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/ui"
)

// Brand is how mail presents the community.
type Brand struct {
	Site string
	// Logo is an absolute https URL of the logo, or "".
	Logo string
	// Color is the button color (#rrggbb).
	Color string
	// Support is where to turn for help (an address or a page), or "".
	Support string
}

// Letters writes the provider's mail in a member's language.
type Letters struct {
	brand   Brand
	catalog *i18n.Catalog
	html    *htmltemplate.Template
	text    *texttemplate.Template
	// fallback is the language when a member's is unknown.
	fallback language.Tag
}

// NewLetters loads the mail templates.
func NewLetters(b Brand, fallback string) (*Letters, error) {
	h, err := htmltemplate.ParseFS(ui.Mail, "mail/message.html")
	if err != nil {
		return nil, err
	}
	t, err := texttemplate.ParseFS(ui.Mail, "mail/message.txt")
	if err != nil {
		return nil, err
	}
	if b.Color == "" {
		b.Color = "#0b57d0"
	}
	c := i18n.Default()
	tag, ok := c.Shipped(fallback)
	if !ok {
		tag = language.English
	}
	return &Letters{brand: b, catalog: c, html: h, text: t, fallback: tag}, nil
}

// Printer is the language of a member whose pages were last in locale.
func (l *Letters) Printer(locale string) *i18n.Printer {
	if tag, ok := l.catalog.Shipped(locale); ok {
		return l.catalog.Printer(tag)
	}
	if tag, ok := l.catalog.MatchList(locale); ok {
		return l.catalog.Printer(tag)
	}
	return l.catalog.Printer(l.fallback)
}

// letter is what the templates fill in.
type letter struct {
	Lang, Site, Logo, Color, Subject string
	Lines                            []string
	Button, LinkLabel, URL, CopyLink string
	After                            []string
	Footer                           string
}

func (l *Letters) compose(p *i18n.Printer, to, subject string, lines []string, button, url string, after []string) (Message, error) {
	footer := p.T("mail.footer", l.brand.Site)
	if l.brand.Support != "" {
		footer += " " + p.T("mail.footer_support", l.brand.Support)
	}
	d := letter{Lang: p.Tag().String(), Site: l.brand.Site, Logo: l.brand.Logo, Color: l.brand.Color, Subject: subject,
		Lines: lines, Button: button, LinkLabel: p.T("mail.link_label", button), URL: url, CopyLink: p.T("mail.copy_link"),
		After: after, Footer: footer}
	var h, t strings.Builder
	if err := l.html.Execute(&h, d); err != nil {
		return Message{}, err
	}
	if err := l.text.Execute(&t, d); err != nil {
		return Message{}, err
	}
	return Message{To: to, Subject: subject, Text: t.String(), HTML: h.String()}, nil
}

// Reset is the password reset mail: its link, how long it works, and a
// reminder that a passkey still signs in, for a member who has one.
func (l *Letters) Reset(p *i18n.Printer, to, username, link string, lifetime time.Duration, hasPasskey bool) (Message, error) {
	lines := []string{p.T("mail.hello", username), p.T("mail.reset.intro", l.brand.Site)}
	after := []string{p.T("mail.link_expires", p.Wait(lifetime))}
	if hasPasskey {
		after = append(after, p.T("mail.reset.passkey"))
	}
	after = append(after, p.T("mail.reset.not_you"))
	return l.compose(p, to, p.T("mail.reset.subject", l.brand.Site), lines, p.T("mail.reset.button"), link, after)
}

// Verify asks the member to confirm an address is theirs.
func (l *Letters) Verify(p *i18n.Printer, to, username, link string, lifetime time.Duration) (Message, error) {
	lines := []string{p.T("mail.hello", username), p.T("mail.verify.intro", to, l.brand.Site)}
	after := []string{p.T("mail.link_expires", p.Wait(lifetime)), p.T("mail.verify.not_you")}
	return l.compose(p, to, p.T("mail.verify.subject", l.brand.Site), lines, p.T("mail.verify.button"), link, after)
}

// Invite brings an invited member in: their link sets a password.
func (l *Letters) Invite(p *i18n.Printer, to, username, link string, lifetime time.Duration) (Message, error) {
	lines := []string{p.T("mail.invite.intro", l.brand.Site), p.T("mail.invite.username", username)}
	after := []string{p.T("mail.link_expires", p.Wait(lifetime)), p.T("mail.invite.not_expected")}
	return l.compose(p, to, p.T("mail.invite.subject", l.brand.Site), lines, p.T("mail.invite.button"), link, after)
}

// SignupExists tells the owner of an address that someone tried to create
// a second account with it (the sign-up page says the same thing for a
// new address and a taken one).
func (l *Letters) SignupExists(p *i18n.Printer, to, username, signIn, reset string) (Message, error) {
	lines := []string{p.T("mail.hello", username), p.T("mail.signup_exists.intro", l.brand.Site),
		p.T("mail.signup_exists.username", username)}
	after := []string{p.T("mail.signup_exists.forgot", reset), p.T("mail.signup_exists.not_you")}
	return l.compose(p, to, p.T("mail.signup_exists.subject", l.brand.Site), lines, p.T("mail.signup_exists.button"), signIn, after)
}

// noticeKeys are each notice's subject, what happened, and what to do if
// it was not the member.
var noticeKeys = map[string][3]string{
	config.NoticePasskeyAdded:    {"mail.notice.passkey_added.subject", "mail.notice.passkey_added.what", "mail.notice.passkey_added.not_you"},
	config.NoticePasskeyDeleted:  {"mail.notice.passkey_deleted.subject", "mail.notice.passkey_deleted.what", "mail.notice.passkey_deleted.not_you"},
	config.NoticePasswordChanged: {"mail.notice.password_changed.subject", "mail.notice.password_changed.what", "mail.notice.password_changed.not_you"},
	config.NoticeEmailChanged:    {"mail.notice.email_changed.subject", "mail.notice.email_changed.what", "mail.notice.email_changed.not_you"},
	config.NoticeRecoveryUsed:    {"mail.notice.recovery_used.subject", "mail.notice.recovery_used.what", "mail.notice.recovery_used.not_you"},
	config.NoticeAccountDisabled: {"mail.notice.account_disabled.subject", "mail.notice.account_disabled.what", "mail.notice.account_disabled.not_you"},
	config.NoticeAccountEnabled:  {"mail.notice.account_enabled.subject", "mail.notice.account_enabled.what", "mail.notice.account_enabled.not_you"},
}

// Notice is a security notice: what happened (kind: a config.Notice*
// constant), when, on which device, and what to do if it was not the
// member. settings is the Settings page.
func (l *Letters) Notice(p *i18n.Printer, to, username, kind string, at time.Time, device, settings string) (Message, error) {
	keys, ok := noticeKeys[kind]
	if !ok {
		return Message{}, fmt.Errorf("no notice %q", kind)
	}
	lines := []string{p.T("mail.hello", username), p.T(keys[1], l.brand.Site),
		p.T("mail.notice.when", at.UTC().Format("2006-01-02 15:04 UTC"))}
	if device != "" {
		lines = append(lines, p.T("mail.notice.device", device))
	}
	after := []string{p.T("mail.notice.if_you"), p.T(keys[2])}
	return l.compose(p, to, p.T(keys[0], l.brand.Site), lines, p.T("mail.notice.button"), settings, after)
}
