// Command load puts a running provider under the load operators care
// about and reports throughput and latency per scenario:
//
//	go run ./bench/load -issuer http://localhost:9000 -client-id bench-app \
//	    -redirect-uri http://127.0.0.1/callback -users bench/users.txt \
//	    -scenarios all -workers 8 -duration 10s
//
// Scenarios: discovery, jwks, authcode-password, authcode-passkey,
// refresh, userinfo, introspect (needs -client-secret). The passkey
// scenario registers a passkey for each account through the real
// registration endpoints first (a software authenticator) and removes it
// afterwards. Any error makes the tool exit 1: a provider that is fast
// only because it fails does not pass.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"
)

type options struct {
	issuer, clientID, clientSecret, redirectURI string
	accounts                                    []account
	scenarios                                   []string
	workers                                     int
	duration                                    time.Duration
	pid                                         int
	// floor serves the same documents from plain net/http (bench/floor).
	floor string
	// admin is an admin's account, for the admin scenarios.
	admin *account
	// cpuProfile is where the tool's own CPU profile goes: the tool shares
	// the machine with the provider, so its cost is part of every figure.
	cpuProfile string
}

var allScenarios = []string{"discovery", "jwks", "authcode-password", "authcode-passkey", "refresh", "userinfo", "introspect"}

// floorScenarios fetch the documents from -floor instead of the provider;
// authcode-engine signs in at zitadel/oidc's example server (the
// protocol engine alone) as -issuer.
var floorScenarios = []string{"discovery-floor", "jwks-floor", "authcode-engine"}

// adminPages are the console pages the admin scenarios load (-admin),
// the ones that read across the whole community.
var adminPages = map[string]string{
	"admin-overview": "/admin",
	"admin-rollout":  "/admin/rollout",
	"admin-members":  "/admin/members?q=member4242",
	"admin-audit":    "/admin/audit?kind=signin.success",
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
	}
	os.Exit(code)
}

// run parses args, runs the scenarios and reports to out. It returns the
// exit code: 0 when every operation succeeded, 1 when any failed, 2 for a
// usage error.
func run(ctx context.Context, args []string, out io.Writer) (int, error) {
	o, err := parseFlags(args)
	if err != nil {
		return 2, err
	}
	t, err := newTarget(ctx, o)
	if err != nil {
		return 1, err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return 2, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 2, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(out, "load: %s, client %s, %d workers, %s per scenario\n", o.issuer, o.clientID, o.workers, o.duration)
	fmt.Fprintln(out, header())
	var results []result
	for _, name := range o.scenarios {
		if ctx.Err() != nil {
			break
		}
		r, err := runScenario(ctx, t, o, name)
		if err != nil {
			return 1, fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintln(out, r.rows())
		for _, e := range r.samples {
			fmt.Fprintf(out, "  error: %s\n", e)
		}
		results = append(results, r)
	}
	total, failed := 0, 0
	for _, r := range results {
		total += r.ops
		failed += r.errors
	}
	fmt.Fprintf(out, "load: %d scenarios, %d operations, %d errors\n", len(results), total, failed)
	if failed > 0 {
		return 1, fmt.Errorf("%d operations failed", failed)
	}
	return 0, nil
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var o options
	var scenarios, usersFile, user, password string
	fs.StringVar(&o.issuer, "issuer", "http://localhost:8080", "the provider's issuer URL")
	fs.StringVar(&o.clientID, "client-id", "", "a registered client (required)")
	fs.StringVar(&o.clientSecret, "client-secret", "", "its secret, for a confidential client (introspect needs one)")
	fs.StringVar(&o.redirectURI, "redirect-uri", "", "one of the client's redirect URIs (required for the sign-in scenarios); never followed")
	fs.StringVar(&usersFile, "users", "", "file of accounts, one \"login:password\" per line")
	fs.StringVar(&user, "user", "", "one account's username or email (instead of -users)")
	fs.StringVar(&password, "password", "", "its password")
	fs.StringVar(&scenarios, "scenarios", "all", "comma-separated: "+strings.Join(allScenarios, ", ")+", or all")
	fs.IntVar(&o.workers, "workers", 8, "concurrent workers")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario runs")
	fs.IntVar(&o.pid, "pid", 0, "the provider's process ID, to report its memory (RSS) idle and at peak")
	fs.Func("admin", "an admin's \"login:password\", for the admin-overview, admin-rollout, admin-members and admin-audit scenarios",
		func(v string) error {
			login, pw, ok := strings.Cut(v, ":")
			if !ok {
				return errors.New("want login:password")
			}
			o.admin = &account{login: login, password: pw}
			return nil
		})
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the load tool's own CPU profile to this file")
	fs.StringVar(&o.floor, "floor", "", "a plain net/http server of the same documents (bench/floor), for discovery-floor and jwks-floor")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.clientID == "" {
		return o, errors.New("-client-id is required")
	}
	if o.workers < 1 {
		return o, errors.New("-workers must be at least 1")
	}
	if o.duration <= 0 {
		return o, errors.New("-duration must be positive")
	}
	if scenarios == "all" {
		o.scenarios = allScenarios
	} else {
		for _, s := range strings.Split(scenarios, ",") {
			s = strings.TrimSpace(s)
			_, adminPage := adminPages[s]
			if !contains(allScenarios, s) && !contains(floorScenarios, s) && !(o.admin != nil && adminPage) {
				return o, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", "))
			}
			o.scenarios = append(o.scenarios, s)
		}
	}
	switch {
	case usersFile != "":
		accts, err := readAccounts(usersFile)
		if err != nil {
			return o, err
		}
		o.accounts = accts
	case user != "":
		o.accounts = []account{{login: user, password: password}}
	}
	needsUser := false
	for _, s := range o.scenarios {
		needsUser = needsUser || (s != "discovery" && s != "jwks")
		if s == "introspect" && o.clientSecret == "" {
			return o, errors.New("-scenarios: introspect needs a confidential client (-client-secret)")
		}
	}
	if needsUser && (len(o.accounts) == 0 || o.redirectURI == "") {
		return o, errors.New("the sign-in, refresh, userinfo and introspect scenarios need -users (or -user and -password) and -redirect-uri")
	}
	return o, nil
}

func readAccounts(path string) ([]account, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-users: %w", err)
	}
	defer f.Close()
	var accts []account
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		login, pw, ok := strings.Cut(line, ":")
		if !ok || login == "" || pw == "" {
			return nil, fmt.Errorf("-users %s line %d: want login:password", path, n)
		}
		accts = append(accts, account{login: login, password: pw})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("-users: %w", err)
	}
	if len(accts) == 0 {
		return nil, fmt.Errorf("-users %s: no accounts", path)
	}
	return accts, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
