// Package oidcop assembles the OpenID provider from zitadel/oidc's op
// package.
//
//   - Storage (storage.go) adapts op.Storage to our store; clients
//     (clients.go) adapt the configured relying parties.
//   - server (server.go) is op's LegacyServer with our policy where it
//     differs: client authentication and its throttle, per-client signing
//     algorithms, code replay, RFC 6750 at userinfo, introspection for
//     confidential clients, end_session for the member's browser only, and
//     temporarily_unavailable while the database is down. op's router
//     serves it for the back-channel endpoints (Provider.API); answer.go
//     adds the headers op's error answers cannot carry.
//   - The browser endpoints (authorize.go, logout.go) answer with pages:
//     the authorization endpoint validates with op's exported checks plus
//     ours (PKCE S256 only and required for public clients, prompt=none
//     from the browser session), and every authorization response carries
//     iss (RFC 9207) and honours form_post.
//   - Provider (provider.go) wires them and serves a discovery document
//     that advertises only what is supported.
//
// It knows nothing of gin or the UI: the login pages receive CallbackURL
// and RedirectError as plain functions, and the server gives it the error
// page as one.
package oidcop
