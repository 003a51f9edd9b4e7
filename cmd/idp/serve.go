package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/password"
	"github.com/communityidp/idp/idp/secrets"
	"github.com/communityidp/idp/idp/server"
)

// configFlag adds --config; its default is $IDP_CONFIG.
func (c *cli) configFlag(fs *flag.FlagSet) *string {
	def, _ := c.env("IDP_CONFIG")
	return fs.String("config", def, "configuration `file` (YAML); default $IDP_CONFIG, else development defaults")
}

func (c *cli) loadConfig(path string) (config.Config, error) {
	return config.Load(path, c.env)
}

// memoryLimit is the runtime's soft memory limit serve sets: the one the
// password hashing slots need (password.MemoryLimit), unless the operator
// chose one with GOMEMLIMIT, which the runtime has applied already.
func memoryLimit(env func(string) (string, bool)) (int64, bool) {
	if _, set := env("GOMEMLIMIT"); set {
		return 0, false
	}
	return password.MemoryLimit(), true
}

// openStore loads the configuration and opens its database.
func (c *cli) openStore(ctx context.Context, path string) (config.Config, *secrets.Store, error) {
	cfg, err := c.loadConfig(path)
	if err != nil {
		return cfg, nil, err
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return cfg, nil, fmt.Errorf("open database: %w", err)
	}
	return cfg, st, nil
}

func serve(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("serve")
	cfgPath := c.configFlag(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	slog.SetDefault(server.NewLogger(cfg.Log, c.stderr))
	if *cfgPath == "" {
		slog.Info("no configuration file: running the development provider", "issuer", cfg.Issuer, "database", cfg.Database.DSN)
		if len(cfg.Clients) > 0 {
			ids := make([]string, len(cfg.Clients))
			for i, cl := range cfg.Clients {
				ids[i] = cl.ID
			}
			slog.Info("the example clients of examples/ are registered (as in examples/idp.yaml); a configuration file replaces them", "clients", strings.Join(ids, ", "))
		}
	}
	for _, w := range cfg.Warnings() {
		slog.Warn(w)
	}
	if limit, ok := memoryLimit(c.env); ok {
		debug.SetMemoryLimit(limit)
		slog.Debug("soft memory limit from the password hashing slots (GOMEMLIMIT overrides it)", "limit_mib", limit>>20)
	}
	started := time.Now()
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	srv, err := server.New(ctx, cfg, st, server.Options{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (listen): %w", cfg.Listen, err)
	}
	link, err := srv.SetupLink(ctx)
	if err != nil {
		return err
	}
	if link != "" {
		fmt.Fprintf(c.stdout, "\nNo account exists yet. Open this one-time link to create the first admin account\n(it works once, within 24 hours; restart the provider for a new one):\n\n  %s\n\n", link)
	}
	build := describeBuild(debug.ReadBuildInfo())
	slog.Info("provider ready", "issuer", cfg.Issuer, "listen", ln.Addr().String(), "clients", len(cfg.Clients),
		"version", build.Version, "revision", build.Revision, "startup_ms", time.Since(started).Milliseconds())
	return srv.Serve(ctx, ln)
}

func migrate(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("migrate")
	cfgPath := c.configFlag(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cfg, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(c.stdout, "database schema is up to date (%s %s)\n", cfg.Database.Driver, cfg.Database.DSN)
	return nil
}

func configCmd(ctx context.Context, c *cli, args []string) error {
	if args[0] != "check" {
		return usageError{fmt.Sprintf("unknown subcommand %q\n%s", args[0], configUsage)}
	}
	fs := c.flags("config check")
	cfgPath := c.configFlag(fs)
	if err := c.parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(c.stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(c.stdout, "configuration is valid: issuer %s, %d client(s), database %s\n", cfg.Issuer, len(cfg.Clients), cfg.Database.Driver)
	return nil
}

func healthcheck(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("healthcheck")
	cfgPath := c.configFlag(fs)
	url := fs.String("url", "", "health `URL` to probe (default: /healthz on the configured listen address)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	target := *url
	if target == "" {
		cfg, err := c.loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		host, port, _ := net.SplitHostPort(cfg.Listen)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		target = "http://" + net.JoinHostPort(host, port) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return usageError{fmt.Sprintf("--url: %v", err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s", target, resp.Status)
	}
	fmt.Fprintln(c.stdout, "healthy")
	return nil
}

// trimNewline removes one trailing line break from piped input.
func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}
