package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Env looks up an environment variable; os.LookupEnv in production, a map
// in tests.
type Env func(name string) (string, bool)

// Load reads the YAML file at path (none when path is ""), applies IDP_*
// environment overrides from env, reads *_file secrets, fills defaults and
// validates. Without a file, on an http issuer on this machine, the
// example clients are registered (DevelopmentClients). The error lists
// every problem found, each naming its field.
func Load(path string, env Env) (Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return Config{}, fmt.Errorf("the configuration file %s does not exist: write one (config/example.yaml in the "+
				"source lists every key) or, in a container, mount it there: docker run -v \"$PWD/idp.yaml:%s:ro\" "+
				"-v idp-data:/var/lib/idp -p 8080:8080 IMAGE (deploy/compose has a complete setup)", path, path)
		}
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		if err := decodeYAML(data, &cfg); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	cfg.File = path
	if err := applyEnv(&cfg, env); err != nil {
		return Config{}, err
	}
	if err := cfg.resolveFiles(); err != nil {
		return Config{}, err
	}
	if path == "" && len(cfg.Clients) == 0 && developmentIssuer(cfg.Issuer) && loopbackListen(cfg.Listen) {
		cfg.Clients = DevelopmentClients()
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// decodeYAML decodes data into cfg after checking that every key is known.
func decodeYAML(data []byte, cfg *Config) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is the default configuration
		}
		return fmt.Errorf("invalid YAML: %w", err)
	}
	if len(root.Content) == 0 {
		return nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the file must be a mapping of keys (issuer:, listen:, clients: ...)", doc.Line)
	}
	var problems Problems
	checkKeys(doc, reflect.TypeOf(*cfg), "", &problems)
	if len(problems) > 0 {
		return problems
	}
	if err := doc.Decode(cfg); err != nil {
		return fmt.Errorf("invalid value: %w", err)
	}
	return nil
}

// checkKeys reports mapping keys that have no field in t, naming their path
// and suggesting the closest known key.
func checkKeys(n *yaml.Node, t reflect.Type, path string, problems *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// An alias (*name) is checked as what it stands for, here.
	for depth := 0; n.Kind == yaml.AliasNode && n.Alias != nil && depth < 8; depth++ {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(Duration(0)) || n.Kind != yaml.MappingNode {
			return
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = t.Field(i).Type
			names = append(names, tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if key == "<<" && n.Content[i].Tag == "!!merge" {
				// A merge (<<: *name, or a list of them) brings its keys here.
				v := n.Content[i+1]
				if v.Kind == yaml.SequenceNode {
					for _, m := range v.Content {
						checkKeys(m, t, path, problems)
					}
				} else {
					checkKeys(v, t, path, problems)
				}
				continue
			}
			ft, ok := fields[key]
			p := joinPath(path, key)
			if !ok {
				msg := fmt.Sprintf("unknown key (line %d)", n.Content[i].Line)
				if s := closest(key, names); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				problems.add(p, msg)
				continue
			}
			checkKeys(n.Content[i+1], ft, p, problems)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), problems)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// closest returns the candidate within edit distance 3 of s, if any.
func closest(s string, candidates []string) string {
	best, bestDist := "", 4
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// envBinding maps one environment variable onto a field. NAME_FILE is
// honoured for every binding: the value is read from that file.
type envBinding struct {
	name string
	set  func(string) error
}

func (c *Config) envBindings() []envBinding {
	b := []envBinding{
		{"IDP_ISSUER", setString(&c.Issuer)},
		{"IDP_LISTEN", setString(&c.Listen)},
		{"IDP_DATABASE_DRIVER", setString(&c.Database.Driver)},
		{"IDP_DATABASE_DSN", setString(&c.Database.DSN)},
		{"IDP_TOKENS_ID_TOKEN_LIFETIME", setDuration(&c.Tokens.IDTokenLifetime)},
		{"IDP_TOKENS_ACCESS_TOKEN_LIFETIME", setDuration(&c.Tokens.AccessTokenLifetime)},
		{"IDP_TOKENS_REFRESH_TOKEN_LIFETIME", setDuration(&c.Tokens.RefreshTokenLifetime)},
		{"IDP_TOKENS_REFRESH_TOKEN_ABSOLUTE_LIFETIME", setDuration(&c.Tokens.RefreshTokenAbsoluteLifetime)},
		{"IDP_TOKENS_CODE_LIFETIME", setDuration(&c.Tokens.CodeLifetime)},
		{"IDP_TOKENS_AUTH_REQUEST_LIFETIME", setDuration(&c.Tokens.AuthRequestLifetime)},
		{"IDP_TOKENS_REFRESH_TOKEN_REUSE_INTERVAL", setDuration(&c.Tokens.RefreshTokenReuseInterval)},
		{"IDP_TRUSTED_PROXIES", setList(&c.TrustedProxies)},
		{"IDP_KEYS_ROTATION_PERIOD", setDuration(&c.Keys.RotationPeriod)},
		{"IDP_KEYS_ID_TOKEN_SIGNING_ALG", setString(&c.Keys.IDTokenSigningAlg)},
		{"IDP_SESSIONS_IDLE_TIMEOUT", setDuration(&c.Sessions.IdleTimeout)},
		{"IDP_SESSIONS_ABSOLUTE_LIFETIME", setDuration(&c.Sessions.AbsoluteLifetime)},
		{"IDP_SESSIONS_REAUTH_AFTER", setDuration(&c.Sessions.ReauthAfter)},
		{"IDP_PASSWORD_MIN_LENGTH", setInt(&c.Password.MinLength)},
		{"IDP_BRANDING_SITE_NAME", setString(&c.Branding.SiteName)},
		{"IDP_BRANDING_LOGO_FILE", setString(&c.Branding.LogoFile)},
		{"IDP_BRANDING_LOGO_URL", setString(&c.Branding.LogoURL)},
		{"IDP_BRANDING_PRIMARY_COLOR", setString(&c.Branding.PrimaryColor)},
		{"IDP_BRANDING_SUPPORT_URL", setString(&c.Branding.SupportURL)},
		{"IDP_BRANDING_SUPPORT_EMAIL", setString(&c.Branding.SupportEmail)},
		{"IDP_BRANDING_HELP_URL", setString(&c.Branding.HelpURL)},
		{"IDP_UI_DEFAULT_LANGUAGE", setString(&c.UI.DefaultLanguage)},
		{"IDP_PASSKEYS_ROLLOUT", setString(&c.Passkeys.Rollout)},
		{"IDP_PASSKEYS_RP_ID", setString(&c.Passkeys.RPID)},
		{"IDP_PASSKEYS_RP_NAME", setString(&c.Passkeys.RPName)},
		{"IDP_PASSKEYS_USER_VERIFICATION", setString(&c.Passkeys.UserVerification)},
		{"IDP_PASSKEYS_ON_CLONE", setString(&c.Passkeys.OnClone)},
		{"IDP_PASSKEYS_SUGGESTION_SNOOZE", setDuration(&c.Passkeys.SuggestionSnooze)},
		{"IDP_ADMIN_RECOVERY_LINK_LIFETIME", setDuration(&c.Admin.RecoveryLinkLifetime)},
		{"IDP_AUDIT_RETENTION", setDuration(&c.Audit.Retention)},
		{"IDP_METRICS_LISTEN", setString(&c.Metrics.Listen)},
		{"IDP_DOCTOR_USERNAME", setString(&c.Doctor.Username)},
		{"IDP_DOCTOR_PASSWORD", setString(&c.Doctor.Password)},
		{"IDP_SECRETS_KEY", setString(&c.Secrets.Key)},
		{"IDP_SECRETS_OLD_KEY_FILES", setList(&c.Secrets.OldKeyFiles)},
		{"IDP_EMAIL_FROM", setString(&c.Email.From)},
		{"IDP_EMAIL_SMTP_HOST", setString(&c.Email.SMTP.Host)},
		{"IDP_EMAIL_SMTP_PORT", setInt(&c.Email.SMTP.Port)},
		{"IDP_EMAIL_SMTP_USERNAME", setString(&c.Email.SMTP.Username)},
		{"IDP_EMAIL_SMTP_PASSWORD", setString(&c.Email.SMTP.Password)},
		{"IDP_EMAIL_SMTP_TLS", setString(&c.Email.SMTP.TLS)},
		{"IDP_REGISTRATION_MODE", setString(&c.Registration.Mode)},
		{"IDP_LOG_LEVEL", setString(&c.Log.Level)},
		{"IDP_LOG_FORMAT", setString(&c.Log.Format)},
	}
	// Client secrets can come from the environment (or a mounted file), keyed
	// by the client ID: IDP_CLIENTS_COMMUNITY_SITE_SECRET for community-site.
	for i := range c.Clients {
		cl := &c.Clients[i]
		prefix := "IDP_CLIENTS_" + envName(cl.ID)
		b = append(b,
			envBinding{prefix + "_SECRET", setString(&cl.Secret)},
			envBinding{prefix + "_SECRET_HASH", setString(&cl.SecretHash)},
		)
	}
	return b
}

// envName turns a client ID into the upper-case form used in variable names.
func envName(id string) string {
	var b strings.Builder
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func applyEnv(c *Config, env Env) error {
	var problems Problems
	for _, b := range c.envBindings() {
		value, ok := env(b.name)
		if file, fok := env(b.name + "_FILE"); fok && file != "" {
			data, err := os.ReadFile(file)
			if err != nil {
				problems.add(b.name+"_FILE", fmt.Sprintf("cannot read: %v", err))
				continue
			}
			value, ok = strings.TrimRight(string(data), "\r\n"), true
		}
		if !ok {
			continue
		}
		if err := b.set(value); err != nil {
			problems.add(b.name, err.Error())
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}

func setString(p *string) func(string) error {
	return func(v string) error { *p = v; return nil }
}

func setInt(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*p = n
		return nil
	}
}

// setList reads a comma-separated list; blanks around items are dropped.
func setList(p *[]string) func(string) error {
	return func(v string) error {
		*p = nil
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*p = append(*p, item)
			}
		}
		return nil
	}
}

func setDuration(p *Duration) func(string) error {
	return func(v string) error { return p.parse(v) }
}

// resolveFiles reads the secrets that the YAML file points at.
func (c *Config) resolveFiles() error {
	var problems Problems
	read := func(field, path string, dst *string) {
		if path == "" {
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			problems.add(field, fmt.Sprintf("cannot read %s: %v", path, err))
			return
		}
		*dst = strings.TrimRight(string(data), "\r\n")
	}
	if c.Database.DSNFile != "" && c.Database.DSN != "" && c.Database.DSN != Default().Database.DSN {
		problems.add("database.dsn_file", "set either dsn or dsn_file, not both")
	}
	read("database.dsn_file", c.Database.DSNFile, &c.Database.DSN)
	if c.Doctor.PasswordFile != "" && c.Doctor.Password != "" {
		problems.add("doctor.password_file", "set either password or password_file, not both")
	}
	read("doctor.password_file", c.Doctor.PasswordFile, &c.Doctor.Password)
	if c.Email.SMTP.PasswordFile != "" && c.Email.SMTP.Password != "" {
		problems.add("email.smtp.password_file", "set either password or password_file, not both")
	}
	read("email.smtp.password_file", c.Email.SMTP.PasswordFile, &c.Email.SMTP.Password)
	for i := range c.Clients {
		cl := &c.Clients[i]
		if cl.SecretFile != "" && cl.Secret != "" {
			problems.add(fmt.Sprintf("clients[%d].secret_file", i), "set either secret or secret_file, not both")
			continue
		}
		read(fmt.Sprintf("clients[%d].secret_file", i), cl.SecretFile, &cl.Secret)
	}
	if len(problems) > 0 {
		return problems
	}
	return nil
}

// FillDefaults sets per-client defaults that depend on the rest; Load
// calls it, code that builds a Config by hand must too.
func (c *Config) FillDefaults() {
	if c.Passkeys.RPID == "" {
		if u, err := url.Parse(c.Issuer); err == nil {
			c.Passkeys.RPID = u.Hostname()
		}
	}
	if c.Passkeys.RPName == "" {
		c.Passkeys.RPName = c.Branding.SiteName
	}
	if c.UI.DefaultLanguage == "" {
		c.UI.DefaultLanguage = "en"
	}
	if c.Email.SMTP.TLS == "" {
		c.Email.SMTP.TLS = "starttls"
	}
	if c.Email.SMTP.Port == 0 {
		c.Email.SMTP.Port = map[string]int{"starttls": 587, "implicit": 465, "none": 25}[c.Email.SMTP.TLS]
	}
	if c.Registration.Mode == "" {
		c.Registration.Mode = RegistrationClosed
	}
	for i := range c.Clients {
		cl := &c.Clients[i]
		if len(cl.GrantTypes) == 0 {
			cl.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		}
		if cl.IDTokenSigningAlg == "" {
			cl.IDTokenSigningAlg = c.Keys.IDTokenSigningAlg
		}
		if cl.Name == "" {
			cl.Name = cl.ID
		}
	}
}

// Duration is a time.Duration written as "90s", "15m", "12h" or "30d".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string {
	td := time.Duration(d)
	if td >= 24*time.Hour && td%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", td/(24*time.Hour))
	}
	return td.String()
}

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a string such as \"15m\"", n.Line)
	}
	if err := d.parse(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MarshalYAML writes the duration the way it is read.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d *Duration) parse(s string) error {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a duration (use s, m, h or d, e.g. \"30d\")", s)
		}
		*d = Duration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (use s, m, h or d, e.g. \"15m\")", s)
	}
	*d = Duration(v)
	return nil
}
