package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// AppendAudit inserts e and sets e.ID from the identity column, which
// never reuses a value.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	if e.Kind == "" || e.At.IsZero() {
		return errors.New("append audit event: kind and time are required")
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO audit_events (at, kind, actor_id, user_id, client_id, method,
		result, code, device, ip, user_agent, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		RETURNING id`,
		e.At.Unix(), e.Kind, e.ActorID, e.UserID, e.ClientID, e.Method, e.Result, e.Code, e.Device, e.IP,
		e.UserAgent, codec.Map(e.Details)).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("append %s audit event: %w", e.Kind, mapErr(err))
	}
	return nil
}

// conds collects the conditions of a WHERE clause and their arguments,
// numbering the placeholders.
type conds struct {
	where []string
	args  []any
}

// add appends the condition cond, where each "?" stands for the next of
// args.
func (c *conds) add(cond string, args ...any) {
	for _, a := range args {
		c.args = append(c.args, a)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(c.args)), 1)
	}
	c.where = append(c.where, cond)
}

// clause is " WHERE ..." or "".
func (c *conds) clause() string {
	if len(c.where) == 0 {
		return ""
	}
	return ` WHERE ` + strings.Join(c.where, ` AND `)
}

// ListAudit returns the events f selects, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	var c conds
	switch {
	case len(f.Kinds) == 1:
		// Equality, not ANY: PostgreSQL reads the (kind, id) index in id
		// order for it and stops at the page, where with ANY it would
		// sort every event of the kind.
		c.add(`kind = ?`, f.Kinds[0])
	case len(f.Kinds) > 1:
		c.add(`kind = ANY(?)`, f.Kinds)
	}
	if f.UserID != "" {
		c.add(`(user_id = ? OR actor_id = ?)`, f.UserID, f.UserID)
	}
	if !f.Since.IsZero() {
		c.add(`at >= ?`, f.Since.Unix())
	}
	if !f.Until.IsZero() {
		c.add(`at < ?`, f.Until.Unix())
	}
	if f.Before > 0 {
		c.add(`id < ?`, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultAuditLimit
	}
	args := append(c.args, min(limit, store.MaxAuditLimit))
	events, err := queryAll(ctx, s.pool, codec.ScanAuditEvent, `SELECT `+codec.AuditColumns+` FROM audit_events`+c.clause()+
		` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", mapErr(err))
	}
	return events, nil
}

// CountAudit counts events at or after since of the given kinds, grouped
// and ordered (in byte order, as SQLite) by kind, method, result, code and
// device: whole hours from the hourly counts, the part of an hour before
// them event by event.
func (s *Store) CountAudit(ctx context.Context, since time.Time, kinds []string) ([]store.AuditCount, error) {
	kindIn := ""
	args := []any{codec.HourFrom(since), since.Unix()}
	if len(kinds) > 0 {
		kindIn = ` AND kind = ANY($3)`
		args = append(args, kinds)
	}
	counts, err := queryAll(ctx, s.pool, codec.ScanAuditCount, `SELECT kind, method, result, code, device, SUM(n)::bigint FROM (
		SELECT kind, method, result, code, device, n FROM audit_hourly WHERE hour >= $1`+kindIn+`
		UNION ALL
		SELECT kind, method, result, code, device, 1 FROM audit_events WHERE at >= $2 AND at < $1`+kindIn+`) c
		GROUP BY kind, method, result, code, device
		ORDER BY kind COLLATE "C", method COLLATE "C", result COLLATE "C", code COLLATE "C", device COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("count audit events: %w", mapErr(err))
	}
	return counts, nil
}

// PruneAudit deletes events before the time in one statement (it blocks
// no other writer) and returns how many.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit_events WHERE at < $1`, before.Unix())
	if err != nil {
		return 0, fmt.Errorf("prune audit events: %w", mapErr(err))
	}
	cut := before.Unix() - before.Unix()%3600
	if err := s.inTx(ctx, func(tx pgx.Tx) error { return recountCutHour(ctx, tx, cut) }); err != nil {
		return tag.RowsAffected(), fmt.Errorf("prune audit counts: %w", mapErr(err))
	}
	return tag.RowsAffected(), nil
}

// recountCutHour drops the hourly counts of the hours now wholly pruned
// and counts the hour the cut falls in again from the events it kept.
// Every replica prunes each hour: one recount at a time, so that the
// second one's DELETE sees (and drops) the first one's count instead of
// adding its own beside it (the hour's counts are a row per change since
// migration 0017).
func recountCutHour(ctx context.Context, tx pgx.Tx, cut int64) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pruneLockID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM audit_hourly WHERE hour <= $1`, cut); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_hourly (hour, kind, method, result, code, device, n)
		SELECT $1::bigint, kind, method, result, code, device, COUNT(*) FROM audit_events WHERE at >= $1 AND at < $1 + 3600
		GROUP BY kind, method, result, code, device`, cut)
	return err
}

// CountAuditByDay counts events by UTC day and kind, method and code:
// whole hours from the hourly counts, the part of an hour before them
// event by event.
func (s *Store) CountAuditByDay(ctx context.Context, since time.Time, kinds []string) ([]store.DayCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT day, kind, method, code, SUM(n)::bigint FROM (
		SELECT hour - hour % 86400 AS day, kind, method, code, n FROM audit_hourly WHERE hour >= $1 AND kind = ANY($3)
		UNION ALL
		SELECT at - at % 86400, kind, method, code, 1 FROM audit_events WHERE at >= $2 AND at < $1 AND kind = ANY($3)) c
		GROUP BY day, kind, method, code
		ORDER BY day, kind COLLATE "C", method COLLATE "C", code COLLATE "C"`, codec.HourFrom(since), since.Unix(), kinds)
	if err != nil {
		return nil, fmt.Errorf("count audit events by day: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.DayCount
	for rows.Next() {
		var c store.DayCount
		var day int64
		if err := rows.Scan(&day, &c.Kind, &c.Method, &c.Code, &c.N); err != nil {
			return nil, fmt.Errorf("count audit events by day: %w", err)
		}
		c.Day = time.Unix(day, 0).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// PasskeyAdoption reads the weekly adoption counts (migration 0016),
// kept as members sign in, a row per change (0017): week 0 is the week
// (Monday to Sunday, UTC) that holds since.
func (s *Store) PasskeyAdoption(ctx context.Context, since time.Time, weeks int) ([]store.WeekAdoption, error) {
	first := codec.Week(since)
	out, err := queryAll(ctx, s.pool, codec.ScanWeekAdoption, `SELECT week - $1, SUM(active)::bigint, SUM(with_passkey)::bigint
		FROM weekly_adoption WHERE week >= $1 AND week < $1 + $2 GROUP BY week HAVING SUM(active) > 0 ORDER BY week`, first, weeks)
	if err != nil {
		return nil, fmt.Errorf("passkey adoption: %w", mapErr(err))
	}
	return out, nil
}
