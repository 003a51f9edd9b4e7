// Package sqlite implements store.Store on a single SQLite file, through
// database/sql and the pure Go driver modernc.org/sqlite (no cgo).
//
// Concurrency. SQLite allows one writer at a time. A store holds three pools:
//
//   - a writer pool of exactly one connection, whose transactions start with
//     BEGIN IMMEDIATE. Writers inside this process queue in database/sql
//     instead of racing for the file lock, and a transaction never upgrades
//     from a read to a write lock, which is what returned "database is
//     locked" at once (without waiting for busy_timeout) under parallel
//     sign-ins;
//   - a reader pool (query_only) for plain reads. WAL mode lets readers run
//     while the writer writes, and they see every committed write;
//   - one connection that copies the log into the database file after
//     commits (checkpoint.go), so that writes do not wait for its syncs.
//
// busy_timeout covers other processes (a second replica, the CLI) holding
// the lock. Every read that decides a write (compare-and-swap, single use)
// runs inside the writer's transaction, never on the reader pool.
//
// Encoding (package codec, shared with package postgres). Times are unix
// seconds (sub-second precision is dropped; the zero time is NULL) and come
// back in UTC. Lists are JSON arrays and audit details JSON objects; empty
// ones come back as nil. Empty optional strings and byte slices (email,
// WebAuthn ID, refresh family) are NULL so they never collide on a UNIQUE
// constraint. SQLite's lower() and LIKE fold ASCII only, so the store
// registers idp_fold (Go's strings.ToLower) for SearchUsers.
//
// Single use. ConsumeCeremony is DELETE ... RETURNING and
// ConsumeRecoveryLink UPDATE ... WHERE used_at IS NULL ... RETURNING: one
// statement on the writer, so exactly one caller gets the row. Audit event
// IDs are AUTOINCREMENT, never reused, so they serve as a paging cursor.
//
// Errors. UNIQUE violations become *store.ConflictError naming the column,
// missing rows and foreign keys pointing at nothing become
// store.ErrNotFound; everything else is wrapped with the operation.
//
// Schema. Migrate applies migrations.For("sqlite") in version order, each
// in its own transaction, and records them in schema_migrations. A database
// with a newer version than the binary knows is refused.
package sqlite
