package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/secrets"
	"github.com/communityidp/idp/idp/store"
)

const secretsUsage = `usage: idp secrets rotate-kek --new-key-file FILE
       idp secrets rotate op_crypto_key|csrf_key [--drop-previous]`

func secretsCmd(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return usageError{secretsUsage}
	}
	switch args[0] {
	case "rotate-kek":
		return rotateKEK(ctx, c, args[1:])
	case "rotate":
		return rotateSecret(ctx, c, args[1:])
	}
	return usageError{fmt.Sprintf("unknown subcommand %q\n%s", args[0], secretsUsage)}
}

// rotateKEK seals every private key and secret again under a new KEK,
// while the provider keeps running: replicas keep what they opened, and
// each start seals under whatever key_file names.
func rotateKEK(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("secrets rotate-kek")
	cfgPath := c.configFlag(fs)
	newFile := fs.String("new-key-file", "", "the new key-encryption key `FILE` (32 random bytes, base64: head -c 32 /dev/urandom | base64)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *newFile == "" {
		return usageError{"--new-key-file is required"}
	}
	next, err := secrets.ReadKeyFile(*newFile)
	if err != nil {
		return usageError{fmt.Sprintf("--new-key-file: %v", err)}
	}
	_, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	from := st.Keyring().ID()
	kr, err := st.Keyring().Rotated(next)
	if err != nil {
		return err
	}
	n, err := secrets.Upgrade(ctx, st.Unwrap(), kr)
	if err != nil {
		return err
	}
	recordCLI(ctx, st, audit.KEKRotated, map[string]string{"from": from, "to": kr.ID(), "values": fmt.Sprint(n)})
	fmt.Fprintf(c.stdout, `sealed %d values under key-encryption key %s (was %s).
Running replicas keep working. Now, on every replica, set
  secrets.key_file: %s
  secrets.old_key_files: [the previous key file]
and restart them one at a time; once all run with the new key, drop
old_key_files. Back the new key up apart from the database.
`, n, kr.ID(), from, *newFile)
	return nil
}

// rotateSecret replaces the token crypto key or the CSRF key.
func rotateSecret(ctx context.Context, c *cli, args []string) error {
	name := ""
	if len(args) > 0 && slices.Contains(secrets.Rotatable, args[0]) {
		name, args = args[0], args[1:]
	}
	fs := c.flags("secrets rotate op_crypto_key|csrf_key")
	cfgPath := c.configFlag(fs)
	drop := fs.Bool("drop-previous", false, "stop accepting what the old value made at once (it leaked): signs every member out of the apps' access tokens, or voids open forms")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if name == "" {
		return usageError{secretsUsage}
	}
	_, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := secrets.Rotate(ctx, st, name, *drop); err != nil {
		return err
	}
	recordCLI(ctx, st, audit.SecretRotated, map[string]string{"name": name, "drop_previous": fmt.Sprint(*drop)})
	if *drop {
		fmt.Fprintf(c.stdout, "rotated %s; the previous value is gone: what it made stops working on every replica within seconds\n", name)
	} else {
		fmt.Fprintf(c.stdout, "rotated %s; every replica uses the new value within seconds and still accepts what the previous one made\n", name)
	}
	return nil
}

// recordCLI writes an audit event for an operator's command.
func recordCLI(ctx context.Context, st store.AuditStore, kind string, details map[string]string) {
	recordCLIUser(ctx, st, kind, "", details)
}

// recordCLIUser writes an audit event for an operator's command about
// the member userID; details say "via": "command line".
func recordCLIUser(ctx context.Context, st store.AuditStore, kind, userID string, details map[string]string) {
	if details == nil {
		details = map[string]string{}
	}
	details["via"] = "command line"
	(&audit.Recorder{Store: st, Now: time.Now}).Record(ctx, nil, store.AuditEvent{Kind: kind, UserID: userID, Details: details})
}
