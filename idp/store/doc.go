// Package store defines what the provider persists: the domain types
// (users, auth requests, tokens, sessions, signing keys, generated secrets)
// and one small interface per aggregate. Backends (sqlite, later postgres)
// implement Store and map their driver errors to ErrNotFound and
// ErrConflict; storetest holds the conformance suite every backend runs.
//
// Nothing here knows HTTP, OIDC or the UI. Times are passed in by callers
// so tests control the clock; backends store them as unix seconds.
package store
