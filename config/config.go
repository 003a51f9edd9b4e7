// Package config loads and validates the provider's configuration: a YAML
// file, then IDP_* environment variables on top, then secrets read from
// *_file paths. Validation names the bad field and says why; unknown keys
// are errors, so a typo never silently falls back to a default.
//
// This package imports only the standard library, yaml and ui (for the list
// of shipped languages); everything else receives a Config value from here.
package config

import (
	"time"
)

// Config is the whole configuration. The zero value is not usable: start
// from Default() or Load().
type Config struct {
	// Issuer is the provider's public base URL; it appears byte for byte in
	// tokens and discovery.
	Issuer string `yaml:"issuer"`
	// Listen is the address the HTTP server binds.
	Listen string `yaml:"listen"`
	// TrustedProxies are the reverse proxies (IP addresses or CIDR ranges)
	// whose X-Forwarded-For header is believed. Empty: the peer address is
	// the client, and the header is ignored.
	TrustedProxies []string     `yaml:"trusted_proxies"`
	Database       Database     `yaml:"database"`
	Clients        []Client     `yaml:"clients"`
	Tokens         Tokens       `yaml:"tokens"`
	Keys           Keys         `yaml:"keys"`
	Sessions       Sessions     `yaml:"sessions"`
	Password       Password     `yaml:"password"`
	Throttle       Throttle     `yaml:"throttle"`
	Passkeys       Passkeys     `yaml:"passkeys"`
	Branding       Branding     `yaml:"branding"`
	UI             UI           `yaml:"ui"`
	Admin          Admin        `yaml:"admin"`
	Audit          Audit        `yaml:"audit"`
	Metrics        Metrics      `yaml:"metrics"`
	Doctor         Doctor       `yaml:"doctor"`
	Secrets        Secrets      `yaml:"secrets"`
	Email          Email        `yaml:"email"`
	Registration   Registration `yaml:"registration"`
	Log            Log          `yaml:"log"`

	// File is the configuration file Load read, "" when none.
	File string `yaml:"-"`
}

// Admin configures the admin console.
type Admin struct {
	// RecoveryLinkLifetime is how long a recovery link works.
	RecoveryLinkLifetime Duration `yaml:"recovery_link_lifetime"`
	// PasskeyFailureAlert is the share of failed passkey sign-ins (over the
	// last 7 days, from 10 attempts on) above which the rollout page warns.
	PasskeyFailureAlert float64 `yaml:"passkey_failure_alert"`
	// OriginErrorAlert is the number of origin or RP ID errors in 7 days
	// from which the rollout page warns.
	OriginErrorAlert int `yaml:"origin_error_alert"`
}

// Audit configures the audit log.
type Audit struct {
	// Retention is how long events are kept.
	Retention Duration `yaml:"retention"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the address of /metrics, apart from the public port; empty
	// (the default) turns metrics off.
	Listen string `yaml:"listen"`
}

// Doctor configures the synthetic sign-in check (idp doctor --synthetic,
// and the admin console's health check): a dedicated test account signs
// in through a registered public client.
type Doctor struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// ClientID is a public client (PKCE, no secret) and RedirectURI one of
	// its registered redirect URIs; the check reads the code from the
	// redirect and never follows it.
	ClientID    string `yaml:"client_id"`
	RedirectURI string `yaml:"redirect_uri"`
}

// Secrets names the key-encryption key (KEK) that the private signing keys
// and the generated secrets are sealed under in the database, so that a
// copy of the database alone forges nothing. The KEK is never stored in
// the database: keep it, and back it up, apart from it.
type Secrets struct {
	// KeyFile holds the KEK: 32 random bytes in base64 (head -c 32
	// /dev/urandom | base64). Required unless the issuer is http on this
	// machine (development), where one is created next to the database.
	KeyFile string `yaml:"key_file"`
	// Key is the KEK itself, for tests; IDP_SECRETS_KEY_FILE reads it from
	// a file too. Prefer key_file.
	Key string `yaml:"key"`
	// OldKeyFiles are earlier KEKs, during a rotation: values sealed under
	// them still open, and each start seals them again under key_file.
	OldKeyFiles []string `yaml:"old_key_files"`
}

// Email configures how the provider writes to members: password reset
// and invitation links, address verification, security notices. Without
// a from address and an SMTP host, mail is off (and so is everything that
// needs it); the development provider then prints what it would send to
// its log.
type Email struct {
	// From is the sender, e.g. "Community <no-reply@community.example>".
	From string `yaml:"from"`
	SMTP SMTP   `yaml:"smtp"`
	// Notices are the security notices members get by email; each is on
	// unless set to false.
	Notices Notices `yaml:"notices"`
}

// SMTP is the server mail is handed to.
type SMTP struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// TLS is starttls (the default: port 587), implicit (port 465) or
	// none (a relay on this machine or a test server only).
	TLS string `yaml:"tls"`
}

// Notices switches each security notice on (the default) or off.
type Notices struct {
	PasskeyAdded    *bool `yaml:"passkey_added"`
	PasskeyDeleted  *bool `yaml:"passkey_deleted"`
	PasswordChanged *bool `yaml:"password_changed"`
	EmailChanged    *bool `yaml:"email_changed"`
	RecoveryUsed    *bool `yaml:"recovery_used"`
	AccountDisabled *bool `yaml:"account_disabled"`
	AccountEnabled  *bool `yaml:"account_enabled"`
}

// Enabled reports whether mail is configured.
func (e Email) Enabled() bool { return e.From != "" && e.SMTP.Host != "" }

// Notice reports whether the notice of kind is on (see the Notice*
// constants).
func (n Notices) Notice(kind string) bool {
	p := map[string]*bool{NoticePasskeyAdded: n.PasskeyAdded, NoticePasskeyDeleted: n.PasskeyDeleted,
		NoticePasswordChanged: n.PasswordChanged, NoticeEmailChanged: n.EmailChanged, NoticeRecoveryUsed: n.RecoveryUsed,
		NoticeAccountDisabled: n.AccountDisabled, NoticeAccountEnabled: n.AccountEnabled}[kind]
	return p == nil || *p
}

// Security notice kinds.
const (
	NoticePasskeyAdded    = "passkey_added"
	NoticePasskeyDeleted  = "passkey_deleted"
	NoticePasswordChanged = "password_changed"
	NoticeEmailChanged    = "email_changed"
	NoticeRecoveryUsed    = "recovery_used"
	NoticeAccountDisabled = "account_disabled"
	NoticeAccountEnabled  = "account_enabled"
)

// Registration modes.
const (
	RegistrationClosed = "closed"
	RegistrationInvite = "invite"
	RegistrationOpen   = "open"
)

// Registration says who may create an account.
type Registration struct {
	// Mode is closed (admins add members; the default), invite (only
	// invitation links) or open (anyone, with "Create account").
	Mode string `yaml:"mode"`
	// RequireVerifiedEmail keeps a new account from signing in until its
	// address is verified.
	RequireVerifiedEmail bool `yaml:"require_verified_email"`
	// InvitationLifetime is how long an invitation link works.
	InvitationLifetime Duration `yaml:"invitation_lifetime"`
	// VerificationLifetime is how long an email verification link works.
	VerificationLifetime Duration `yaml:"verification_lifetime"`
}

// Development reports whether this is the development provider: an http
// issuer on this machine (http is allowed nowhere else).
func (c *Config) Development() bool { return developmentIssuer(c.Issuer) }

// Database selects the store.
type Database struct {
	// Driver is "sqlite" (embedded, the default) or "postgres" (several
	// replicas on one database).
	Driver string `yaml:"driver"`
	// DSN is the SQLite file path, or the PostgreSQL URL.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
}

// Client types.
const (
	ClientConfidential = "confidential"
	ClientPublic       = "public"
)

// Grant types a client may enable.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Client is a relying party registered by the admin. Clients are read at
// start and immutable while the provider runs.
type Client struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Type is "confidential" (a server-side website with a secret) or
	// "public" (a mobile or desktop app: PKCE S256 required, no secret).
	Type string `yaml:"type"`
	// SecretHash is the output of `idp clients hash-secret`.
	SecretHash string `yaml:"secret_hash"`
	// Secret is the plain secret; allowed but warned about at start.
	Secret                 string   `yaml:"secret"`
	SecretFile             string   `yaml:"secret_file"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// GrantTypes defaults to authorization_code and refresh_token.
	GrantTypes []string `yaml:"grant_types"`
	// IDTokenSigningAlg is RS256 (default, the most interoperable) or ES256.
	IDTokenSigningAlg string `yaml:"id_token_signing_alg"`
	// RequirePKCE makes PKCE mandatory for a confidential client too
	// (public clients always need it).
	RequirePKCE bool `yaml:"require_pkce"`
	// BackchannelLogoutURI receives a signed logout token when a session
	// that signed in to this client ends (OpenID Connect Back-Channel
	// Logout 1.0): https, or http on a loopback host.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// BackchannelLogoutSessionRequired: the client needs sid in the
	// logout token (it always gets one when the session is known).
	BackchannelLogoutSessionRequired bool `yaml:"backchannel_logout_session_required"`
}

// Public reports whether the client is a public client.
func (c *Client) Public() bool { return c.Type == ClientPublic }

// HasGrant reports whether the client may use grant type g.
func (c *Client) HasGrant(g string) bool {
	for _, x := range c.GrantTypes {
		if x == g {
			return true
		}
	}
	return false
}

// Tokens sets token lifetimes.
type Tokens struct {
	IDTokenLifetime              Duration `yaml:"id_token_lifetime"`
	AccessTokenLifetime          Duration `yaml:"access_token_lifetime"`
	RefreshTokenLifetime         Duration `yaml:"refresh_token_lifetime"`
	RefreshTokenAbsoluteLifetime Duration `yaml:"refresh_token_absolute_lifetime"`
	CodeLifetime                 Duration `yaml:"code_lifetime"`
	// AuthRequestLifetime is how long a member has to finish signing in.
	AuthRequestLifetime Duration `yaml:"auth_request_lifetime"`
	// RefreshTokenReuseInterval is how long after its use a refresh token
	// may be presented once more and get the very same answer again (the
	// same successor, never a second one), as long as that successor was
	// never used: the client lost the response (a crash, a dropped
	// connection). Outside it, or once the successor was used, a reuse is
	// a replay and the whole grant is revoked. 0, the default, turns the
	// grace off: any reuse ends the grant.
	RefreshTokenReuseInterval Duration `yaml:"refresh_token_reuse_interval"`
}

// Keys configures token signing keys.
type Keys struct {
	// RotationPeriod is how long a signing key stays active.
	RotationPeriod Duration `yaml:"rotation_period"`
	// IDTokenSigningAlg is the default for clients that do not set one.
	IDTokenSigningAlg string `yaml:"id_token_signing_alg"`
}

// Sessions configures the browser sign-in session.
type Sessions struct {
	IdleTimeout      Duration `yaml:"idle_timeout"`
	AbsoluteLifetime Duration `yaml:"absolute_lifetime"`
	// ReauthAfter is how recent a sign-in must be for sensitive account
	// changes (password change, adding a passkey).
	ReauthAfter Duration `yaml:"reauth_after"`
}

// Passkey rollout stages.
const (
	RolloutOff      = "off"
	RolloutAdmins   = "admins"
	RolloutGroup    = "group"
	RolloutEveryone = "everyone"
)

// Passkeys configures WebAuthn sign-in.
type Passkeys struct {
	// Rollout is off (no passkey UI at all), admins, group (the members and
	// roles in RolloutGroup) or everyone. It decides who is offered "Add
	// Passkey" and the suggestion; signing in with a registered passkey works
	// whenever it is not off.
	Rollout string `yaml:"rollout"`
	// RolloutGroup lists usernames, and roles as "role:admin".
	RolloutGroup []string `yaml:"rollout_group"`
	// RPID is the WebAuthn relying party ID: the issuer's host name (the
	// default) or a parent domain of it.
	RPID string `yaml:"rp_id"`
	// RPName is shown in the browser's passkey prompt; default the site name.
	RPName string `yaml:"rp_name"`
	// Origins are web origins allowed besides the issuer's.
	Origins []string `yaml:"origins"`
	// UserVerification is required (the default: a passkey alone is a full
	// sign-in, so the device must check its owner) or preferred.
	UserVerification string `yaml:"user_verification"`
	// SuggestionSnooze is how long "Not now" keeps the suggestion away.
	SuggestionSnooze Duration `yaml:"suggestion_snooze"`
	// OnClone is what a sign-in does when a passkey's signature counter,
	// above zero, does not grow (the authenticator may have been cloned):
	// refuse (the default) or warn. Either way the passkey is marked, the
	// sign-in is audited (passkey.clone) and logged. Synced passkeys keep
	// their counter at zero and are never affected.
	OnClone string `yaml:"on_clone"`
	// AutoUpgrade lets the browser's password manager create a passkey on
	// its own after a password sign-in, where it supports that.
	AutoUpgrade bool `yaml:"auto_upgrade"`
	// Android apps that sign in with the site's passkeys.
	Android []AndroidApp `yaml:"android"`
	// IOS apps that sign in with the site's passkeys.
	IOS []IOSApp `yaml:"ios"`
}

// AndroidApp is an Android app allowed to use the site's passkeys.
type AndroidApp struct {
	PackageName string `yaml:"package_name"`
	// SHA256CertFingerprints are the app signing certificates' SHA-256
	// fingerprints, "AB:CD:..." as keytool prints them.
	SHA256CertFingerprints []string `yaml:"sha256_cert_fingerprints"`
}

// IOSApp is an iOS app allowed to use the site's passkeys.
type IOSApp struct {
	// AppID is TEAMID.bundle.id.
	AppID string `yaml:"app_id"`
}

// Password sets the password policy.
type Password struct {
	MinLength int `yaml:"min_length"`
}

// Throttle limits guessing. Failed password sign-ins are counted per
// sign-in name (a username or an email address, whether or not an account
// has it: an account has two names) and per client address, failed client
// authentications at the token endpoint per client and address, and failed
// recovery links per address. Each attempt is counted before the password
// is checked, so attempts sent at once cannot all get through. Counters
// live in the database, so every replica sees the same ones.
// Passkey sign-in is never throttled: an attacker guessing a member's
// password cannot lock the member out of their passkey.
type Throttle struct {
	// Window is the period failures are counted over.
	Window Duration `yaml:"window"`
	// AccountFailures is how many failures a sign-in name (or a client at
	// the token endpoint) takes within Window before each further attempt
	// must wait, 1 s doubling with each failure up to Window.
	AccountFailures int `yaml:"account_failures"`
	// AccountHourlyLimit stops attempts for an hour once a sign-in name has
	// failed this many times within an hour (the default 50 keeps an
	// account, with its two names, at 100 an hour at most).
	AccountHourlyLimit int `yaml:"account_hourly_limit"`
	// AddressFailures and AddressHourlyLimit are the same per client
	// address (an IPv6 /64), across accounts: higher, since many members
	// can share one address.
	AddressFailures    int `yaml:"address_failures"`
	AddressHourlyLimit int `yaml:"address_hourly_limit"`
	// Rates per client address (an IPv6 /64) and minute, counted by each
	// replica apart, of what costs the provider a row or a page: the
	// identifier step (POST /login), new authorization requests, passkey
	// ceremonies begun, and failed-ceremony reports. 0 turns one off.
	// Generous: whole schools share one address.
	IdentifierPerMinute    int `yaml:"identifier_per_minute"`
	AuthorizePerMinute     int `yaml:"authorize_per_minute"`
	CeremonyPerMinute      int `yaml:"ceremony_per_minute"`
	FailureReportPerMinute int `yaml:"failure_report_per_minute"`
}

// Branding is how the pages present the community.
type Branding struct {
	SiteName string `yaml:"site_name"`
	// LogoFile is an image (PNG, JPEG, GIF, WebP or SVG, at most 256 KiB)
	// the provider serves itself at /branding/logo: the better choice, as
	// the sign-in pages then load nothing from another site.
	LogoFile string `yaml:"logo_file"`
	// LogoURL is an https address of the logo instead, added to the
	// pages' Content-Security-Policy.
	LogoURL string `yaml:"logo_url"`
	// PrimaryColor is the buttons' and links' color, #rrggbb. White
	// button text on it must be readable (contrast at least 4.5:1). It
	// applies to the light theme; the dark theme keeps its own.
	PrimaryColor string `yaml:"primary_color"`
	// SupportURL, SupportEmail and HelpURL are where members find help;
	// every page links them, and failure pages show the support details
	// to send.
	SupportURL   string `yaml:"support_url"`
	SupportEmail string `yaml:"support_email"`
	HelpURL      string `yaml:"help_url"`
}

// UI configures the pages' language.
type UI struct {
	// DefaultLanguage is the language of the pages for a browser that asks
	// for none of the shipped ones (ui/locales): the pages follow the
	// authorization request's ui_locales, then the browser's
	// Accept-Language, then this.
	DefaultLanguage string `yaml:"default_language"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
	// PublicRequests is the level of the access-log lines of the
	// discovery document and the key set, which clients fetch often:
	// debug (the default) or info.
	PublicRequests string `yaml:"public_requests"`
}

// Default returns the development configuration used when no file is
// given: an issuer on localhost and SQLite in the working directory.
func Default() Config {
	return Config{
		Issuer:   "http://localhost:8080",
		Listen:   "127.0.0.1:8080",
		Database: Database{Driver: "sqlite", DSN: "idp.db"},
		Tokens: Tokens{
			IDTokenLifetime:              Duration(time.Hour),
			AccessTokenLifetime:          Duration(time.Hour),
			RefreshTokenLifetime:         Duration(30 * 24 * time.Hour),
			RefreshTokenAbsoluteLifetime: Duration(90 * 24 * time.Hour),
			CodeLifetime:                 Duration(time.Minute),
			AuthRequestLifetime:          Duration(30 * time.Minute),
			RefreshTokenReuseInterval:    0,
		},
		Keys: Keys{
			RotationPeriod:    Duration(30 * 24 * time.Hour),
			IDTokenSigningAlg: "RS256",
		},
		Sessions: Sessions{
			IdleTimeout:      Duration(7 * 24 * time.Hour),
			AbsoluteLifetime: Duration(30 * 24 * time.Hour),
			ReauthAfter:      Duration(10 * time.Minute),
		},
		Password: Password{MinLength: 8},
		Throttle: Throttle{
			Window:             Duration(15 * time.Minute),
			AccountFailures:    10,
			AccountHourlyLimit: 50,
			AddressFailures:    50,
			AddressHourlyLimit: 500,

			IdentifierPerMinute:    300,
			AuthorizePerMinute:     300,
			CeremonyPerMinute:      300,
			FailureReportPerMinute: 60,
		},
		Passkeys: Passkeys{
			Rollout:          RolloutAdmins,
			UserVerification: "required",
			OnClone:          "refuse",
			SuggestionSnooze: Duration(30 * 24 * time.Hour),
		},
		Branding: Branding{SiteName: "Community"},
		Registration: Registration{Mode: RegistrationClosed, InvitationLifetime: Duration(7 * 24 * time.Hour),
			VerificationLifetime: Duration(7 * 24 * time.Hour)},
		UI:    UI{DefaultLanguage: "en"},
		Admin: Admin{RecoveryLinkLifetime: Duration(30 * time.Minute), PasskeyFailureAlert: 0.25, OriginErrorAlert: 3},
		Audit: Audit{Retention: Duration(365 * 24 * time.Hour)},
		Log:   Log{Level: "info", Format: "text", PublicRequests: "debug"},
	}
}
