package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// maxCached bounds the statement cache: the store's queries are constants,
// so this only guards against a caller that builds query text.
const maxCached = 256

// db is a pool whose queries run as prepared statements: each query text is
// prepared once per connection and kept, instead of being parsed and
// planned again on every call. Parsing was a sixth of a sign-in's CPU, and
// on the writer it is time that every other write waits for.
type db struct {
	*sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
	// trace, when set, hears every statement's text (Store.TraceQueries).
	trace atomic.Pointer[func(string)]
}

// traced tells the trace hook about q.
func (d *db) traced(q string) {
	if fn := d.trace.Load(); fn != nil && *fn != nil {
		(*fn)(q)
	}
}

func newDB(d *sql.DB) *db { return &db{DB: d, stmts: map[string]*sql.Stmt{}} }

// cached returns the prepared statement for q, or nil before its first
// use outside a transaction.
func (d *db) cached(q string) *sql.Stmt {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.stmts[q]
}

// stmt returns the cached statement for q, preparing it on first use. It
// returns nil for text that should not be cached (several statements, as
// migrations are) or when the cache is full; callers then run q directly.
// It takes a connection from the pool, so it must not be called while a
// transaction holds the writer's only one.
func (d *db) stmt(ctx context.Context, q string) *sql.Stmt {
	d.traced(q)
	if st := d.cached(q); st != nil {
		return st
	}
	if strings.Contains(strings.TrimRight(strings.TrimSpace(q), ";"), ";") {
		return nil
	}
	// Prepare without the lock: preparing waits for a pool connection, and
	// a transaction holding one may be asking the cache meanwhile.
	st, err := d.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil // the direct call reports the same error
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev := d.stmts[q]; prev != nil {
		st.Close()
		return prev
	}
	if len(d.stmts) >= maxCached {
		st.Close()
		return nil
	}
	d.stmts[q] = st
	return st
}

func (d *db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := d.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, q, args...)
}

func (d *db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := d.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, q, args...)
}

func (d *db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := d.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, q, args...)
}

func (d *db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txn, error) {
	t, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &txn{Tx: t, db: d}, nil
}

// Close closes the cached statements, then the pool.
func (d *db) Close() error {
	d.mu.Lock()
	for q, st := range d.stmts {
		st.Close()
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return d.DB.Close()
}

// txn is a transaction that uses its pool's prepared statements: database/sql
// reuses a statement already prepared on the transaction's connection. A
// query not prepared yet runs directly and is prepared when the
// transaction ends: preparing takes a pool connection, and the writer's
// only one is the transaction's.
type txn struct {
	*sql.Tx
	db     *db
	missed []string
	// detached: the transaction is a batch of several callers' writes,
	// whose statements ignore their caller's cancellation (see committer).
	detached bool
}

// stmtCtx is the context a statement runs with.
func (t *txn) stmtCtx(ctx context.Context) context.Context {
	if t.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (t *txn) stmt(q string) *sql.Stmt {
	t.db.traced(q)
	st := t.db.cached(q)
	if st == nil && !slices.Contains(t.missed, q) {
		// Once each: an import runs the same few queries for every record.
		t.missed = append(t.missed, q)
	}
	return st
}

func (t *txn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = t.stmtCtx(ctx)
	if st := t.stmt(q); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

func (t *txn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = t.stmtCtx(ctx)
	if st := t.stmt(q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

func (t *txn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = t.stmtCtx(ctx)
	if st := t.stmt(q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

func (t *txn) Commit() error {
	err := t.Tx.Commit()
	t.prepareMissed()
	return err
}

func (t *txn) Rollback() error {
	err := t.Tx.Rollback()
	t.prepareMissed()
	return err
}

func (t *txn) prepareMissed() {
	for _, q := range t.missed {
		t.db.stmt(context.Background(), q)
	}
	t.missed = nil
}
