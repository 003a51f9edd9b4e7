package main

import (
	"context"
	"fmt"
	"io"

	"github.com/communityidp/idp/idp/password"
)

func clientsCmd(ctx context.Context, c *cli, args []string) error {
	if args[0] != "hash-secret" {
		return usageError{fmt.Sprintf("unknown subcommand %q\n%s", args[0], clientsUsage)}
	}
	fs := c.flags("clients hash-secret")
	if err := c.parse(fs, args[1:]); err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(c.stdin, 4096))
	if err != nil {
		return fmt.Errorf("read secret from standard input: %w", err)
	}
	secret := trimNewline(string(raw))
	if len(secret) < 16 {
		return fmt.Errorf("the secret on standard input is %d characters; use at least 16 random characters (32 recommended, e.g. `openssl rand -base64 32`)", len(secret))
	}
	hash, err := password.Hash(secret)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, hash)
	return nil
}
