package config

import (
	"net"
	"net/url"
)

// DevelopmentClients are the example relying parties under examples/ (the
// website examples/site, a confidential client, and examples/native, a
// stand-in for the mobile app, a public client), which the development
// provider registers: a fresh clone runs `idp serve` and then the examples
// without writing a configuration file. examples/idp.yaml writes the same
// clients out (a test keeps the two equal). Their redirect URIs are on
// this machine only, and Load registers them only when no file is given,
// the issuer is http on this machine and the server listens on this
// machine only: a provider others can reach (an https issuer, or a
// container listening on every interface) never has clients nobody
// registered, with a secret anybody can read.
func DevelopmentClients() []Client {
	return []Client{
		{
			ID: "community-site", Name: "Community Site", Type: ClientConfidential,
			// The hash of example-only-community-site-secret-2a8f, the
			// secret `go run ./examples/site -client-secret ...` is given.
			SecretHash:             "$argon2id$v=19$m=19456,t=2,p=1$DDea5XRa9x2kpdxI49/mIw$HIzbVOr8YroLY7D/RMYQRasPQeHEMlM4sO8E9yq13s4",
			RedirectURIs:           []string{"http://localhost:3000/oidc/callback"},
			PostLogoutRedirectURIs: []string{"http://localhost:3000/"},
			// The example site ends its own session when this one ends.
			BackchannelLogoutURI:             "http://localhost:3000/oidc/backchannel-logout",
			BackchannelLogoutSessionRequired: true,
		},
		{
			ID: "mobile-app", Name: "Community App", Type: ClientPublic,
			RedirectURIs: []string{"http://127.0.0.1/callback"},
		},
	}
}

// loopbackListen reports whether the server answers on this machine only:
// the examples' clients, whose secret is published, are registered only
// then.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	return err == nil && host != "" && isLoopbackHost(host)
}

// developmentIssuer reports whether issuer is an http URL on this machine,
// the development provider's.
func developmentIssuer(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && u.Scheme == "http" && isLoopbackHost(u.Hostname())
}
