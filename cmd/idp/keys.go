package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/keys"
)

func keysCmd(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		return usageError{fmt.Sprintf("unknown subcommand %q\n%s", args[0], keysUsage)}
	}
	fs := c.flags("keys " + args[0])
	cfgPath := c.configFlag(fs)
	var alg, revoke *string
	if args[0] == "rotate" {
		alg = fs.String("alg", "", "rotate only this algorithm (RS256 or ES256); default both")
		revoke = fs.String("revoke", "", "withdraw the key `KID` at once (it leaked): it leaves the JWKS and tokens it signed stop verifying")
	}
	if err := c.parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, st, err := c.openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	km := keys.NewManager(st, keys.Options{
		RotationPeriod:     cfg.Keys.RotationPeriod.D(),
		PublishAfterRetire: cfg.Tokens.IDTokenLifetime.D() + time.Hour,
		PublishAhead:       2 * time.Minute, // running replicas publish it first
	})
	if args[0] == "rotate" && *revoke != "" {
		if *alg != "" {
			return usageError{"--revoke and --alg do not go together: the revoked key's algorithm gets the new key"}
		}
		a, next, err := km.Revoke(ctx, *revoke)
		if errors.Is(err, keys.ErrUnknownKey) {
			return usageError{fmt.Sprintf("--revoke: %q is not a published key (idp keys list shows them)", *revoke)}
		}
		if err != nil {
			return err
		}
		details := map[string]string{"kid": *revoke, "alg": string(a)}
		if next != "" {
			details["replacement"] = next
		}
		recordCLI(ctx, st, audit.KeyRevoked, details)
		fmt.Fprintf(c.stdout, "revoked %s (%s): every replica stops publishing it and signing with it within %s", *revoke, a, keys.ReloadInterval)
		if next != "" {
			fmt.Fprintf(c.stdout, "; %s signs in its place from now", next)
		}
		fmt.Fprintln(c.stdout, "\nclients that cached the JWKS drop it when their copy expires (at most 2 minutes)")
	} else if args[0] == "rotate" {
		algs := keys.Algorithms
		switch *alg {
		case "":
		case "RS256", "ES256":
			algs = []jose.SignatureAlgorithm{jose.SignatureAlgorithm(*alg)}
		default:
			return usageError{fmt.Sprintf("--alg: %q is not RS256 or ES256", *alg)}
		}
		if err := km.Ensure(ctx); err != nil {
			return err
		}
		for _, a := range algs {
			if err := km.Rotate(ctx, a); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "rotated %s: the new key signs in 2 minutes, once every replica publishes it; the previous key stays published until its tokens expire\n", a)
		}
	}
	list, err := km.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATUS")
	for _, k := range list {
		status := "active"
		if k.ActiveFrom.After(time.Now()) {
			status = "published, signs from " + k.ActiveFrom.UTC().Format(time.RFC3339)
		}
		if k.RetireAt != nil {
			status = "published until " + k.RetireAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.CreatedAt.UTC().Format(time.RFC3339), status)
	}
	return tw.Flush()
}
