package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
	"github.com/communityidp/idp/migrations"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// readers is the size of the read pool. Reads are short; a few connections
// cover a small provider on a small machine.
const readers = 8

// foldFunc is the SQL function that lower-cases text the way Go does
// (strings.ToLower, all of Unicode); SQLite's lower() folds ASCII only.
// SearchUsers compares names with it.
const foldFunc = "idp_fold"

func init() {
	// Registered on the driver, so every connection Open makes has it.
	sqlite.MustRegisterDeterministicScalarFunction(foldFunc, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case nil:
			return nil, nil
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		default:
			return nil, fmt.Errorf("%s: not text: %T", foldFunc, v)
		}
	})
}

// Store is a store.Store on one SQLite file.
type Store struct {
	writer *db // one connection: every write and every read-then-write
	reader *db // a query_only pool for plain reads
	// commits runs the write transactions, several callers' at a time.
	commits *committer
	// checkpoints copies the log into the database file after commits.
	checkpoints *checkpointer
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path. The parent
// directory must exist: a typo in a configured path should fail loudly, not
// create a fresh empty database somewhere. Open does not migrate; call
// Migrate.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite database: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}
	dir := filepath.Dir(abs)
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open sqlite database %q: directory %q does not exist", path, dir)
		}
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open sqlite database %q: %q is not a directory", path, dir)
	}
	// A new database is created 0600 (it holds password hashes and sealed
	// keys); SQLite gives its -wal and -shm files the same mode.
	if f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}

	warnJournalSpill()
	w, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)",
			"wal_autocheckpoint(" + strconv.Itoa(writerCheckpointPages) + ")"},
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}
	holdOne(w)

	// The writer connects first: it creates the file and switches it to
	// WAL, which the readers then inherit.
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("open sqlite database %q: journal mode is %q, want wal (is the file on a network file system?)", path, mode)
	}

	r, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {"busy_timeout(10000)", "foreign_keys(1)", "query_only(1)"},
	}))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}
	ck, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {"busy_timeout(10000)", "synchronous(NORMAL)"},
	}))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite database %q: %w", path, err)
	}
	holdOne(ck)
	checkpoints := newCheckpointer(ck)
	wdb := newDB(w)
	return &Store{writer: wdb, reader: newDB(r), commits: newCommitter(wdb, checkpoints.committed), checkpoints: checkpoints}, nil
}

// holdOne makes p a pool of exactly one connection, kept open for the
// life of the store.
func holdOne(p *sql.DB) {
	p.SetMaxOpenConns(1)
	p.SetMaxIdleConns(1)
	p.SetConnMaxIdleTime(0)
	p.SetConnMaxLifetime(0)
}

// dsn builds a file: URI so that paths containing '?', '#' or '%' survive.
func dsn(abs string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// Ping reports whether both pools answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite writer: %w", err)
	}
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite readers: %w", err)
	}
	return nil
}

// Close stops the committer and the checkpointer and closes the pools.
func (s *Store) Close() error {
	s.commits.close()
	return errors.Join(s.checkpoints.close(), s.reader.Close(), s.writer.Close())
}

// Migrate applies the migrations this binary has and the database lacks,
// each in its own transaction. It is safe to run again and from several
// processes at once: BEGIN IMMEDIATE serializes them and each migration is
// re-checked inside its transaction.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations.For("sqlite")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var cur int
	if err := s.writer.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].Version
	}
	if cur > latest {
		return fmt.Errorf("migrate: database schema version %d is newer than this binary knows (%d); run a newer binary", cur, latest)
	}
	for _, m := range ms {
		err := s.inTx(ctx, func(tx *txn) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration, 0 for an empty
// database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := s.reader.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// inTx runs fn in a writer transaction (BEGIN IMMEDIATE) and commits it,
// or undoes fn's writes when fn fails. The transaction may hold other
// callers' writes too (see committer). fn must not call the Store: the
// writer has one connection and fn holds it.
func (s *Store) inTx(ctx context.Context, fn func(*txn) error) error {
	return s.commits.write(ctx, fn)
}

// mapErr turns driver errors into the store's sentinels; other errors pass
// through unchanged for the caller to wrap.
func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &store.ConflictError{Field: conflictField(se.Error())}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// The row referenced (a session's user) does not exist.
			return fmt.Errorf("referenced row %w: %w", store.ErrNotFound, err)
		}
	}
	return err
}

// conflictField extracts the column from SQLite's message
// "UNIQUE constraint failed: users.email"; for several columns it returns
// the first.
func conflictField(msg string) string {
	const marker = "constraint failed: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return "unknown"
	}
	col := msg[i+len(marker):]
	col, _, _ = strings.Cut(col, ",")
	col, _, _ = strings.Cut(col, " ")
	if j := strings.LastIndex(col, "."); j >= 0 {
		col = col[j+1:]
	}
	if col == "" {
		return "unknown"
	}
	return col
}

// affected returns how many rows a statement changed.
func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, scan func(codec.Scanner) (*T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// execer is the store's writer or a transaction, for inserts both run.
type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}
