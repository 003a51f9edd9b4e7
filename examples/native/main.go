// Command native is an example native app: a command-line stand-in for a
// mobile app that signs a member in the way apps should (RFC 8252): in the
// system browser, as a public client with PKCE S256, the answer coming back
// to a loopback redirect http://127.0.0.1:PORT/callback on a free port. It
// verifies the ID token, prints the member's claims and how they signed in
// (amr), and with -refresh runs the refresh grant once.
//
// Register it with the provider as a public client (no secret; any loopback
// port matches the registered address). The development provider
// (`go run ./cmd/idp serve` without a configuration file) and
// examples/idp.yaml already do:
//
//	clients:
//	  - id: mobile-app
//	    name: Community App
//	    type: public
//	    redirect_uris: [http://127.0.0.1/callback]
//
// Then, from the repository root, with the provider running
// (`go run ./cmd/idp serve`):
//
//	go run ./examples/native            # opens the browser, prints the address too
//	go run ./examples/native -no-browser -refresh
//
// Flags, each also read from the environment variable in brackets:
//
//	-issuer      the provider (APP_ISSUER; default http://localhost:8080)
//	-client-id   (APP_CLIENT_ID; default mobile-app)
//	-no-browser  only print the address to open
//	-refresh     refresh the tokens once after signing in
//	-port        the loopback port (default 0: a free one)
//	-timeout     how long to wait for the browser (default 5m)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/communityidp/idp/examples/native/flow"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "native:", err)
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
	fs := flag.NewFlagSet("native", flag.ContinueOnError)
	issuer := fs.String("issuer", env("APP_ISSUER", "http://localhost:8080"), "the provider's issuer URL (APP_ISSUER)")
	clientID := fs.String("client-id", env("APP_CLIENT_ID", "mobile-app"), "the app's client id, a public client (APP_CLIENT_ID)")
	noBrowser := fs.Bool("no-browser", false, "only print the address to open in a browser")
	refresh := fs.Bool("refresh", false, "refresh the tokens once after signing in")
	port := fs.Int("port", 0, "the loopback port for the redirect (0: a free one)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the browser to come back")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err := flow.Run(ctx, flow.Options{Issuer: *issuer, ClientID: *clientID, NoBrowser: *noBrowser,
		Refresh: *refresh, Port: *port, Timeout: *timeout, Out: os.Stdout})
	return err
}
