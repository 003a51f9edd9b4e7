package main

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/communityidp/idp/config"
)

// The packaging under deploy/ is checked against the code, so the shipped
// examples cannot drift from it: the compose file parses (unknown keys
// refused), both replicas get the same configuration, idp.yaml loads with
// the real configuration loader in the environment the containers give
// it, and the Caddyfile, the networks and trusted_proxies agree; the
// systemd unit runs a real command line and its configuration loads.
// Docker itself is not run: it cannot download images here.

const deployDir = "../../deploy"

type composeFile struct {
	Name     string                    `yaml:"name"`
	XIdp     any                       `yaml:"x-idp"`
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		Internal bool `yaml:"internal"`
		Ipam     struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	Hostname        string            `yaml:"hostname"`
	Restart         string            `yaml:"restart"`
	Command         []string          `yaml:"command"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	Secrets         []string          `yaml:"secrets"`
	Ports           []string          `yaml:"ports"`
	Networks        composeNetworks   `yaml:"networks"`
	DependsOn       any               `yaml:"depends_on"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Healthcheck     *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
}

// composeNetworks is a service's networks: a list of names, or a mapping
// of names to settings (aliases).
type composeNetworks map[string][]string

func (n *composeNetworks) UnmarshalYAML(v *yaml.Node) error {
	*n = composeNetworks{}
	if v.Kind == yaml.SequenceNode {
		var names []string
		if err := v.Decode(&names); err != nil {
			return err
		}
		for _, name := range names {
			(*n)[name] = nil
		}
		return nil
	}
	var m map[string]struct {
		Aliases []string `yaml:"aliases"`
	}
	if err := v.Decode(&m); err != nil {
		return err
	}
	for name, s := range m {
		(*n)[name] = s.Aliases
	}
	return nil
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, "compose", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt compose key fails here, as it would in docker compose
	var f composeFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return f
}

// dockerfileEnv reads the runtime stage's ENV lines and every ARG.
func dockerfileEnv(t *testing.T) (env map[string]string, args []string) {
	t.Helper()
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continued lines, drop comments.
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	env = map[string]string{}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "FROM "):
			env = map[string]string{} // only the last stage's ENV reaches the container
		case strings.HasPrefix(l, "ENV "):
			for _, kv := range strings.Fields(strings.TrimPrefix(l, "ENV ")) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %q is not KEY=value", kv)
				}
				env[k] = v
			}
		case strings.HasPrefix(l, "ARG "):
			name, _, _ := strings.Cut(strings.TrimPrefix(l, "ARG "), "=")
			args = append(args, name)
		}
	}
	return env, args
}

// knownEnv are the variables the configuration loader reads: the literal
// names in config/load.go, each also as NAME_FILE, and the per-client
// secret variables.
func knownEnv(t *testing.T) func(string) bool {
	t.Helper()
	src, err := os.ReadFile("../../config/load.go")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"IDP_CONFIG": true}
	for _, m := range regexp.MustCompile(`"(IDP_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		known[m[1]], known[m[1]+"_FILE"] = true, true
	}
	if len(known) < 20 {
		t.Fatalf("found only %d variable names in config/load.go", len(known))
	}
	client := regexp.MustCompile(`^IDP_CLIENTS_[A-Z0-9_]+_SECRET(_HASH)?(_FILE)?$`)
	return func(name string) bool { return known[name] || client.MatchString(name) }
}

func TestComposeExample(t *testing.T) {
	dir := filepath.Join(deployDir, "compose")
	f := readCompose(t)
	for _, name := range []string{"db", "idp1", "idp2", "caddy"} {
		if _, ok := f.Services[name]; !ok {
			t.Fatalf("docker-compose.yml: no service %q", name)
		}
	}
	idp1, idp2, db, caddy := f.Services["idp1"], f.Services["idp2"], f.Services["db"], f.Services["caddy"]

	// Both replicas: built from the repository's Dockerfile, the same
	// image, configuration, secrets and networks.
	if idp1.Build == nil {
		t.Fatal("idp1 is not built from the repository")
	}
	if _, err := os.Stat(filepath.Join(dir, idp1.Build.Context, idp1.Build.Dockerfile)); err != nil {
		t.Fatalf("build context: %v", err)
	}
	_, dockerArgs := dockerfileEnv(t)
	for arg := range idp1.Build.Args {
		if !slices.Contains(dockerArgs, arg) {
			t.Errorf("build arg %s is not an ARG of the Dockerfile %v", arg, dockerArgs)
		}
	}
	same := func(what string, a, b any) {
		if !equalYAML(a, b) {
			t.Errorf("idp1 and idp2 differ in %s: %v / %v", what, a, b)
		}
	}
	same("image", idp1.Image, idp2.Image)
	same("build", idp1.Build, idp2.Build)
	same("environment", idp1.Environment, idp2.Environment)
	same("volumes", idp1.Volumes, idp2.Volumes)
	same("secrets", idp1.Secrets, idp2.Secrets)
	same("networks", idp1.Networks, idp2.Networks)
	if idp1.Hostname == idp2.Hostname {
		t.Errorf("both replicas are called %q", idp1.Hostname)
	}
	if len(idp1.Ports) > 0 || len(idp2.Ports) > 0 {
		t.Errorf("the replicas publish ports (%v): only the proxy should", idp1.Ports)
	}
	if d, err := time.ParseDuration(idp1.StopGracePeriod); err != nil || d <= 15*time.Second {
		t.Errorf("stop_grace_period %q: must exceed the 15 s graceful shutdown", idp1.StopGracePeriod)
	}
	if !strings.Contains(yamlString(idp1.DependsOn), "service_healthy") {
		t.Errorf("the replicas do not wait for a healthy database: depends_on %v", idp1.DependsOn)
	}

	// Every file a service mounts or names exists here.
	for name, s := range f.Services {
		for _, v := range s.Volumes {
			src := strings.Split(v, ":")[0]
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := f.Volumes[src]; !ok {
				t.Errorf("%s mounts the undeclared volume %q", name, src)
			}
		}
		for _, sec := range s.Secrets {
			if _, ok := f.Secrets[sec]; !ok {
				t.Errorf("%s uses the undeclared secret %q", name, sec)
			}
		}
		for n := range s.Networks {
			if _, ok := f.Networks[n]; !ok {
				t.Errorf("%s joins the undeclared network %q", name, n)
			}
		}
	}
	gitignore, _ := os.ReadFile(filepath.Join(dir, ".gitignore"))
	for name, s := range f.Secrets {
		if !strings.HasPrefix(s.File, "./secrets/") {
			t.Errorf("secret %s is read from %s, outside ./secrets/", name, s.File)
		}
	}
	if !strings.Contains(string(gitignore), "/secrets/") {
		t.Error("deploy/compose/.gitignore does not keep secrets/ out of git")
	}

	// PostgreSQL: its password from a secret, a health check.
	if pw := db.Environment["POSTGRES_PASSWORD_FILE"]; !strings.HasPrefix(pw, "/run/secrets/") || !slices.Contains(db.Secrets, strings.TrimPrefix(pw, "/run/secrets/")) {
		t.Errorf("db: POSTGRES_PASSWORD_FILE %q is not a mounted secret", pw)
	}
	if db.Healthcheck == nil || !slices.Contains(db.Healthcheck.Test, "pg_isready") {
		t.Error("db has no pg_isready health check")
	}
	if db.Environment["POSTGRES_USER"] == "" || db.Environment["POSTGRES_DB"] == "" {
		t.Error("db: POSTGRES_USER and POSTGRES_DB are not set")
	}

	// The environment a replica sees: the image's ENV, then the service's.
	// Every IDP_ variable is one the loader reads.
	imageEnv, _ := dockerfileEnv(t)
	known := knownEnv(t)
	env := map[string]string{}
	for k, v := range imageEnv {
		env[k] = v
	}
	for k, v := range idp1.Environment {
		env[k] = v
	}
	for k := range env {
		if strings.HasPrefix(k, "IDP_") && !known(k) {
			t.Errorf("environment: the configuration has no variable %s", k)
		}
	}

	// The configuration file: IDP_CONFIG names a mounted file from here.
	cfgPath := env["IDP_CONFIG"]
	for i, a := range idp1.Command {
		if a == "--config" && i+1 < len(idp1.Command) {
			cfgPath = idp1.Command[i+1]
		}
	}
	hostCfg := ""
	for _, v := range idp1.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == cfgPath {
			hostCfg = filepath.Join(dir, parts[0])
		}
	}
	if cfgPath == "" || hostCfg == "" {
		t.Fatalf("the replicas' configuration %q is not a file mounted from deploy/compose", cfgPath)
	}

	// Load it as a replica would, with the mounted secrets in place:
	// /run/secrets/NAME becomes a file holding what README.md makes.
	tmp := t.TempDir()
	secretValue := map[string]string{
		"idp_dsn":     "postgres://" + db.Environment["POSTGRES_USER"] + ":0123abcd@db:5432/" + db.Environment["POSTGRES_DB"] + "?sslmode=disable\n",
		"db_password": "0123abcd\n",
		"idp_kek":     "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
	}
	raw, err := os.ReadFile(hostCfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, sec := range idp1.Secrets {
		v, ok := secretValue[sec]
		if !ok {
			v = "0123456789abcdef0123456789abcdef\n"
		}
		p := filepath.Join(tmp, sec)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, "/run/secrets/"+sec, p)
		for k, ev := range env {
			env[k] = strings.ReplaceAll(ev, "/run/secrets/"+sec, p)
		}
	}
	mapped := filepath.Join(tmp, "idp.yaml")
	if err := os.WriteFile(mapped, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(mapped, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("deploy/compose/idp.yaml in the container's environment: %v", err)
	}
	// And through `idp config check`, as the README has it.
	checkEnv := map[string]string{"IDP_CONFIG": mapped}
	for k, v := range env {
		if k != "IDP_CONFIG" {
			checkEnv[k] = v
		}
	}
	if code, out, errs := runCLI(t, checkEnv, "", "config", "check"); code != 0 || !strings.Contains(out, "configuration is valid") {
		t.Fatalf("idp config check: %d %s %s", code, out, errs)
	}

	if cfg.Database.Driver != "postgres" {
		t.Errorf("database.driver is %q, want postgres", cfg.Database.Driver)
	}
	if u, err := url.Parse(cfg.Database.DSN); err != nil || u.Hostname() != "db" {
		t.Errorf("the DSN %q does not reach the db service", cfg.Database.DSN)
	}
	issuer, _ := url.Parse(cfg.Issuer)
	if issuer.Scheme != "https" {
		t.Errorf("issuer %s: the proxy terminates TLS, so https", cfg.Issuer)
	}
	_, listenPort, _ := net.SplitHostPort(cfg.Listen)

	// Caddy: the issuer's host, both replicas on the listen port.
	caddyfile, err := os.ReadFile(filepath.Join(dir, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cf := string(caddyfile)
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(issuer.Host) + ` \{`).MatchString(cf) {
		t.Errorf("the Caddyfile has no site block for the issuer's host %s", issuer.Host)
	}
	if !strings.Contains(cf, "tls internal") {
		t.Error("the Caddyfile does not use Caddy's internal CA")
	}
	for _, up := range []string{idp1.Hostname, idp2.Hostname} {
		if !strings.Contains(cf, up+":"+listenPort) {
			t.Errorf("the Caddyfile does not forward to %s:%s", up, listenPort)
		}
	}
	if !strings.Contains(cf, "health_uri /ready") {
		t.Error("the Caddyfile does not health-check /ready")
	}
	if !slices.ContainsFunc(caddy.Ports, func(p string) bool { return strings.HasPrefix(p, "443:443") }) {
		t.Errorf("caddy does not publish 443: %v", caddy.Ports)
	}
	if !slices.Contains(caddy.Networks["edge"], issuer.Hostname()) {
		t.Errorf("caddy has no alias %s on the edge network: idp doctor inside the networks cannot reach the issuer", issuer.Hostname())
	}

	// trusted_proxies covers the network Caddy shares with the replicas,
	// and that network is the only one they share.
	var shared []string
	for n := range caddy.Networks {
		if _, ok := idp1.Networks[n]; ok {
			shared = append(shared, n)
		}
	}
	if len(shared) != 1 {
		t.Fatalf("caddy and the replicas share networks %v, want one", shared)
	}
	subnets := f.Networks[shared[0]].Ipam.Config
	if len(subnets) != 1 {
		t.Fatalf("network %s has no fixed subnet for trusted_proxies", shared[0])
	}
	subnet := netip.MustParsePrefix(subnets[0].Subnet)
	covered := false
	for _, p := range cfg.TrustedProxies {
		if tp, err := netip.ParsePrefix(p); err == nil && tp.Bits() <= subnet.Bits() && tp.Contains(subnet.Addr()) {
			covered = true
		}
	}
	if !covered {
		t.Errorf("trusted_proxies %v does not cover Caddy's network %s (%s)", cfg.TrustedProxies, shared[0], subnet)
	}
	if _, ok := db.Networks[shared[0]]; ok {
		t.Errorf("the database is on the proxy's network %s", shared[0])
	}
	for n := range db.Networks {
		if !f.Networks[n].Internal {
			t.Errorf("the database's network %s is not internal", n)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	dir := filepath.Join(deployDir, "systemd")
	unit := readUnit(t, filepath.Join(dir, "idp.service"))
	want := map[string]string{
		"Service.ExecStart":       "/usr/local/bin/idp serve --config /etc/idp/idp.yaml",
		"Service.Restart":         "on-failure",
		"Service.StateDirectory":  "idp",
		"Service.ProtectSystem":   "strict",
		"Service.NoNewPrivileges": "yes",
		"Install.WantedBy":        "multi-user.target",
	}
	for k, v := range want {
		if got := unit[k]; len(got) == 0 || got[len(got)-1] != v {
			t.Errorf("idp.service: %s=%v, want %s", k, got, v)
		}
	}
	if u := unit["Service.User"]; len(u) == 0 && unit["Service.DynamicUser"] == nil {
		t.Error("idp.service runs as root: set User= or DynamicUser=")
	}
	stop := strings.Join(unit["Service.TimeoutStopSec"], " ")
	if regexp.MustCompile(`^\d+$`).MatchString(stop) {
		stop += "s" // systemd reads a bare number as seconds
	}
	if d, err := time.ParseDuration(stop); err != nil || d < 20*time.Second {
		t.Errorf("TimeoutStopSec=%v: must leave the 15 s graceful shutdown room", stop)
	}

	// The command line is one idp accepts: the flags exist.
	args := strings.Fields(unit["Service.ExecStart"][0])[1:]
	if code, _, errs := runCLI(t, nil, "", append(slices.Clone(args), "-h")...); code != 0 {
		t.Fatalf("%v -h: exit %d %s", args, code, errs)
	}

	// Its configuration loads, and keeps SQLite in the state directory.
	cfg, err := config.Load(filepath.Join(dir, "idp.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("deploy/systemd/idp.yaml: %v", err)
	}
	if cfg.Database.Driver == "sqlite" && filepath.Dir(cfg.Database.DSN) != "/var/lib/idp" {
		t.Errorf("the SQLite file %s is outside StateDirectory=idp (/var/lib/idp): ProtectSystem=strict makes it read-only", cfg.Database.DSN)
	}
	if host, _, _ := net.SplitHostPort(cfg.Listen); host != "127.0.0.1" && host != "::1" && host != "localhost" {
		t.Errorf("listen %s: behind a proxy on the same machine, listen on loopback", cfg.Listen)
	}

	// The backup unit runs idp backup with real flags, into a directory
	// it may write.
	backup := readUnit(t, filepath.Join(dir, "idp-backup.service"))
	exec := strings.Join(backup["Service.ExecStart"], " ")
	m := regexp.MustCompile(`/usr/local/bin/idp backup --config (\S+) --to ([^' ]+/)[^']*'`).FindStringSubmatch(exec)
	if m == nil {
		t.Fatalf("idp-backup.service ExecStart=%s", exec)
	}
	if code, _, errs := runCLI(t, nil, "", "backup", "--config", m[1], "--to", m[2]+"x.db", "-h"); code != 0 {
		t.Fatalf("idp backup -h: exit %d %s", code, errs)
	}
	states := strings.Fields(strings.Join(backup["Service.StateDirectory"], " "))
	if !slices.Contains(states, "idp") || !slices.Contains(states, strings.TrimPrefix(filepath.Clean(m[2]), "/var/lib/")) {
		t.Errorf("idp-backup.service: StateDirectory=%v must hold the database and %s", states, m[2])
	}
	timer := readUnit(t, filepath.Join(dir, "idp-backup.timer"))
	if len(timer["Timer.OnCalendar"]) == 0 {
		t.Error("idp-backup.timer has no OnCalendar=")
	}
}

// readUnit reads a systemd unit file as Section.Key -> values in order.
func readUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section := ""
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is not Key=value in a section", path, i+1, l)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

func yamlString(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

func equalYAML(a, b any) bool { return yamlString(a) == yamlString(b) }

// The image never runs the development provider where others can reach
// it: with the image's environment and nothing mounted, `idp serve` says
// what to mount and exits non-zero; and the examples' clients (whose
// secret is published) are registered only on a loopback listen address.
func TestImageWithoutConfiguration(t *testing.T) {
	env, _ := dockerfileEnv(t)
	if env["IDP_CONFIG"] == "" || !strings.HasPrefix(env["IDP_LISTEN"], "0.0.0.0:") {
		t.Fatalf("the image's environment: %v", env)
	}
	mounted := filepath.Join(t.TempDir(), "etc", "idp.yaml") // nothing there
	env["IDP_CONFIG"] = mounted
	code, _, errs := runCLI(t, env, "", "serve")
	if code == 0 || !strings.Contains(errs, "mount it there") || !strings.Contains(errs, mounted) {
		t.Fatalf("serve in the image without a configuration: exit %d\n%s", code, errs)
	}
	for listen, want := range map[string]int{"0.0.0.0:8080": 0, "[::]:8080": 0, ":8080": 0, "127.0.0.1:8080": 2, "localhost:8080": 2} {
		cfg, err := config.Load("", func(k string) (string, bool) { return listen, k == "IDP_LISTEN" })
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Clients) != want {
			t.Errorf("listen %s without a file: %d clients, want %d", listen, len(cfg.Clients), want)
		}
	}
}

// The release builds (the image, the systemd guide, the benchmarks) leave
// out gin's MessagePack codec, which the provider never uses and whose
// start-up stays in the process's memory.
func TestReleaseBuildWithoutMsgpack(t *testing.T) {
	for _, f := range []string{"../../Dockerfile", "../../deploy/systemd/README.md", "../../bench/run.sh", "../../bench/replicas.sh", "../../bench/pair.sh"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "go build") && strings.Contains(line, "./cmd/idp") ||
				strings.Contains(line, "go build") && strings.HasSuffix(strings.TrimSpace(line), "\\") {
				if !strings.Contains(line, "-tags nomsgpack") {
					t.Errorf("%s: %q builds the provider without -tags nomsgpack", f, strings.TrimSpace(line))
				}
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", "-tags", "nomsgpack", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if strings.Contains(string(out), "github.com/ugorji/go/codec") {
		t.Error("with -tags nomsgpack the provider still links github.com/ugorji/go/codec")
	}
}
