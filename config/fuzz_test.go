package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds the loader any YAML document and any IDP_* environment:
// it must answer with a configuration or an error, never panic, and a
// configuration it accepts must validate again unchanged.
//
// It runs Load's steps in process (decodeYAML, applyEnv, resolveFiles,
// FillDefaults, Validate) rather than writing a file per input, and points
// every *_file field at one small file of its own: a fuzzed path such as
// /dev/zero would otherwise be read for ever.
//
// go test ./config -run '^$' -fuzz '^FuzzLoad$' -fuzztime 30s
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, doc := range []string{
		string(example),
		good,
		"",
		"---\n",
		"{}",
		"[]",
		"null",
		"issuer",
		"issuer: http://localhost:9000\nissuer: http://localhost:9001\n", // a duplicated key
		"isuer: http://localhost:9000\n",                                 // an unknown key, with a suggestion
		"clients:\n  - id: a\n    type: public\n    redirect_uris: [http://127.0.0.1/cb]\n  - id: a\n    type: public\n    redirect_uris: [http://127.0.0.1/cb]\n",
		"clients: {id: x}\n",
		"clients: [[], 1, null, {id: [1]}]\n",
		"tokens: {code_lifetime: [1m]}\n",
		"tokens: {code_lifetime: 99999999999999999999d}\n",
		"tokens: {code_lifetime: -5d, id_token_lifetime: 9223372036854775807ns}\n",
		"sessions: {idle_timeout: {a: b}}\n",
		"password: {min_length: 1e400}\n",
		"password: {min_length: 0x7fffffffffffffff}\n",
		"admin: {passkey_failure_alert: .nan}\n",
		"trusted_proxies: [10.0.0.0/33, '::1', '', 300.1.1.1]\n",
		"passkeys: {rollout: group, rollout_group: [], android: [{package_name: '', sha256_cert_fingerprints: ['zz:zz']}], ios: [{app_id: ''}]}\n",
		"passkeys: {rp_id: '..', origins: ['http://[::1', 'https://', 'android:apk-key-hash:']}\n",
		"database: {driver: sqlite, dsn: x.db, dsn_file: /etc/shadow}\n",
		"doctor: {username: d, password: p, password_file: /dev/zero}\n",
		"clients: [{id: c, type: confidential, secret_file: /dev/stdin, redirect_uris: ['https://c.example/cb']}]\n",
		"a: &a [*a, *a]\n", // a recursive alias
		"a: &a [x,x,x,x]\nb: &b [*a,*a,*a,*a]\nc: [*b,*b,*b]\n", // alias expansion
		"issuer: !!binary aGVsbG8=\n",
		"issuer: !custom x\n",
		"? [complex, key]\n: value\n",
		"issuer: \"\\xff\\u0000\"\n",
		"issuer: \xff\xfe\n",
		"\x00",
		"\ufeffissuer: http://localhost:9000\n",
		"branding: {site_name: \"" + strings.Repeat("x", 9000) + "\"}\n",
		strings.Repeat("[", 2000),
		strings.Repeat("- ", 1000) + "x\n",
		"%YAML 1.1\n---\nissuer: x\n...\n---\nlisten: y\n",
	} {
		f.Add([]byte(doc), "")
	}
	f.Add([]byte(good), "IDP_TOKENS_CODE_LIFETIME=99999999999999999999d\nIDP_PASSWORD_MIN_LENGTH=-1\nIDP_TRUSTED_PROXIES=,, ,10.0.0.1,")
	f.Add([]byte(good), "IDP_CLIENTS_COMMUNITY_SITE_SECRET=x\nIDP_CLIENTS_MOBILE_APP_SECRET=y\nIDP_ISSUER=\nIDP_LISTEN=:")
	f.Add([]byte(""), "IDP_DATABASE_DRIVER=postgres\nIDP_DATABASE_DSN=postgres://[::1\nIDP_LOG_LEVEL=\xff")
	f.Add([]byte(""), "IDP_SESSIONS_IDLE_TIMEOUT=1h\nIDP_SESSIONS_IDLE_TIMEOUT=2h\nIDP_PASSKEYS_RP_ID=localhost\nIDP_AUDIT_RETENTION=0d")

	secret := filepath.Join(f.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("fuzz-secret-0123456789abcdefghijklmnop\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, envLines string) {
		vars := map[string]string{}
		for _, line := range strings.Split(envLines, "\n") {
			// NAME_FILE variables would read fuzzed paths; NAME is enough.
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasSuffix(k, "_FILE") {
				vars[k] = v
			}
		}
		cfg := Default()
		if err := decodeYAML(data, &cfg); err != nil {
			return
		}
		redirect := func(p *string) {
			if *p != "" {
				*p = secret
			}
		}
		redirect(&cfg.Database.DSNFile)
		redirect(&cfg.Doctor.PasswordFile)
		for i := range cfg.Clients {
			redirect(&cfg.Clients[i].SecretFile)
		}
		if err := applyEnv(&cfg, mapEnv(vars)); err != nil {
			return
		}
		if err := cfg.resolveFiles(); err != nil {
			return
		}
		cfg.FillDefaults()
		if err := cfg.Validate(); err != nil {
			_ = err.Error() // the message lists every problem: it must render too
			return
		}
		// Loaded. What the provider and `idp config check` then call on it:
		_ = cfg.Warnings()
		_ = cfg.PasskeyOrigins()
		_ = cfg.AndroidOrigins()
		cfg.FillDefaults()
		if err := cfg.Validate(); err != nil {
			t.Fatalf("a loaded configuration no longer validates after FillDefaults: %v", err)
		}
	})
}
