package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/server"
)

// The guides in docs/ and the READMEs under deploy/ are written for people
// who copy what they read, so what they name must exist: every `idp ...`
// command line is a real command with real flags, every dotted
// configuration key and IDP_ variable is one the loader reads, every YAML
// example in docs/ loads, every path of the provider is served, and every
// error code is explained on /help/errors.

// markdown is one guide: its inline code spans and fenced code blocks.
type markdown struct {
	path   string
	spans  []string
	blocks []codeBlock
	text   string
}

type codeBlock struct {
	lang, body string
	line       int
}

func guides(t *testing.T) []markdown {
	t.Helper()
	var files []string
	for _, pattern := range []string{"../../docs/*.md", "../../deploy/*/README.md"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, want := range []string{"admins.md", "site-developers.md", "mobile-developers.md", "operators.md"} {
		if !slices.Contains(files, "../../docs/"+want) {
			t.Fatalf("docs/%s is missing", want)
		}
	}
	span := regexp.MustCompile("`([^`]+)`")
	var out []markdown
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		md := markdown{path: f, text: string(data)}
		var para []string
		flush := func() {
			for _, m := range span.FindAllStringSubmatch(strings.Join(para, " "), -1) {
				md.spans = append(md.spans, m[1])
			}
			para = nil
		}
		var block *codeBlock
		for i, line := range strings.Split(string(data), "\n") {
			trimmed := strings.TrimSpace(line)
			if strings.HasPrefix(trimmed, "```") {
				if block == nil {
					flush()
					block = &codeBlock{lang: strings.TrimPrefix(trimmed, "```"), line: i + 1}
				} else {
					md.blocks = append(md.blocks, *block)
					block = nil
				}
				continue
			}
			if block != nil {
				block.body += line + "\n"
				continue
			}
			if trimmed == "" {
				flush()
				continue
			}
			para = append(para, trimmed)
		}
		flush()
		if block != nil {
			t.Fatalf("%s: a code block from line %d is not closed", f, block.line)
		}
		out = append(out, md)
	}
	return out
}

// commandLines are the shell lines of a guide: code spans, and the lines
// of code blocks that are not YAML, JSON or configuration, with
// continuations joined and comments dropped.
func (md markdown) commandLines() []string {
	lines := slices.Clone(md.spans)
	for _, b := range md.blocks {
		switch b.lang {
		case "yaml", "json", "nginx", "go", "":
			if b.lang != "" || !strings.Contains(b.body, "idp ") {
				continue
			}
		}
		body := strings.ReplaceAll(b.body, "\\\n", " ")
		for _, l := range strings.Split(body, "\n") {
			if i := strings.Index(l, " #"); i >= 0 {
				l = l[:i]
			}
			lines = append(lines, l)
		}
	}
	return lines
}

// idpInvocations finds `idp COMMAND [SUB] [FLAGS...]` in a shell line:
// the tokens after the program name, up to a pipe, redirection or the
// next command.
func idpInvocations(line string) [][]string {
	tokens := strings.Fields(line)
	var out [][]string
	for i, tok := range tokens {
		if tok != "idp" && !strings.HasSuffix(tok, "/bin/idp") && tok != "./idp" {
			continue
		}
		if i+1 >= len(tokens) || !regexp.MustCompile(`^[a-z][a-z-]*$`).MatchString(tokens[i+1]) || tokens[i+1] == "idp" {
			continue // `idp` the user, `idp idp ...` after sudo -u
		}
		if i > 0 && (tokens[i-1] == "-u" || tokens[i-1] == "-g" || tokens[i-1] == "-o" || tokens[i-1] == "--user") {
			continue
		}
		var inv []string
		for _, a := range tokens[i+1:] {
			if a == "|" || a == "&&" || a == ";" || a == "||" || a == ">" || a == "<" || strings.HasPrefix(a, ">") || strings.HasPrefix(a, "<") || strings.HasPrefix(a, "2>") || a == ")" {
				break
			}
			inv = append(inv, strings.TrimRight(a, ")`;,."))
		}
		out = append(out, inv)
	}
	return out
}

func TestGuidesCommands(t *testing.T) {
	known := map[string]bool{"help": true}
	for _, c := range commands() {
		known[c.name] = true
	}
	helpFlags := regexp.MustCompile(`(?m)^\s+-([a-zA-Z0-9-]+)`)
	checked := 0
	for _, md := range guides(t) {
		for _, line := range md.commandLines() {
			for _, inv := range idpInvocations(line) {
				if !known[inv[0]] {
					t.Errorf("%s: `idp %s`: there is no command %q (in %q)", md.path, strings.Join(inv, " "), inv[0], line)
					continue
				}
				if inv[0] == "help" {
					continue
				}
				cmd := inv[:1]
				code, errs, _ := runCLI(t, nil, "", inv[0], "-h")
				if len(inv) > 1 && !strings.HasPrefix(inv[1], "-") && strings.Contains(errs, "idp "+inv[0]+" "+inv[1]) {
					cmd = inv[:2] // a command with subcommands: the subcommand's own flags
					code, errs, _ = runCLI(t, nil, "", inv[0], inv[1], "-h")
				}
				if code != 0 {
					t.Errorf("%s: `idp %s`: not a command (%q)", md.path, strings.Join(inv, " "), strings.TrimSpace(errs))
					continue
				}
				flags := map[string]bool{"h": true, "help": true}
				for _, m := range helpFlags.FindAllStringSubmatch(errs, -1) {
					flags[m[1]] = true
				}
				for _, a := range inv[len(cmd):] {
					if !strings.HasPrefix(a, "-") || a == "-" {
						continue
					}
					name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
					if !flags[name] {
						t.Errorf("%s: `idp %s`: no flag %s (in %q)", md.path, strings.Join(cmd, " "), a, line)
					}
				}
				checked++
			}
		}
	}
	if checked < 30 {
		t.Fatalf("only %d idp command lines found in the guides", checked)
	}
}

// configKey reports whether a dotted path (passkeys.rollout,
// clients.secret_file) names a field of config.Config.
func configKey(path string) bool {
	t := reflect.TypeOf(config.Config{})
	for _, part := range strings.Split(path, ".") {
		for t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return false
		}
		found := false
		for i := 0; i < t.NumField(); i++ {
			if strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0] == part {
				t, found = t.Field(i).Type, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestGuidesConfigKeysAndVariables(t *testing.T) {
	top := map[string]bool{}
	ct := reflect.TypeOf(config.Config{})
	for i := 0; i < ct.NumField(); i++ {
		top[strings.Split(ct.Field(i).Tag.Get("yaml"), ",")[0]] = true
	}
	dotted := regexp.MustCompile(`^([a-z_]+)(\.[a-z0-9_]+)+$`)
	known := knownEnv(t)
	variable := regexp.MustCompile(`IDP_[A-Z0-9_]*[A-Z0-9]`)
	keys, vars := 0, 0
	for _, md := range guides(t) {
		for _, s := range md.spans {
			m := dotted.FindStringSubmatch(s)
			if m == nil || !top[m[1]] {
				continue // idp.yaml, assetlinks.json ...
			}
			keys++
			if !configKey(s) {
				t.Errorf("%s: `%s` is not a configuration key", md.path, s)
			}
		}
		for _, loc := range variable.FindAllStringIndex(md.text, -1) {
			name := md.text[loc[0]:loc[1]]
			if rest := md.text[loc[1]:]; strings.HasPrefix(rest, "<") || strings.HasPrefix(rest, "_<") {
				continue // IDP_CLIENTS_<ID>_SECRET, a pattern
			}
			vars++
			if !known(name) && !testVariables[name] {
				t.Errorf("%s: %s is not a variable the configuration reads", md.path, name)
			}
		}
	}
	if keys < 20 || vars < 5 {
		t.Fatalf("only %d configuration keys and %d variables found in the guides", keys, vars)
	}
}

// Every YAML example in docs/ is a configuration the provider accepts.
// Files it points at (dsn_file, secret_file, password_file) are replaced
// by temporary ones with a value of the right shape.
func TestGuidesYAMLExamplesLoad(t *testing.T) {
	dir := t.TempDir()
	values := map[string]string{
		"dsn_file":      "postgres://idp:secret@db.internal:5432/idp?sslmode=verify-full\n",
		"secret_file":   "0123456789abcdef0123456789abcdef\n",
		"password_file": "a long test account password\n",
		"key_file":      "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
	}
	for k, v := range values {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fileKey := regexp.MustCompile(`\b(dsn_file|secret_file|password_file|key_file):\s*([^\s,}]+)`)
	n := 0
	for _, md := range guides(t) {
		if !strings.Contains(md.path, "/docs/") {
			continue // the deploy READMEs show snippets with placeholders; their files are tested in deploy_test.go
		}
		for _, b := range md.blocks {
			if b.lang != "yaml" {
				continue
			}
			n++
			body := fileKey.ReplaceAllStringFunc(b.body, func(s string) string {
				m := fileKey.FindStringSubmatch(s)
				return m[1] + ": " + filepath.Join(dir, m[1])
			})
			p := filepath.Join(dir, "example.yaml")
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			// A snippet about clients leaves the key-encryption key to the
			// operator's setup (operators.md shows it): as if mounted.
			env := func(k string) (string, bool) {
				return filepath.Join(dir, "key_file"), k == "IDP_SECRETS_KEY_FILE" && !strings.Contains(b.body, "secrets:")
			}
			if _, err := config.Load(p, env); err != nil {
				t.Errorf("%s:%d: the YAML example does not load: %v", md.path, b.line, err)
			}
		}
	}
	if n < 8 {
		t.Fatalf("only %d YAML examples found in docs/", n)
	}
}

// Every provider path the guides name is served, and every error code
// they quote is explained on /help/errors.
func TestGuidesPathsAndCodes(t *testing.T) {
	ctx := context.Background()
	defer func(l *slog.Logger) { slog.SetDefault(l) }(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	cfg := config.Default()
	cfg.Database.DSN = filepath.Join(t.TempDir(), "idp.db")
	// Apps and an extra origin, so the association files are served too.
	cfg.Passkeys.Android = []config.AndroidApp{{PackageName: "com.example.app",
		SHA256CertFingerprints: []string{"14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"}}}
	cfg.Passkeys.IOS = []config.IOSApp{{AppID: "ABCDE12345.com.example.app"}}
	cfg.Passkeys.Origins = []string{"https://forum.localhost"}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(ctx, cfg, st, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "http://localhost:8080"+path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	pathSpan := regexp.MustCompile(`^(/[A-Za-z0-9._/-]*)(\?\S*)?$`)
	urlPath := regexp.MustCompile(`https?://(?:login\.example\.org|login\.localhost)(?::\d+)?(/[A-Za-z0-9._/-]*)`)
	// Paths on the file system, not the provider's.
	files := regexp.MustCompile(`^/(etc|var|run|usr|tmp|bin|sbin|home|opt|srv|data|Library|backups)(/|$)`)
	paths := map[string]string{}
	for _, md := range guides(t) {
		for _, s := range md.spans {
			if m := pathSpan.FindStringSubmatch(s); m != nil {
				paths[m[1]] = md.path
			}
		}
		for _, m := range urlPath.FindAllStringSubmatch(md.text, -1) {
			paths[m[1]] = md.path
		}
	}
	checked := 0
	for p, from := range paths {
		if p == "" || p == "/" || files.MatchString(p) {
			continue
		}
		if p == "/metrics" {
			continue // on metrics.listen, not the public handler (idp/server serveMetrics)
		}
		rec := get(p)
		if rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), "NOT-FOUND") {
			t.Errorf("%s: the provider serves nothing at %s", from, p)
		}
		checked++
	}
	if checked < 15 {
		t.Fatalf("only %d provider paths found in the guides", checked)
	}

	help := get("/help/errors")
	if help.Code != http.StatusOK {
		t.Fatalf("/help/errors: %d", help.Code)
	}
	code := regexp.MustCompile(`^[A-Z]{2,}(-[A-Z]+)*$`)
	notCodes := map[string]bool{"HTTPS": true, "HSTS": true, "TLS": true, "PKCE": true, "JSON": true, "YAML": true, "CORS": true, "DNS": true, "SQL": true, "PIN": true, "URL": true, "URI": true, "ID": true, "CA": true, "RP": true, "CDN": true, "AMR": true, "SIGTERM": true, "PRAGMA": true, "HEALTHCHECK": true, "FAIL": true}
	codes := 0
	for _, md := range guides(t) {
		for _, s := range md.spans {
			if !code.MatchString(s) || notCodes[s] {
				continue
			}
			codes++
			if !strings.Contains(help.Body.String(), `id="`+s+`"`) {
				t.Errorf("%s: error code %s is not on /help/errors", md.path, s)
			}
		}
	}
	if codes < 20 {
		t.Fatalf("only %d error codes found in the guides", codes)
	}
}

// testVariables are read by the tests, not the configuration.
var testVariables = map[string]bool{"IDP_TEST_POSTGRES": true, "IDP_SCREENSHOTS": true}

// Every relative link and picture in the guides and the README names a
// file of the repository: a screenshot renamed or never taken shows up
// here, not as a broken picture for the reader.
func TestGuidesLinksExist(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s#]+)(?:#[^)]*)?\)`)
	docs := guides(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, markdown{path: "../../README.md", text: string(readme)})
	checked := 0
	for _, md := range docs {
		for _, m := range link.FindAllStringSubmatch(md.text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			if _, err := os.Stat(filepath.Join(filepath.Dir(md.path), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", md.path, target)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d relative links found: the pattern misses them", checked)
	}
}
