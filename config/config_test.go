package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "idp.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) (string, bool) { return "", false }

func mapEnv(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// testKEK is a key-encryption key for configurations with an https issuer.
const testKEK = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

const good = `
issuer: http://localhost:9000
listen: 127.0.0.1:9000
database: {driver: sqlite, dsn: /tmp/x.db}
clients:
  - id: community-site
    name: Community Site
    type: confidential
    secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
    redirect_uris: [https://community.example/oidc/callback]
    post_logout_redirect_uris: [https://community.example/]
  - id: mobile-app
    name: Community App
    type: public
    redirect_uris: [com.example.app:/oauth2redirect, http://127.0.0.1/callback]
`

func TestLoadGood(t *testing.T) {
	cfg, err := Load(write(t, good), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "http://localhost:9000" || cfg.Listen != "127.0.0.1:9000" || cfg.Database.DSN != "/tmp/x.db" {
		t.Fatalf("unexpected top level: %+v", cfg)
	}
	if len(cfg.Clients) != 2 || !cfg.Clients[1].Public() || cfg.Clients[0].Public() {
		t.Fatalf("clients: %+v", cfg.Clients)
	}
	if got := cfg.Clients[0].GrantTypes; len(got) != 2 || got[0] != GrantAuthorizationCode || got[1] != GrantRefreshToken {
		t.Fatalf("default grant types = %v", got)
	}
	if cfg.Clients[0].IDTokenSigningAlg != "RS256" {
		t.Fatalf("default alg = %q", cfg.Clients[0].IDTokenSigningAlg)
	}
	if cfg.Tokens.RefreshTokenLifetime.D() != 30*24*time.Hour {
		t.Fatalf("default refresh lifetime = %v", cfg.Tokens.RefreshTokenLifetime)
	}
}

func TestNoFileIsDevDefault(t *testing.T) {
	cfg, err := Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "http://localhost:8080" || cfg.Database.Driver != "sqlite" || cfg.Database.DSN != "idp.db" {
		t.Fatalf("dev default = %+v", cfg)
	}
}

// problemFields returns the fields named by a Problems error.
func problemFields(t *testing.T, err error) []string {
	t.Helper()
	var p Problems
	if !errors.As(err, &p) {
		t.Fatalf("error %v is not Problems", err)
	}
	var out []string
	for _, x := range p {
		out = append(out, x.Field)
	}
	return out
}

func TestRefused(t *testing.T) {
	cases := []struct {
		name, yaml, field, reason string
	}{
		{"typo in a key", strings.Replace(good, "redirect_uris: [https", "redirect_uri: [https", 1), "clients[0].redirect_uri", `did you mean "redirect_uris"`},
		{"typo at top level", good + "isuer: x\n", "isuer", `did you mean "issuer"`},
		{"client without redirect URIs", strings.Replace(good, "    redirect_uris: [com.example.app:/oauth2redirect, http://127.0.0.1/callback]\n", "", 1), "clients[1].redirect_uris", "required"},
		{"public client with a secret", strings.Replace(good, "    type: public\n", "    type: public\n    secret: abcdefghijklmnopqrstuvwxyz\n", 1), "clients[1].secret", "public client"},
		{"confidential without secret", strings.Replace(good, `    secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"`+"\n", "", 1), "clients[0].secret_hash", "required"},
		{"bad type", strings.Replace(good, "type: public", "type: mobile", 1), "clients[1].type", "not one of"},
		{"custom scheme without dot", strings.Replace(good, "com.example.app:/oauth2redirect", "myapp:/cb", 1), "clients[1].redirect_uris[0]", "reverse domain"},
		{"http redirect not loopback", strings.Replace(good, "https://community.example/oidc/callback", "http://community.example/cb", 1), "clients[0].redirect_uris[0]", "loopback"},
		{"wildcard redirect", strings.Replace(good, "https://community.example/oidc/callback", "https://*.example/cb", 1), "clients[0].redirect_uris[0]", "wildcards"},
		{"fragment redirect", strings.Replace(good, "https://community.example/oidc/callback", "https://community.example/cb#x", 1), "clients[0].redirect_uris[0]", "fragment"},
		{"duplicate client id", strings.Replace(good, "id: mobile-app", "id: community-site", 1), "clients[1].id", "already used"},
		{"http issuer on a public host", strings.Replace(good, "http://localhost:9000", "http://login.example.org", 1), "issuer", "https"},
		{"issuer with trailing slash", strings.Replace(good, "http://localhost:9000", "http://localhost:9000/", 1), "issuer", "slash"},
		{"bad duration", good + "tokens: {code_lifetime: 5}\n", "", "duration"},
		{"code lifetime too long", good + "tokens: {code_lifetime: 1h}\n", "tokens.code_lifetime", "at most"},
		{"bad alg", good + "keys: {id_token_signing_alg: HS256}\n", "keys.id_token_signing_alg", "RS256"},
		{"unknown driver", strings.Replace(good, "driver: sqlite", "driver: mysql", 1), "database.driver", "not supported"},
		{"postgres without a URL", strings.Replace(good, "driver: sqlite, dsn: /tmp/x.db", "driver: postgres, dsn: /tmp/x.db", 1), "database.dsn", "PostgreSQL URL"},
		{"trusted proxy not an address", good + "trusted_proxies: [10.0.0.0/8, proxy.internal]\n", "trusted_proxies[1]", "not an IP address"},
		{"trusted proxy bad range", good + "trusted_proxies: [10.0.0.0/33]\n", "trusted_proxies[0]", "not a CIDR range"},
		{"throttle window too long", good + "throttle: {window: 2h}\n", "throttle.window", "between 1m and 1h"},
		{"throttle without free failures", good + "throttle: {account_failures: 0}\n", "throttle.account_failures", "at least 1"},
		{"hourly limit below the free failures", good + "throttle: {address_failures: 50, address_hourly_limit: 10}\n", "throttle.address_hourly_limit", "not be below"},
		{"refresh reuse grace too long", good + "tokens: {refresh_token_reuse_interval: 1h}\n", "tokens.refresh_token_reuse_interval", "between 0"},
		{"default language not shipped", good + "ui: {default_language: xx}\n", "ui.default_language", "not a shipped language"},
		{"typo in the ui section", good + "ui: {default_languge: en}\n", "ui.default_languge", `did you mean "default_language"`},
		{"https issuer without a key-encryption key", strings.Replace(good, "http://localhost:9000", "https://login.example.org", 1), "secrets.key_file", "required with an https issuer"},
		{"two key-encryption keys", good + "secrets: {key: abc, key_file: /etc/idp/secrets.key}\n", "secrets.key", "not both"},
		{"back-channel logout over http", strings.Replace(good, "    post_logout_redirect_uris: [https://community.example/]\n", "    post_logout_redirect_uris: [https://community.example/]\n    backchannel_logout_uri: http://community.example/logout\n", 1), "clients[0].backchannel_logout_uri", "loopback"},
		{"back-channel logout with a fragment", strings.Replace(good, "    post_logout_redirect_uris: [https://community.example/]\n", "    post_logout_redirect_uris: [https://community.example/]\n    backchannel_logout_uri: https://community.example/logout#x\n", 1), "clients[0].backchannel_logout_uri", "fragment"},
		{"session required without a URI", strings.Replace(good, "    post_logout_redirect_uris: [https://community.example/]\n", "    post_logout_redirect_uris: [https://community.example/]\n    backchannel_logout_session_required: true\n", 1), "clients[0].backchannel_logout_session_required", "needs backchannel_logout_uri"},
		{"client_credentials for public", strings.Replace(good, "    type: public\n", "    type: public\n    grant_types: [client_credentials]\n", 1), "clients[1].grant_types[0]", "confidential"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, c.yaml), noEnv)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("error %q does not say %q", err, c.reason)
			}
			if c.field == "" {
				return
			}
			fields := problemFields(t, err)
			found := false
			for _, f := range fields {
				found = found || f == c.field
			}
			if !found {
				t.Fatalf("error names %v, want %s: %v", fields, c.field, err)
			}
			if !strings.Contains(err.Error(), c.field+": ") {
				t.Fatalf("message %q does not name %s", err, c.field)
			}
		})
	}
}

func TestEnvOverridesAndFiles(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("from-a-file-0123456789abcdef\n"), 0o600)
	kekFile := filepath.Join(dir, "kek")
	os.WriteFile(kekFile, []byte(testKEK+"\n"), 0o600)
	yaml := strings.Replace(good, `    secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"`+"\n", "", 1)
	cfg, err := Load(write(t, yaml), mapEnv(map[string]string{
		"IDP_ISSUER":                             "https://login.example.org",
		"IDP_SECRETS_KEY_FILE":                   kekFile,
		"IDP_LISTEN":                             ":9999",
		"IDP_SESSIONS_IDLE_TIMEOUT":              "2h",
		"IDP_CLIENTS_COMMUNITY_SITE_SECRET_FILE": secretFile,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "https://login.example.org" || cfg.Listen != ":9999" || cfg.Sessions.IdleTimeout.D() != 2*time.Hour {
		t.Fatalf("env not applied: %+v", cfg)
	}
	if cfg.Secrets.Key != testKEK {
		t.Fatalf("IDP_SECRETS_KEY_FILE: key = %q", cfg.Secrets.Key)
	}
	if cfg.Clients[0].Secret != "from-a-file-0123456789abcdef" {
		t.Fatalf("secret from file = %q", cfg.Clients[0].Secret)
	}

	cfg, err = Load(write(t, good), mapEnv(map[string]string{"IDP_TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.7 ,"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.TrustedProxies, "|") != "10.0.0.0/8|192.0.2.7" {
		t.Fatalf("IDP_TRUSTED_PROXIES gave %q", cfg.TrustedProxies)
	}

	_, err = Load(write(t, good), mapEnv(map[string]string{"IDP_PASSWORD_MIN_LENGTH": "eight"}))
	if err == nil || !strings.Contains(err.Error(), "IDP_PASSWORD_MIN_LENGTH") {
		t.Fatalf("bad env value error = %v", err)
	}
}

func TestSecretFileInYAML(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("0123456789abcdef0123456789abcdef"), 0o600)
	yaml := strings.Replace(good, `    secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"`, "    secret_file: "+secretFile, 1)
	cfg, err := Load(write(t, yaml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Clients[0].Secret != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("secret = %q", cfg.Clients[0].Secret)
	}
	if len(cfg.Warnings()) != 1 { // only the http issuer
		t.Fatalf("warnings = %v", cfg.Warnings())
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	if _, err := Load("example.yaml", noEnv); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyFile(t *testing.T) {
	if _, err := Load(write(t, ""), noEnv); err != nil {
		t.Fatal(err)
	}
}

func TestPasskeyConfig(t *testing.T) {
	base := "issuer: https://login.example.org\nlisten: 127.0.0.1:9000\nsecrets: {key_file: /etc/idp/secrets.key}\n"
	ok := []string{
		base,
		base + "passkeys: {rp_id: example.org}\n",
		base + "passkeys: {origins: [https://forum.example.net]}\n",
		base + "passkeys: {rollout: group, rollout_group: [alice, role:admin]}\n",
		"issuer: http://127.0.0.1:9000\nlisten: 127.0.0.1:9000\npasskeys: {rollout: off}\n",
		base + "passkeys:\n  android: [{package_name: com.example.app, sha256_cert_fingerprints: ['14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5']}]\n  ios: [{app_id: ABCDE12345.com.example.app}]\n",
	}
	for _, y := range ok {
		if _, err := Load(write(t, y), noEnv); err != nil {
			t.Errorf("refused %q: %v", y, err)
		}
	}
	bad := []struct{ yaml, field, reason string }{
		{"issuer: http://127.0.0.1:9000\nlisten: 127.0.0.1:9000\n", "passkeys.rp_id", "IP address"},
		{base + "passkeys: {rp_id: example.com}\n", "passkeys.rp_id", "neither the issuer's host"},
		{base + "passkeys: {rp_id: ogin.example.org}\n", "passkeys.rp_id", "neither the issuer's host"},
		{base + "passkeys: {rp_id: https://login.example.org}\n", "passkeys.rp_id", "not a domain name"},
		{base + "passkeys: {rp_id: example.org, origins: [https://forum.example.net]}\n", "passkeys.origins[0]", "outside"},
		{base + "passkeys: {origins: [http://forum.example.net]}\n", "passkeys.origins[0]", "https"},
		{base + "passkeys: {origins: [https://forum.example.net/path]}\n", "passkeys.origins[0]", "not an origin"},
		{base + "passkeys: {rollout: sometimes}\n", "passkeys.rollout", "not one of"},
		{base + "passkeys: {rollout: group}\n", "passkeys.rollout_group", "required"},
		{base + "passkeys: {rollout_group: [role:root]}\n", "passkeys.rollout_group[0]", "unknown role"},
		{base + "passkeys: {user_verification: discouraged}\n", "passkeys.user_verification", "not one of"},
		{base + "passkeys: {on_clone: ignore}\n", "passkeys.on_clone", "not one of"},
		{base + "passkeys: {android: [{package_name: app, sha256_cert_fingerprints: [zz]}]}\n", "passkeys.android[0].package_name", "package name"},
		{base + "passkeys: {android: [{package_name: com.example.app, sha256_cert_fingerprints: ['AB:CD']}]}\n", "passkeys.android[0].sha256_cert_fingerprints[0]", "SHA-256"},
		{base + "passkeys: {ios: [{app_id: com.example.app}]}\n", "passkeys.ios[0].app_id", "TEAMID"},
	}
	for _, c := range bad {
		_, err := Load(write(t, c.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), c.field+": ") || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%q: error %v, want %s ... %s", c.yaml, err, c.field, c.reason)
		}
	}
}

func TestPasskeyOrigins(t *testing.T) {
	cfg, err := Load(write(t, "issuer: https://login.example.org\nsecrets: {key_file: /etc/idp/secrets.key}\npasskeys: {origins: [https://forum.example.net/, https://login.example.org]}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.PasskeyOrigins()
	if len(got) != 2 || got[0] != "https://login.example.org" || got[1] != "https://forum.example.net" {
		t.Fatalf("origins %v", got)
	}
	if cfg.Passkeys.RPID != "login.example.org" || cfg.Passkeys.RPName != "Community" {
		t.Fatalf("defaults: %+v", cfg.Passkeys)
	}
	fp, _ := ParseFingerprint("14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5")
	if got := AndroidOrigin(fp); got != "android:apk-key-hash:FG3pg8VzBlDY7rmVLzT8ZBagg0LmHb6oigSWsj_PROU" {
		t.Fatalf("Android origin %s", got)
	}
}

func TestBranding(t *testing.T) {
	dir := t.TempDir()
	logo := filepath.Join(dir, "logo.png")
	if err := os.WriteFile(logo, []byte("\x89PNG\r\n\x1a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.svg")
	if err := os.WriteFile(big, make([]byte, MaxLogoSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Default()
	ok.Branding = Branding{SiteName: "Example Community", LogoFile: logo, PrimaryColor: "#1f5fbf",
		SupportURL: "https://help.example.org/contact", SupportEmail: "support@example.org", HelpURL: "https://help.example.org"}
	ok.FillDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("good branding refused: %v", err)
	}
	if ok.Branding.LogoType() != "image/png" {
		t.Errorf("logo type %q", ok.Branding.LogoType())
	}
	for _, tc := range []struct {
		edit  func(*Branding)
		field string
	}{
		{func(b *Branding) { b.LogoURL = "https://cdn.example.org/logo.png" }, "branding.logo_url"}, // both
		{func(b *Branding) { b.LogoFile, b.LogoURL = "", "http://cdn.example.org/l.png" }, "branding.logo_url"},
		{func(b *Branding) { b.LogoFile = filepath.Join(dir, "missing.png") }, "branding.logo_file"},
		{func(b *Branding) { b.LogoFile = big }, "branding.logo_file"},
		{func(b *Branding) { b.LogoFile = filepath.Join(dir, "logo.bmp") }, "branding.logo_file"},
		{func(b *Branding) { b.PrimaryColor = "blue" }, "branding.primary_color"},
		{func(b *Branding) { b.PrimaryColor = "#ffd700" }, "branding.primary_color"}, // gold: white text unreadable
		{func(b *Branding) { b.PrimaryColor = "#0a74da" }, "branding.primary_color"}, // white text 4.6:1, but links on the error box 4.2:1
		{func(b *Branding) { b.SupportURL = "javascript:alert(1)" }, "branding.support_url"},
		{func(b *Branding) { b.HelpURL = "help.example.org" }, "branding.help_url"},
		{func(b *Branding) { b.SupportEmail = "Support <support@example.org>" }, "branding.support_email"},
	} {
		c := ok
		tc.edit(&c.Branding)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: got %v, want a problem with %s", c.Branding, err, tc.field)
		}
	}
	if r, _ := contrastWithWhite("#767676"); r < 4.5 || r > 4.6 {
		t.Errorf("contrast of #767676 = %.2f, want 4.54", r)
	}
}

// Keys reached through an alias or a merge are checked like the others.
func TestUnknownKeyThroughAlias(t *testing.T) {
	for name, yaml := range map[string]string{
		"alias": "clients:\n  - &c {id: a, name: A, type: public, redirect_uris: [com.example.app:/cb]}\nsessions: *c\n",
		"merge": "x-defaults: &d {idle_timeout: 1h, colour: blue}\nsessions:\n  <<: *d\n",
	} {
		p := filepath.Join(t.TempDir(), "idp.yaml")
		if err := os.WriteFile(p, []byte("issuer: http://localhost:9000\n"+yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(err.Error(), "sessions.") {
			t.Errorf("%s: %v, want an unknown key under sessions", name, err)
		}
	}
	// A merge of known keys is fine.
	p := filepath.Join(t.TempDir(), "idp.yaml")
	good := "issuer: http://localhost:9000\nsessions: &s {idle_timeout: 2h}\nadmin:\n  recovery_link_lifetime: 10m\n"
	if err := os.WriteFile(p, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, func(string) (string, bool) { return "", false }); err != nil {
		t.Errorf("anchor on known keys: %v", err)
	}
}

// Without a file, a provider on this machine registers the example
// clients, the same as examples/idp.yaml writes out; one for others (an
// https issuer) registers none.
func TestDevelopmentClients(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	dev, err := Load("", none)
	if err != nil {
		t.Fatal(err)
	}
	file, err := Load(filepath.Join("..", "examples", "idp.yaml"), none)
	if err != nil {
		t.Fatal(err)
	}
	if len(dev.Clients) != 2 || !reflect.DeepEqual(dev.Clients, file.Clients) {
		t.Errorf("development clients %+v\nexamples/idp.yaml       %+v", dev.Clients, file.Clients)
	}
	for issuer, want := range map[string]int{"http://localhost:9123": 2, "https://login.example.org": 0} {
		env := mapEnv(map[string]string{"IDP_ISSUER": issuer, "IDP_SECRETS_KEY": testKEK})
		cfg, err := Load("", env)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Clients) != want {
			t.Errorf("issuer %s: %d clients, want %d", issuer, len(cfg.Clients), want)
		}
	}
}

// Mail settings are checked like the rest, and what needs mail refuses
// to start without it (outside development).
func TestEmailAndRegistration(t *testing.T) {
	base := Default()
	base.Issuer = "https://login.example.org"
	base.Secrets.Key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	base.FillDefaults()
	good := base
	good.Email = Email{From: "Community <no-reply@community.example>", SMTP: SMTP{Host: "smtp.example.org", Port: 587, TLS: "starttls",
		Username: "no-reply", Password: "secret"}}
	good.Registration.Mode = RegistrationOpen
	good.FillDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("good mail settings refused: %v", err)
	}
	if !good.Email.Enabled() || base.Email.Enabled() {
		t.Error("Enabled")
	}
	for _, tc := range []struct {
		edit  func(*Config)
		field string
	}{
		{func(c *Config) { c.Email.From = "not an address" }, "email.from"},
		{func(c *Config) { c.Email.SMTP.Host = "" }, "email.smtp.host"},
		{func(c *Config) { c.Email.SMTP.Port = 70000 }, "email.smtp.port"},
		{func(c *Config) { c.Email.SMTP.TLS = "ssl" }, "email.smtp.tls"},
		{func(c *Config) { c.Email.SMTP.Password = "" }, "email.smtp.password_file"},
		{func(c *Config) { c.Registration.Mode = "anyone" }, "registration.mode"},
		{func(c *Config) { c.Registration.InvitationLifetime = Duration(time.Minute) }, "registration.invitation_lifetime"},
		// Open sign-up and invitations are mailed: not without mail.
		{func(c *Config) { c.Email = Email{}; c.FillDefaults() }, "registration.mode"},
	} {
		c := good
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("got %v, want a problem with %s", err, tc.field)
		}
	}
	// The development provider prints its mail: open sign-up works there.
	dev := Default()
	dev.Registration.Mode = RegistrationOpen
	dev.FillDefaults()
	if err := dev.Validate(); err != nil {
		t.Errorf("development provider with sign-up: %v", err)
	}
	// The SMTP password is read from its file; not both.
	dir := t.TempDir()
	pw := filepath.Join(dir, "smtp_password")
	if err := os.WriteFile(pw, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "idp.yaml")
	yaml := "issuer: http://localhost:9000\nemail: {from: a@example.org, smtp: {host: 127.0.0.1, port: 1025, tls: none, username: u, password_file: " + pw + "}}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, nil)
	if err != nil || c.Email.SMTP.Password != "from-file" {
		t.Errorf("password_file: %q %v", c.Email.SMTP.Password, err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(yaml, "username: u,", "username: u, password: inline,", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file, nil); err == nil || !strings.Contains(err.Error(), "email.smtp.password_file") {
		t.Errorf("password and password_file: %v", err)
	}
}
