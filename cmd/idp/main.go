// Command idp is the identity provider: `idp serve` runs it, the other
// subcommands administer it (accounts, client secrets, configuration,
// schema, keys) against the same configuration and database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli is one invocation's input and output, so tests can run commands
// in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) (string, bool)
}

type command struct {
	name, usage string
	run         func(ctx context.Context, c *cli, args []string) error
	// subcommands is the usage of a command that has subcommands
	// (idp users add ...): printed for -h and when none is given.
	subcommands string
}

func commands() []command {
	return []command{
		{"serve", "run the provider", serve, ""},
		{"migrate", "create or upgrade the database schema", migrate, ""},
		{"users", "add, list, invite, import, disable and enable accounts, set passwords", usersCmd, usersUsage},
		{"clients", "hash-secret: hash a client secret for the configuration", clientsCmd, clientsUsage},
		{"config", "check: validate a configuration file", configCmd, configUsage},
		{"keys", "list or rotate the token signing keys, or revoke a leaked one", keysCmd, keysUsage},
		{"secrets", "rotate the key-encryption key, the token crypto key or the CSRF key", secretsCmd, secretsUsage},
		{"export", "write every account, passkey, key, session and token as JSON lines", export, ""},
		{"import", "read an export into an empty database (--wipe replaces one)", importCmd, ""},
		{"backup", "--to FILE: copy the SQLite database while the provider runs", backupCmd, ""},
		{"restore", "--from FILE: replace the SQLite database with a backup (provider stopped)", restoreCmd, ""},
		{"audit", "export: write the audit log as JSON lines", auditCmd, auditUsage},
		{"doctor", "check a deployment from the outside (--synthetic: sign a test account in)", doctorCmd, ""},
		{"healthcheck", "exit 0 if the provider on this machine answers (for Docker)", healthcheck, ""},
		{"version", "print the version, the Go version and the source revision", versionCmd, ""},
	}
}

// Usage of the commands that have subcommands.
const (
	clientsUsage = `usage: idp clients hash-secret < secret.txt`
	configUsage  = `usage: idp config check --config FILE`
	keysUsage    = `usage: idp keys list
       idp keys rotate [--alg RS256|ES256]
       idp keys rotate --revoke KID`
	auditUsage = `usage: idp audit export [--since 2026-11-01] [--until 2026-12-01] [--kind signin.failure]`
)

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// usageError is a mistake in how the command was called: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: os.LookupEnv}
	return c.run(ctx, args)
}

func (c *cli) run(ctx context.Context, args []string) int {
	switch {
	case len(args) == 0:
		// A command was expected: say which, where errors go.
		c.usage(c.stderr)
		return 2
	case args[0] == "--version" || args[0] == "-version":
		args = []string{"version"}
	case args[0] == "help" && len(args) > 1:
		args = []string{args[1], "-h"} // idp help users
	case isHelp(args[0]):
		c.usage(c.stdout)
		return 0
	}
	for _, cmd := range commands() {
		if cmd.name != args[0] {
			continue
		}
		if cmd.subcommands != "" && (len(args) < 2 || isHelp(args[1])) {
			if len(args) < 2 {
				fmt.Fprintln(c.stderr, cmd.subcommands)
				return 2
			}
			fmt.Fprintln(c.stdout, cmd.subcommands)
			return 0
		}
		err := cmd.run(ctx, c, args[1:])
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(c.stderr, "idp %s: %v\n", cmd.name, err)
			return 2
		default:
			fmt.Fprintf(c.stderr, "idp %s: %v\n", cmd.name, err)
			return 1
		}
	}
	fmt.Fprintf(c.stderr, "idp: unknown command %q\n\n", args[0])
	c.usage(c.stderr)
	return 2
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: idp <command> [flags]")
	fmt.Fprintln(w)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", cmd.name, cmd.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command takes --config FILE (or IDP_CONFIG); without one it uses the")
	fmt.Fprintln(w, "development defaults: issuer http://localhost:8080, SQLite file idp.db.")
	fmt.Fprintln(w, "Run `idp <command> -h` for a command's flags.")
}

// synopses are the first line of a command's -h where "idp NAME
// [flags]" would not say enough.
var synopses = map[string]string{
	"clients hash-secret": "idp clients hash-secret < secret.txt\n\nHashes the client secret read from standard input (argon2id) for a client's secret_hash.",
	"version":             "idp version\n\nPrints the version, the Go version and the source revision.",
	"healthcheck":         "idp healthcheck [flags]\n\nExits 0 if the provider on this machine answers on /ready (the Docker HEALTHCHECK).",
}

// flags returns a FlagSet that reports errors instead of exiting; its
// usage (for -h) lists the flags, or says there are none.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("idp "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		w := fs.Output()
		synopsis, ok := synopses[name]
		if !ok {
			synopsis = "idp " + name + " [flags]"
		}
		fmt.Fprintf(w, "usage: %s\n", synopsis)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			fmt.Fprintln(w, "\nThis command takes no flags.")
			return
		}
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags: -h prints the usage on standard output (exit 0), a
// bad flag is a usage error (exit 2).
func (c *cli) parse(fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(c.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	return nil
}
