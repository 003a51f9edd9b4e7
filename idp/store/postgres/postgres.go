package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// defaultMaxConns is the pool size when the DSN has no pool_max_conns:
	// enough for a small provider, well under PostgreSQL's default of 100
	// connections shared by every replica.
	defaultMaxConns = 10
	// defaultConnectTimeout bounds a connection attempt when the DSN has
	// no connect_timeout, so a server that does not answer fails Open
	// instead of hanging it.
	defaultConnectTimeout = 10 * time.Second
	// migrateLockID is the advisory lock key Migrate holds ("idp migr").
	migrateLockID int64 = 0x6964702d6d696772
	// pruneLockID is the advisory lock key of the audit counts' recount
	// after a prune ("idp prun").
	pruneLockID int64 = 0x6964702d7072756e
)

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	tracer *tracer
}

var _ store.Store = (*Store)(nil)

// Open connects to the database dsn names (a URL or key=value string, as
// libpq takes) and checks that it answers. The DSN may set pool_max_conns;
// the default is 10. Open does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := poolConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres database: %w", err)
	}
	t := &tracer{}
	cfg.ConnConfig.Tracer = t
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres database %s: %w", describe(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres database %s: cannot connect: %w", describe(cfg), err)
	}
	return &Store{pool: pool, tracer: t}, nil
}

// poolConfig parses dsn and fills in the defaults it leaves open.
func poolConfig(dsn string) (*pgxpool.Config, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("empty DSN")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err // pgconn's message already leaves the password out
	}
	// ParseConfig consumes pool_max_conns and otherwise sizes the pool by
	// the CPU count, which says little about what the server allows.
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	return cfg, nil
}

// describe names the database for error messages, without the password.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%q (%s@%s:%d)", c.Database, c.User, c.Host, c.Port)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// unavailable reports whether err means the server cannot be reached or
// is going away (restart, failover, network), as opposed to a bad query.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exceptions; 57P01-57P03: shutting down or
		// starting up.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.Timeout(err) || strings.Contains(err.Error(), "conn closed")
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Migrate applies the migrations this binary has and the database lacks,
// each in its own transaction. It is safe to run again and from several
// replicas at once: every transaction first takes the same advisory lock,
// and each migration is re-checked under it.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations.For("postgres")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].Version
	}
	// Creating the table under the lock too: concurrent CREATE TABLE IF NOT
	// EXISTS can still fail on PostgreSQL's catalog.
	err = s.migrateTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at BIGINT  NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if cur > latest {
			return fmt.Errorf("database schema version %d is newer than this binary knows (%d); run a newer binary", cur, latest)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		err := s.migrateTx(ctx, func(tx pgx.Tx) error {
			var applied bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
				m.Version).Scan(&applied); err != nil {
				return err
			}
			if applied {
				return nil
			}
			// Without arguments pgx uses the simple protocol, which runs a
			// file of several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// migrateTx runs fn in a transaction holding the migration lock, which
// PostgreSQL releases at commit or rollback, also when the client dies.
func (s *Store) migrateTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockID); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		return fn(tx)
	})
}

// SchemaVersion returns the highest applied migration, 0 for an empty
// database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// dbtx is what the pool and a transaction have in common, so helpers run
// on either.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inTx runs fn in a READ COMMITTED transaction and commits it, or rolls
// back when fn fails.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.inTxOpts(ctx, pgx.TxOptions{}, fn)
}

func (s *Store) inTxOpts(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		// A rollback error adds nothing: the connection is discarded if
		// it failed, and the transaction is gone either way.
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// queryAll runs query and scans every row with scan; no rows is nil.
func queryAll[T any](ctx context.Context, db dbtx, scan func(scanner) (*T, error), query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.AppendRows[T, []T](nil, rows, func(r pgx.CollectableRow) (T, error) {
		v, err := scan(r)
		if err != nil {
			var zero T
			return zero, err
		}
		return *v, nil
	})
}

// SQLSTATE codes mapped to store errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// mapErr turns driver errors into the store's sentinels; other errors pass
// through unchanged for the caller to wrap.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case uniqueViolation:
			return &store.ConflictError{Field: conflictField(pe.TableName, pe.ConstraintName)}
		case foreignKeyViolation:
			// The row referenced (a session's user) does not exist.
			return fmt.Errorf("referenced row %w: %w", store.ErrNotFound, err)
		}
	}
	return err
}

// primaryKeys names the primary key column of tables whose key is not
// "id"; PostgreSQL names those constraints <table>_pkey.
var primaryKeys = map[string]string{
	"setup_tokens":       "token_hash",
	"secrets":            "name",
	"suggestion_snoozes": "user_id",
	"recovery_links":     "token_hash",
	"schema_migrations":  "version",
}

// conflictField returns the column a unique constraint covers, the same
// name SQLite reports: constraints are named <table>_<column>_key.
func conflictField(table, constraint string) string {
	switch {
	case constraint == "signing_keys_active_key":
		// The partial index allowing one active key per algorithm.
		return "algorithm"
	case constraint == table+"_pkey":
		if col, ok := primaryKeys[table]; ok {
			return col
		}
		return "id"
	case strings.HasPrefix(constraint, table+"_") && strings.HasSuffix(constraint, "_key"):
		if col := strings.TrimSuffix(strings.TrimPrefix(constraint, table+"_"), "_key"); col != "" {
			return col
		}
	}
	return "unknown"
}

// oneRow turns "no row changed" into store.ErrNotFound.
func oneRow(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}
