// Package store defines what the provider persists: the domain types
// (users, passkeys, auth requests, tokens, sessions, signing keys,
// generated secrets, the audit log, recovery links) and one small
// interface per aggregate. The backends, sqlite and postgres, implement
// Store and map their driver errors to ErrNotFound, ErrConflict and
// ErrUnavailable; they share one encoding of values (internal/codec), so
// a dump (Porter) moves between them unchanged. storetest holds the
// conformance suite every backend runs, and pgtest gives tests a
// throw-away PostgreSQL database.
//
// Nothing here knows HTTP, OIDC or the UI. Times are passed in by callers
// so tests control the clock; backends store them as unix seconds.
package store
