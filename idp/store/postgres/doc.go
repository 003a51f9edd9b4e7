// Package postgres implements store.Store on PostgreSQL, through a pgx/v5
// connection pool (no database/sql). It mirrors package sqlite statement
// for statement; what differs is how concurrent writers are kept apart.
//
// Concurrency. Transactions run at READ COMMITTED. Every single-use or
// compare-and-swap step is one conditional statement or a row lock, so of
// several replicas racing exactly one wins and the others see ErrConflict
// (or ErrNotFound) rather than a serialization failure:
//
//   - code redemption and refresh rotation are UPDATE ... WHERE consumed_at
//     (used_at) IS NULL: the second writer waits for the first, re-checks
//     the condition and changes nothing;
//   - ConsumeCeremony is DELETE ... RETURNING, ConsumeRecoveryLink
//     UPDATE ... WHERE used_at IS NULL ... RETURNING;
//   - Secret is INSERT ... ON CONFLICT DO NOTHING, then a SELECT that sees
//     whichever value committed first;
//   - RotateSigningKey locks the active key (SELECT ... FOR UPDATE) before
//     comparing it; when there is none, the partial unique index
//     signing_keys_active_key turns a second insert into a conflict;
//   - UpdateUser, CompleteAuthRequest and SaveAuthCode lock the row they
//     read (FOR NO KEY UPDATE / FOR UPDATE), so read-modify-write loses
//     nothing; CreateFirstAdmin and Import lock the tables whose emptiness
//     they check.
//
// Encoding. The schema (migrations/postgres) mirrors the SQLite one column
// for column, and both backends encode values with package codec: times
// are BIGINT unix seconds (the zero time is NULL) and come back in UTC,
// lists are JSON arrays and audit details JSON objects in TEXT (empty ones
// come back as nil), empty optional strings and byte slices are NULL. A
// dump therefore moves between the backends unchanged. Orderings on text
// use COLLATE "C", byte order like SQLite, whatever the database's locale.
// SearchUsers folds names with lower(), which follows the database's
// LC_CTYPE: all of Unicode under a UTF-8 locale, ASCII only under "C".
// Audit event IDs come from an identity column, never reused.
//
// Errors. unique_violation becomes *store.ConflictError naming the column
// (taken from the constraint name, <table>_<column>_key, the same names as
// in SQLite); no rows and foreign keys pointing at nothing become
// store.ErrNotFound; everything else is wrapped with the operation.
//
// Schema. Migrate applies migrations.For("postgres") in version order, each
// in its own transaction that first takes a transaction-level advisory
// lock, so replicas starting at once apply each migration exactly once. A
// database with a newer version than the binary knows is refused.
package postgres
