// Package doctor checks a deployment from the outside, the way a support
// engineer would (idp doctor): the issuer answers and matches discovery,
// HTTPS and cookies are right behind a proxy, the RP ID fits the issuer
// and origins, the app association files are reachable and match the
// configuration, the clocks agree, the database takes writes. Each
// problem comes with its fix. Synthetic goes further and signs a test
// account in end to end.
package doctor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/store"
)

// Finding is one check's outcome.
// Store is what the synthetic check keeps: its software passkey's
// ceremonies, and the outbox it reports on.
type Store interface {
	store.CeremonyStore
	store.OutboxStore
}

type Finding struct {
	Check   string
	OK      bool
	Problem string
	Fix     string
	// Note marks a finding that is no problem, only worth knowing (a
	// feature that is off): Problem says what, Fix how to turn it on.
	Note bool
}

// Options tune the checks.
type Options struct {
	// Store, when set, is checked for writes.
	Store Store
	// HTTP is the client the checks use (default: 10 s timeout).
	HTTP *http.Client
	Now  func() time.Time
}

// Check runs every deployment check.
func Check(ctx context.Context, cfg config.Config, o Options) []Finding {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &checker{ctx: ctx, cfg: cfg, o: o}
	c.configuration()
	if c.discovery() {
		c.https()
		c.wellKnown()
	}
	c.database()
	c.email()
	return c.out
}

type checker struct {
	ctx context.Context
	cfg config.Config
	o   Options
	out []Finding
}

func (c *checker) ok(check string) { c.out = append(c.out, Finding{Check: check, OK: true}) }

func (c *checker) note(check, what, how string) {
	c.out = append(c.out, Finding{Check: check, Problem: what, Fix: how, Note: true})
}

func (c *checker) fail(check, problem, fix string) {
	c.out = append(c.out, Finding{Check: check, Problem: problem, Fix: fix})
}

func (c *checker) get(u string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.o.HTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

// configuration re-validates the configuration (RP ID against issuer and
// origins included).
func (c *checker) configuration() {
	if err := c.cfg.Validate(); err != nil {
		c.fail("configuration", err.Error(), "correct the fields named; idp config check shows the same")
		return
	}
	c.ok("configuration, RP ID and origins")
}

// discovery checks the issuer answers, byte for byte, and the clocks.
func (c *checker) discovery() bool {
	resp, body, err := c.get(c.cfg.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		c.fail("issuer reachable", fmt.Sprintf("%s cannot be reached: %v", c.cfg.Issuer, err),
			"check DNS, the load balancer and that idp serve is running (idp healthcheck on the host)")
		return false
	}
	if resp.StatusCode != http.StatusOK {
		c.fail("issuer reachable", fmt.Sprintf("discovery answered %s", resp.Status),
			"the load balancer must forward /.well-known/openid-configuration to the provider")
		return false
	}
	var d struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &d); err != nil || d.Issuer != c.cfg.Issuer {
		c.fail("discovery matches the issuer", fmt.Sprintf("discovery says issuer %q, the configuration %q", d.Issuer, c.cfg.Issuer),
			"another service answers at this address, or the configuration's issuer is not the public URL")
		return false
	}
	c.ok("issuer reachable, discovery matches")
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		skew := c.o.Now().Sub(date)
		if skew < 0 {
			skew = -skew
		}
		if skew > 30*time.Second {
			c.fail("clock", fmt.Sprintf("the provider's clock differs from this machine's by %s", skew.Round(time.Second)),
				"run NTP (chrony, systemd-timesyncd) on the provider's hosts: tokens are checked against the clock")
		} else {
			c.ok("clock")
		}
	}
	if resp, _, err := c.get(d.JWKSURI); err != nil || resp.StatusCode != http.StatusOK {
		c.fail("JWKS", "the key set at "+d.JWKSURI+" does not answer", "forward /keys to the provider")
	}
	return true
}

// https checks TLS, HSTS and the cookies a proxy could spoil.
func (c *checker) https() {
	u, _ := url.Parse(c.cfg.Issuer)
	if u.Scheme != "https" {
		if u.Hostname() == "localhost" || strings.HasPrefix(u.Hostname(), "127.") {
			c.ok("HTTPS (not needed on localhost)")
			return
		}
		c.fail("HTTPS", "the issuer uses http", "serve the provider over https (terminate TLS at the proxy) and set issuer to the https URL")
		return
	}
	resp, _, err := c.get(c.cfg.Issuer + "/login")
	if err != nil {
		c.fail("HTTPS", err.Error(), "check the certificate and the proxy")
		return
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		c.fail("HSTS", "responses lack Strict-Transport-Security", "do not strip the header at the proxy")
	}
	secure := false
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, "__Host-") && ck.Secure {
			secure = true
		}
	}
	if !secure {
		c.fail("cookies", "the sign-in page sets no __Host- Secure cookie", "the proxy must not rewrite Set-Cookie headers")
		return
	}
	c.ok("HTTPS, HSTS and cookies")
}

// wellKnown checks the app association files where browsers and phones
// look for them: at the RP ID's host.
func (c *checker) wellKnown() {
	if c.cfg.Passkeys.Rollout == config.RolloutOff {
		return
	}
	want, err := passkey.NewWellKnown(c.cfg)
	if err != nil {
		c.fail("app association files", err.Error(), "fix passkeys.android / passkeys.ios")
		return
	}
	u, _ := url.Parse(c.cfg.Issuer)
	base := u.Scheme + "://" + c.cfg.Passkeys.RPID
	if c.cfg.Passkeys.RPID == u.Hostname() {
		base = u.Scheme + "://" + u.Host
	}
	for _, f := range []struct {
		path string
		want []byte
	}{
		{"/.well-known/assetlinks.json", want.AssetLinks},
		{"/.well-known/apple-app-site-association", want.AppleAppSiteAssociation},
		{"/.well-known/webauthn", want.RelatedOrigins},
	} {
		if f.want == nil {
			continue
		}
		resp, body, err := c.get(base + f.path)
		switch {
		case err != nil:
			c.fail(f.path, err.Error(), "serve it at "+base+f.path)
		case resp.StatusCode != http.StatusOK:
			c.fail(f.path, fmt.Sprintf("%s%s answered %s", base, f.path, resp.Status),
				"apps and browsers fetch it from the RP ID's host: serve it there (the provider serves it when rp_id is its own host)")
		case !bytes.Equal(bytes.TrimSpace(body), f.want):
			c.fail(f.path, "it does not match the configuration", "publish the provider's version of the file at "+base+f.path)
		default:
			c.ok(f.path)
		}
	}
}

// database checks the store takes a write (a ceremony row, created and
// consumed at once).
func (c *checker) database() {
	if c.o.Store == nil {
		return
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "doctor-" + hex.EncodeToString(b)
	now := c.o.Now()
	err := c.o.Store.CreateCeremony(c.ctx, &store.Ceremony{ID: id, Kind: "login", Binding: []byte("doctor"), Data: []byte("{}"), ExpiresAt: now.Add(time.Minute)})
	if err == nil {
		_, err = c.o.Store.ConsumeCeremony(c.ctx, id, now)
	}
	if err != nil {
		fix := "check the database's disk space and permissions"
		if errors.Is(err, store.ErrUnavailable) {
			fix = "the database does not answer: check it is running and reachable"
		}
		c.fail("database writable", err.Error(), fix)
		return
	}
	c.ok("database writable")
}

// origin is the scheme and host of u.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Scheme + "://" + p.Host
}

// email says whether mail is on; when it is, that the SMTP server takes
// a connection with the configured TLS and credentials, and that no mail
// keeps failing in the outbox.
func (c *checker) email() {
	if !c.cfg.Email.Enabled() {
		c.note("email", "off: forgot password, sign-up, invitations, address checks and security notices are off",
			"set email.from and email.smtp (docs/admins.md, \"Setting up email\")")
		return
	}
	smtp, err := mail.NewSMTP(c.cfg.Email)
	if err == nil {
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		err = smtp.Check(ctx)
		cancel()
	}
	if err != nil {
		c.fail("email: SMTP server", err.Error(),
			"check email.smtp (host, port, tls: starttls for 587, implicit for 465) and the credentials, and that this host may reach the server")
	} else {
		c.ok("email: SMTP server " + c.cfg.Email.SMTP.Host + " answers")
	}
	if c.o.Store == nil {
		return
	}
	failing, err := c.o.Store.ListOutbox(c.ctx, 100)
	if err != nil {
		c.fail("email: outbox", err.Error(), "check the database")
		return
	}
	if len(failing) > 0 {
		last := failing[0]
		c.fail("email: outbox", fmt.Sprintf("%d messages are not sent; the last error: %s", len(failing), last.LastError),
			"the admin console's Mail page lists them; they are retried for a day, then kept as given up")
		return
	}
	c.ok("email: no mail failing")
}
