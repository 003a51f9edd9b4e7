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
}

func commands() []command {
	return []command{
		{"serve", "run the provider", serve},
		{"migrate", "create or upgrade the database schema", migrate},
		{"users", "add, list, disable and enable accounts, set passwords", usersCmd},
		{"clients", "hash-secret: hash a client secret for the configuration", clientsCmd},
		{"config", "check: validate a configuration file", configCmd},
		{"keys", "list or rotate the token signing keys, or revoke a leaked one", keysCmd},
		{"secrets", "rotate the key-encryption key, the token crypto key or the CSRF key", secretsCmd},
		{"export", "write every account, passkey, key, session and token as JSON lines", export},
		{"import", "read an export into an empty database (--wipe replaces one)", importCmd},
		{"backup", "--to FILE: copy the SQLite database while the provider runs", backupCmd},
		{"restore", "--from FILE: replace the SQLite database with a backup (provider stopped)", restoreCmd},
		{"audit", "export: write the audit log as JSON lines", auditCmd},
		{"doctor", "check a deployment from the outside (--synthetic: sign a test account in)", doctorCmd},
		{"healthcheck", "exit 0 if the provider on this machine answers (for Docker)", healthcheck},
		{"version", "print the version, the Go version and the source revision", versionCmd},
	}
}

// usageError is a mistake in how the command was called: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: os.LookupEnv}
	return c.run(ctx, args)
}

func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		c.usage(c.stdout)
		return 0
	}
	for _, cmd := range commands() {
		if cmd.name != args[0] {
			continue
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

// flags returns a FlagSet that reports errors instead of exiting.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("idp "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

// parse parses flags and turns a bad flag into a usage error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
