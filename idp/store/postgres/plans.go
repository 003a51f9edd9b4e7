package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/communityidp/idp/idp/store"
)

var _ store.Explainer = (*Store)(nil)

// tracer hears every statement the pool runs (Store.TraceQueries).
type tracer struct{ fn atomic.Pointer[func(string)] }

// hear tells the trace hook about q.
func (t *tracer) hear(q string) {
	if fn := t.fn.Load(); fn != nil && *fn != nil {
		(*fn)(q)
	}
}

func (t *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	t.hear(data.SQL)
	return ctx
}

func (t *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (t *tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (t *tracer) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	t.hear(data.SQL)
}

func (t *tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceQueries calls fn with every statement the store runs from now on.
func (s *Store) TraceQueries(fn func(query string)) { s.tracer.fn.Store(&fn) }

var paramRef = regexp.MustCompile(`\$(\d+)`)

// Explain returns PostgreSQL's generic plan for query (the one for any
// arguments), with sequential scans priced out: a "Seq Scan" left in it
// means no index can serve the statement, whatever the table's size.
func (s *Store) Explain(ctx context.Context, query string) (store.Plan, error) {
	n := 0
	for _, m := range paramRef.FindAllStringSubmatch(query, -1) {
		k, _ := strconv.Atoi(m[1])
		n = max(n, k)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.Plan{}, fmt.Errorf("explain: %w", err)
	}
	// PREPARE outlives the transaction: the statement is dropped before
	// the connection goes back to the pool.
	defer func() {
		_ = tx.Rollback(ctx)
		_, _ = s.pool.Exec(ctx, "DEALLOCATE ALL", pgx.QueryExecModeSimpleProtocol)
	}()
	for _, set := range []string{"SET LOCAL enable_seqscan = off", "SET LOCAL plan_cache_mode = force_generic_plan",
		"PREPARE idp_explain AS " + query} {
		if _, err := tx.Exec(ctx, set); err != nil {
			return store.Plan{}, fmt.Errorf("explain: %w", err)
		}
	}
	args := strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ")
	rows, err := tx.Query(ctx, "EXPLAIN EXECUTE idp_explain("+args+")", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return store.Plan{}, fmt.Errorf("explain: %w", err)
	}
	var p store.Plan
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return store.Plan{}, fmt.Errorf("explain: %w", err)
		}
		p.Text += line + "\n"
		if _, rest, ok := strings.Cut(line, "Seq Scan on "); ok {
			t, _, _ := strings.Cut(rest, " ")
			if !slices.Contains(p.Scans, t) {
				p.Scans = append(p.Scans, t)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return store.Plan{}, fmt.Errorf("explain: %w", err)
	}
	if p.Text == "" {
		return store.Plan{}, errors.New("explain: no plan")
	}
	return p, nil
}
