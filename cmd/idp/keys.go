package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/communityidp/idp/idp/keys"
)

func keysCmd(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		return usageError{"usage: idp keys list | idp keys rotate [--alg RS256|ES256]"}
	}
	fs := c.flags("keys " + args[0])
	cfgPath := c.configFlag(fs)
	alg := fs.String("alg", "", "rotate only this algorithm (RS256 or ES256); default both")
	if err := parse(fs, args[1:]); err != nil {
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
	if args[0] == "rotate" {
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
