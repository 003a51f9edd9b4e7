// Command site is an example community website that signs its members in
// through the provider: the authorization code flow with state, nonce and
// PKCE S256 (go-oidc and x/oauth2), the member's claims and how they signed
// in (amr: a passkey or a password), a refresh, and RP-initiated logout.
//
// Register it with the provider as a confidential client. The development
// provider (`go run ./cmd/idp serve` without a configuration file) and
// examples/idp.yaml already do, with the secret
// example-only-community-site-secret-2a8f (never use it for real); for your
// own secret, hash it with
// `printf %s "$SECRET" | go run ./cmd/idp clients hash-secret`:
//
//	clients:
//	  - id: community-site
//	    name: Community Site
//	    type: confidential
//	    secret_hash: "$argon2id$v=19$..."
//	    redirect_uris: [http://localhost:3000/oidc/callback]
//	    post_logout_redirect_uris: [http://localhost:3000/]
//	    backchannel_logout_uri: http://localhost:3000/oidc/backchannel-logout
//	    backchannel_logout_session_required: true
//
// Then, from the repository root, in two terminals:
//
//	go run ./cmd/idp serve
//	go run ./examples/site -client-secret example-only-community-site-secret-2a8f
//
// and open http://localhost:3000. The first command prints a one-time link
// to create the first (admin) account when the database has none; or add a
// member with `go run ./cmd/idp users add ...`.
//
// Flags, each also read from the environment variable in brackets:
//
//	-issuer         the provider (SITE_ISSUER; default http://localhost:8080)
//	-client-id      (SITE_CLIENT_ID; default community-site)
//	-client-secret  (SITE_CLIENT_SECRET; required)
//	-listen         the address to listen on (SITE_LISTEN; default 127.0.0.1:3000)
//	-public-url     where browsers reach the site (SITE_PUBLIC_URL; default
//	                http://localhost:PORT with the port of -listen); the
//	                redirect URIs registered are PUBLIC_URL/oidc/callback and PUBLIC_URL/,
//	                and the back-channel logout URI PUBLIC_URL/oidc/backchannel-logout
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/communityidp/idp/examples/site/app"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "site:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func run(args []string) error {
	fs := flag.NewFlagSet("site", flag.ContinueOnError)
	issuer := fs.String("issuer", env("SITE_ISSUER", "http://localhost:8080"), "the provider's issuer URL (SITE_ISSUER)")
	clientID := fs.String("client-id", env("SITE_CLIENT_ID", "community-site"), "the site's client id (SITE_CLIENT_ID)")
	secret := fs.String("client-secret", env("SITE_CLIENT_SECRET", ""), "the site's client secret (SITE_CLIENT_SECRET)")
	listen := fs.String("listen", env("SITE_LISTEN", "127.0.0.1:3000"), "the address to listen on (SITE_LISTEN)")
	publicURL := fs.String("public-url", env("SITE_PUBLIC_URL", ""), "where browsers reach the site (SITE_PUBLIC_URL; default http://localhost:PORT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("set -client-secret or SITE_CLIENT_SECRET (the development provider and examples/idp.yaml register example-only-community-site-secret-2a8f)")
	}
	if *publicURL == "" {
		_, port, err := net.SplitHostPort(*listen)
		if err != nil {
			return fmt.Errorf("-listen %q: %w", *listen, err)
		}
		*publicURL = "http://localhost:" + port
	}
	site, err := app.New(app.Config{Issuer: *issuer, ClientID: *clientID, ClientSecret: *secret, PublicURL: *publicURL})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	slog.Info("community site ready", "url", *publicURL, "issuer", *issuer, "client_id", *clientID,
		"redirect_uri", site.RedirectURL(), "post_logout_redirect_uri", site.PostLogoutURL(),
		"backchannel_logout_uri", site.BackchannelLogoutURL())
	srv := &http.Server{Handler: site, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}
