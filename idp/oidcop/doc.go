// Package oidcop assembles the OpenID provider from zitadel/oidc's op
// package: Storage adapts op.Storage to our store, clients adapt the
// configured relying parties, and Provider adds the policy op leaves to
// us: PKCE S256 only and required for public clients, prompt=none answered
// from the browser session, iss on every authorization response (RFC 9207),
// a discovery document that advertises only what is supported, and RFC 6750
// errors at userinfo. It knows nothing of gin or the UI: the login pages
// receive CallbackURL and RedirectError as plain functions.
package oidcop
