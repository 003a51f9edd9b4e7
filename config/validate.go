package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/communityidp/idp/ui"
)

// Problem is one invalid setting: the field's path and why.
type Problem struct {
	Field  string
	Reason string
}

// Problems is every invalid setting found; it is the error Load and
// Validate return.
type Problems []Problem

func (p *Problems) add(field, reason string) { *p = append(*p, Problem{field, reason}) }

func (p Problems) Error() string {
	var b strings.Builder
	if len(p) == 1 {
		b.WriteString("invalid configuration: ")
	} else {
		fmt.Fprintf(&b, "invalid configuration (%d problems):", len(p))
	}
	for _, x := range p {
		if len(p) > 1 {
			b.WriteString("\n  - ")
		}
		fmt.Fprintf(&b, "%s: %s", x.Field, x.Reason)
	}
	return b.String()
}

// Validate checks every field and returns Problems, or nil.
func (c *Config) Validate() error {
	var p Problems
	c.validateIssuer(&p)
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("listen", fmt.Sprintf("%q is not host:port (e.g. \"127.0.0.1:8080\" or \":8080\")", c.Listen))
	}
	switch c.Database.Driver {
	case "sqlite":
		if c.Database.DSN == "" {
			p.add("database.dsn", "required: the SQLite file path, e.g. /var/lib/idp/idp.db")
		}
	case "postgres":
		if u, err := url.Parse(c.Database.DSN); c.Database.DSN == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			p.add("database.dsn", "required: a PostgreSQL URL such as postgres://idp:secret@db.example:5432/idp?sslmode=verify-full (use dsn_file or IDP_DATABASE_DSN_FILE for the password)")
		}
	case "":
		p.add("database.driver", "required: sqlite or postgres")
	default:
		p.add("database.driver", fmt.Sprintf("%q is not supported (use sqlite or postgres)", c.Database.Driver))
	}

	positive := []struct {
		field string
		d     Duration
		min   time.Duration
	}{
		{"tokens.id_token_lifetime", c.Tokens.IDTokenLifetime, time.Minute},
		{"tokens.access_token_lifetime", c.Tokens.AccessTokenLifetime, time.Minute},
		{"tokens.refresh_token_lifetime", c.Tokens.RefreshTokenLifetime, time.Minute},
		{"tokens.refresh_token_absolute_lifetime", c.Tokens.RefreshTokenAbsoluteLifetime, time.Minute},
		{"tokens.code_lifetime", c.Tokens.CodeLifetime, time.Second},
		{"tokens.auth_request_lifetime", c.Tokens.AuthRequestLifetime, time.Minute},
		{"keys.rotation_period", c.Keys.RotationPeriod, time.Hour},
		{"sessions.idle_timeout", c.Sessions.IdleTimeout, time.Minute},
		{"sessions.absolute_lifetime", c.Sessions.AbsoluteLifetime, time.Minute},
		{"sessions.reauth_after", c.Sessions.ReauthAfter, time.Minute},
		{"admin.recovery_link_lifetime", c.Admin.RecoveryLinkLifetime, time.Minute},
		{"audit.retention", c.Audit.Retention, 24 * time.Hour},
	}
	for _, x := range positive {
		if x.d.D() < x.min {
			p.add(x.field, fmt.Sprintf("must be at least %s", Duration(x.min)))
		}
	}
	if c.Tokens.CodeLifetime.D() > 10*time.Minute {
		p.add("tokens.code_lifetime", "must be at most 10m (RFC 6749 section 4.1.2)")
	}
	if c.Tokens.RefreshTokenAbsoluteLifetime < c.Tokens.RefreshTokenLifetime {
		p.add("tokens.refresh_token_absolute_lifetime", "must not be shorter than tokens.refresh_token_lifetime")
	}
	if c.Sessions.AbsoluteLifetime < c.Sessions.IdleTimeout {
		p.add("sessions.absolute_lifetime", "must not be shorter than sessions.idle_timeout")
	}
	if c.Keys.RotationPeriod <= c.Tokens.IDTokenLifetime {
		p.add("keys.rotation_period", "must be longer than tokens.id_token_lifetime")
	}
	if !validAlg(c.Keys.IDTokenSigningAlg) {
		p.add("keys.id_token_signing_alg", fmt.Sprintf("%q is not supported (use RS256 or ES256)", c.Keys.IDTokenSigningAlg))
	}
	c.validateEmail(&p)
	if c.Secrets.Key != "" && c.Secrets.KeyFile != "" {
		p.add("secrets.key", "set either secrets.key or secrets.key_file, not both")
	}
	if !c.Development() && c.Secrets.Key == "" && c.Secrets.KeyFile == "" {
		p.add("secrets.key_file", "required with an https issuer: the private keys in the database are encrypted under this key-encryption key; create one with: head -c 32 /dev/urandom | base64 > /etc/idp/secrets.key (mode 0600), and back it up apart from the database")
	}
	if c.Tokens.RefreshTokenReuseInterval < 0 || c.Tokens.RefreshTokenReuseInterval.D() > 5*time.Minute {
		p.add("tokens.refresh_token_reuse_interval", "must be between 0 (off) and 5m: a longer grace weakens replay detection")
	}
	for i, proxy := range c.TrustedProxies {
		if reason := proxyProblem(proxy); reason != "" {
			p.add(fmt.Sprintf("trusted_proxies[%d]", i), reason)
		}
	}
	c.validateThrottle(&p)
	if c.Password.MinLength < 8 || c.Password.MinLength > 64 {
		p.add("password.min_length", "must be between 8 and 64")
	}
	c.validatePasskeys(&p)
	if c.Admin.RecoveryLinkLifetime.D() > 7*24*time.Hour {
		p.add("admin.recovery_link_lifetime", "must be at most 7d: a recovery link is as good as a password")
	}
	if c.Admin.PasskeyFailureAlert <= 0 || c.Admin.PasskeyFailureAlert > 1 {
		p.add("admin.passkey_failure_alert", "must be a share between 0 and 1, e.g. 0.25")
	}
	if c.Admin.OriginErrorAlert < 1 {
		p.add("admin.origin_error_alert", "must be at least 1")
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			p.add("metrics.listen", fmt.Sprintf("%q is not host:port (e.g. \"127.0.0.1:9090\")", c.Metrics.Listen))
		} else if c.Metrics.Listen == c.Listen {
			p.add("metrics.listen", "must differ from listen: metrics are not for the public port")
		}
	}
	c.validateDoctor(&p)
	if strings.TrimSpace(c.Branding.SiteName) == "" {
		p.add("branding.site_name", "must not be empty")
	}
	c.validateBranding(&p)
	if !slices.Contains(ui.Languages(), c.UI.DefaultLanguage) {
		p.add("ui.default_language", fmt.Sprintf("%q is not a shipped language (one of %s)", c.UI.DefaultLanguage,
			strings.Join(ui.Languages(), ", ")))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", fmt.Sprintf("%q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.add("log.format", fmt.Sprintf("%q is not one of text, json", c.Log.Format))
	}
	switch c.Log.PublicRequests {
	case "debug", "info":
	default:
		p.add("log.public_requests", fmt.Sprintf("%q is not one of debug, info", c.Log.PublicRequests))
	}

	seen := map[string]int{}
	for i := range c.Clients {
		c.Clients[i].validate(fmt.Sprintf("clients[%d]", i), &p)
		if j, dup := seen[c.Clients[i].ID]; dup && c.Clients[i].ID != "" {
			p.add(fmt.Sprintf("clients[%d].id", i), fmt.Sprintf("%q is already used by clients[%d]", c.Clients[i].ID, j))
		}
		seen[c.Clients[i].ID] = i
	}
	if len(p) > 0 {
		return p
	}
	return nil
}

func (c *Config) validateIssuer(p *Problems) {
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		p.add("issuer", "required: the public URL of the provider, e.g. https://login.example.org")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		p.add("issuer", fmt.Sprintf("%q is not an absolute http(s) URL", c.Issuer))
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		p.add("issuer", "must use https (http is only allowed for localhost, for development)")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		p.add("issuer", "must not have a query, fragment or user info")
	case u.Path != "" && u.Path != "/":
		p.add("issuer", "must not have a path: serve the provider at the root of its own host name")
	case strings.HasSuffix(c.Issuer, "/"):
		p.add("issuer", "must not end with a slash (tokens carry the issuer byte for byte)")
	}
}

func (cl *Client) validate(path string, p *Problems) {
	f := func(name string) string { return path + "." + name }
	if cl.ID == "" {
		p.add(f("id"), "required")
	} else if !validClientID(cl.ID) {
		p.add(f("id"), "may contain only letters, digits, '.', '_' and '-' (at most 64)")
	}
	switch cl.Type {
	case ClientConfidential:
		n := 0
		for _, s := range []string{cl.Secret, cl.SecretHash} {
			if s != "" {
				n++
			}
		}
		switch {
		case n == 0:
			p.add(f("secret_hash"), "required for a confidential client (run `idp clients hash-secret`), or set secret or secret_file")
		case n > 1:
			p.add(f("secret"), "set only one of secret, secret_file and secret_hash")
		case cl.Secret != "" && len(cl.Secret) < 16:
			p.add(f("secret"), "too short: use at least 16 random characters (32 recommended)")
		case cl.SecretHash != "" && !looksLikeArgon2id(cl.SecretHash):
			p.add(f("secret_hash"), "is not an $argon2id$ hash from `idp clients hash-secret`")
		}
	case ClientPublic:
		if cl.Secret != "" || cl.SecretHash != "" || cl.SecretFile != "" {
			p.add(f("secret"), "a public client cannot keep a secret: remove it (public clients use PKCE)")
		}
	case "":
		p.add(f("type"), "required: confidential or public")
	default:
		p.add(f("type"), fmt.Sprintf("%q is not one of confidential, public", cl.Type))
	}
	if len(cl.RedirectURIs) == 0 {
		p.add(f("redirect_uris"), "required: at least one redirect URI")
	}
	for i, u := range cl.RedirectURIs {
		if reason := redirectURIProblem(u, cl.Public()); reason != "" {
			p.add(fmt.Sprintf("%s[%d]", f("redirect_uris"), i), reason)
		}
	}
	for i, u := range cl.PostLogoutRedirectURIs {
		if reason := redirectURIProblem(u, cl.Public()); reason != "" {
			p.add(fmt.Sprintf("%s[%d]", f("post_logout_redirect_uris"), i), reason)
		}
	}
	for i, g := range cl.GrantTypes {
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken:
		case GrantClientCredentials:
			if cl.Public() {
				p.add(fmt.Sprintf("%s[%d]", f("grant_types"), i), "client_credentials needs a confidential client")
			}
		default:
			p.add(fmt.Sprintf("%s[%d]", f("grant_types"), i), fmt.Sprintf("%q is not one of authorization_code, refresh_token, client_credentials", g))
		}
	}
	if u := cl.BackchannelLogoutURI; u != "" {
		if reason := backchannelURIProblem(u); reason != "" {
			p.add(f("backchannel_logout_uri"), reason)
		}
	} else if cl.BackchannelLogoutSessionRequired {
		p.add(f("backchannel_logout_session_required"), "needs backchannel_logout_uri")
	}
	if cl.IDTokenSigningAlg != "" && !validAlg(cl.IDTokenSigningAlg) {
		p.add(f("id_token_signing_alg"), fmt.Sprintf("%q is not supported (use RS256 or ES256)", cl.IDTokenSigningAlg))
	}
}

// redirectURIProblem says why u cannot be registered, or "" when it can.
// Matching is exact, so anything that could not match exactly is refused.
func redirectURIProblem(u string, public bool) string {
	if strings.ContainsAny(u, "*") {
		return "wildcards are not allowed: redirect URIs are matched exactly"
	}
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme == "" {
		return fmt.Sprintf("%q is not an absolute URI", u)
	}
	if parsed.Fragment != "" || strings.Contains(u, "#") {
		return "must not contain a fragment (#)"
	}
	switch parsed.Scheme {
	case "https":
		if parsed.Host == "" {
			return "has no host"
		}
	case "http":
		if !isLoopbackHost(parsed.Hostname()) {
			return "http is only allowed for loopback addresses (127.0.0.1, [::1], localhost); use https"
		}
	default:
		if !public {
			return "a custom scheme is only allowed for public (mobile or desktop) clients"
		}
		// RFC 8252 section 7.1: private-use schemes are reverse domain names.
		if !strings.Contains(parsed.Scheme, ".") {
			return fmt.Sprintf("custom scheme %q must be a reverse domain name such as com.example.app (RFC 8252)", parsed.Scheme)
		}
	}
	return ""
}

// backchannelURIProblem says why u cannot receive logout tokens, or "".
// Back-Channel Logout 1.0 section 2.2: an absolute http(s) URI without a
// fragment; this provider wants https except on a loopback host.
func backchannelURIProblem(u string) string {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme == "" || parsed.Host == "" {
		return fmt.Sprintf("%q is not an absolute URI", u)
	}
	if parsed.Fragment != "" || strings.Contains(u, "#") {
		return "must not contain a fragment (#)"
	}
	switch parsed.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(parsed.Hostname()) {
			return "http is only allowed for loopback addresses (127.0.0.1, [::1], localhost); use https"
		}
	default:
		return fmt.Sprintf("scheme %q: use https", parsed.Scheme)
	}
	return ""
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func validAlg(a string) bool { return a == "RS256" || a == "ES256" }

func validClientID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// looksLikeArgon2id is a shape check; the server parses the hash fully.
func looksLikeArgon2id(s string) bool {
	return strings.HasPrefix(s, "$argon2id$") && strings.Count(s, "$") == 5
}

// Warnings lists settings that work but deserve the admin's attention.
func (c *Config) Warnings() []string {
	var w []string
	if strings.HasPrefix(c.Issuer, "http://") {
		w = append(w, "issuer uses http: fine on localhost for development, use https in production")
	}
	for i, cl := range c.Clients {
		if cl.Secret != "" && cl.SecretFile == "" {
			w = append(w, fmt.Sprintf("clients[%d] (%s): plain secret in the configuration; prefer secret_hash from `idp clients hash-secret`", i, cl.ID))
		}
	}
	if c.Branding.LogoURL != "" {
		w = append(w, "branding.logo_url: the sign-in pages load the logo from another site, which learns every member's address; prefer logo_file")
	}
	return w
}

// validateDoctor checks the synthetic check's settings when any is set.
func (c *Config) validateDoctor(p *Problems) {
	d := c.Doctor
	if d.Username == "" && d.ClientID == "" && d.RedirectURI == "" && d.Password == "" {
		return
	}
	if d.Username == "" {
		p.add("doctor.username", "required for the synthetic check: a dedicated test account")
	}
	if d.Password == "" {
		p.add("doctor.password", "required for the synthetic check (or doctor.password_file)")
	}
	for _, cl := range c.Clients {
		if cl.ID != d.ClientID {
			continue
		}
		if !cl.Public() {
			p.add("doctor.client_id", fmt.Sprintf("%q is confidential; the synthetic check needs a public client (PKCE, no secret)", d.ClientID))
		}
		return
	}
	p.add("doctor.client_id", fmt.Sprintf("%q is not one of the clients", d.ClientID))
}

// proxyProblem says what is wrong with a trusted_proxies entry, or "".
func proxyProblem(s string) string {
	if strings.Contains(s, "/") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Sprintf("%q is not a CIDR range (e.g. 10.0.0.0/8)", s)
		}
		return ""
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return fmt.Sprintf("%q is not an IP address or CIDR range (e.g. 192.0.2.10 or 10.0.0.0/8)", s)
	}
	return ""
}

func (c *Config) validateThrottle(p *Problems) {
	t := c.Throttle
	if t.Window.D() < time.Minute || t.Window.D() > time.Hour {
		p.add("throttle.window", "must be between 1m and 1h")
	}
	if t.AccountFailures < 1 {
		p.add("throttle.account_failures", "must be at least 1")
	}
	if t.AccountHourlyLimit < t.AccountFailures {
		p.add("throttle.account_hourly_limit", "must not be below throttle.account_failures")
	}
	if t.AddressFailures < 1 {
		p.add("throttle.address_failures", "must be at least 1")
	}
	if t.AddressHourlyLimit < t.AddressFailures {
		p.add("throttle.address_hourly_limit", "must not be below throttle.address_failures")
	}
	for _, r := range []struct {
		field string
		v     int
	}{{"identifier_per_minute", t.IdentifierPerMinute}, {"authorize_per_minute", t.AuthorizePerMinute},
		{"ceremony_per_minute", t.CeremonyPerMinute}, {"failure_report_per_minute", t.FailureReportPerMinute}} {
		if r.v < 0 {
			p.add("throttle."+r.field, "must be 0 (off) or more")
		}
	}
}

// validateEmail checks the mail settings, and that what needs mail has it.
func (c *Config) validateEmail(p *Problems) {
	e := c.Email
	if e.From != "" || e.SMTP.Host != "" {
		if a, err := mail.ParseAddress(e.From); e.From == "" || err != nil || !strings.Contains(a.Address, "@") {
			p.add("email.from", fmt.Sprintf("%q is not a sender address such as \"Community <no-reply@community.example>\"", e.From))
		}
		if e.SMTP.Host == "" {
			p.add("email.smtp.host", "required with email.from: the SMTP server mail is handed to")
		}
	}
	if e.SMTP.Port < 1 || e.SMTP.Port > 65535 {
		p.add("email.smtp.port", fmt.Sprintf("%d is not a port", e.SMTP.Port))
	}
	switch e.SMTP.TLS {
	case "starttls", "implicit", "none":
	default:
		p.add("email.smtp.tls", fmt.Sprintf("%q is not one of starttls, implicit, none", e.SMTP.TLS))
	}
	if e.SMTP.Username != "" && e.SMTP.Password == "" {
		p.add("email.smtp.password_file", "required with email.smtp.username")
	}
	r := c.Registration
	switch r.Mode {
	case RegistrationClosed:
	case RegistrationInvite, RegistrationOpen:
		if !e.Enabled() && !c.Development() {
			p.add("registration.mode", fmt.Sprintf("%s needs email (email.from and email.smtp): invitations and address checks are mailed", r.Mode))
		}
	default:
		p.add("registration.mode", fmt.Sprintf("%q is not one of closed, invite, open", r.Mode))
	}
	if r.InvitationLifetime.D() < time.Hour || r.VerificationLifetime.D() < time.Hour {
		p.add("registration.invitation_lifetime", "invitation_lifetime and verification_lifetime must be at least 1h")
	}
}
