package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// pruneBatch is how many audit events one PruneAudit transaction deletes,
// so a first prune of a long log does not hold the writer for long: each
// event leaves six indexes, and 1,000 took 81 ms of the writer on a
// ten-million-event log here; 400 stay under the 50 ms a sign-in may
// wait for it.
const pruneBatch = 400

// AppendAudit inserts e and sets e.ID, which AUTOINCREMENT never reuses.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	if e.Kind == "" || e.At.IsZero() {
		return errors.New("append audit event: kind and time are required")
	}
	err := s.inTx(ctx, func(tx *txn) error {
		return tx.QueryRowContext(ctx, `INSERT INTO audit_events (at, kind, actor_id, user_id, client_id, method,
		result, code, device, ip, user_agent, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.At.Unix(), e.Kind, e.ActorID, e.UserID, e.ClientID, e.Method, e.Result, e.Code, e.Device, e.IP,
			e.UserAgent, codec.Map(e.Details)).Scan(&e.ID)
	})
	if err != nil {
		return fmt.Errorf("append %s audit event: %w", e.Kind, mapErr(err))
	}
	return nil
}

// ListAudit returns the events f selects, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	var where []string
	var args []any
	if len(f.Kinds) > 0 {
		where = append(where, `kind IN (`+placeholders(len(f.Kinds))+`)`)
		for _, k := range f.Kinds {
			args = append(args, k)
		}
	}
	if f.UserID != "" {
		where = append(where, `(user_id = ? OR actor_id = ?)`)
		args = append(args, f.UserID, f.UserID)
	}
	if !f.Since.IsZero() {
		where = append(where, `at >= ?`)
		args = append(args, f.Since.Unix())
	}
	if !f.Until.IsZero() {
		where = append(where, `at < ?`)
		args = append(args, f.Until.Unix())
	}
	if f.Before > 0 {
		where = append(where, `id < ?`)
		args = append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultAuditLimit
	}
	args = append(args, min(limit, store.MaxAuditLimit))

	query := `SELECT ` + codec.AuditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	out, err := queryAll(ctx, s.reader, codec.ScanAuditEvent, query+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// CountAudit counts events at or after since of the given kinds, grouped
// and ordered by kind, method, result, code and device: whole hours from
// the hourly counts, the part of an hour before them event by event.
func (s *Store) CountAudit(ctx context.Context, since time.Time, kinds []string) ([]store.AuditCount, error) {
	kindIn, args := countArgs(since, kinds)
	query := `SELECT kind, method, result, code, device, SUM(n) FROM (
		SELECT kind, method, result, code, device, n FROM audit_hourly WHERE hour >= ?1` + kindIn + `
		UNION ALL
		SELECT kind, method, result, code, device, 1 FROM audit_events WHERE at >= ?2 AND at < ?1` + kindIn + `)
		GROUP BY kind, method, result, code, device ORDER BY kind, method, result, code, device`
	out, err := queryAll(ctx, s.reader, codec.ScanAuditCount, query, args...)
	if err != nil {
		return nil, fmt.Errorf("count audit events: %w", err)
	}
	return out, nil
}

// countArgs are the arguments of a count over the hourly counts and the
// events before them: ?1 the first whole hour, ?2 since, the kinds from
// ?3 on; kindIn (empty for all kinds) selects the kinds in both halves.
func countArgs(since time.Time, kinds []string) (kindIn string, args []any) {
	args = []any{codec.HourFrom(since), since.Unix()}
	if len(kinds) == 0 {
		return "", args
	}
	refs := make([]string, len(kinds))
	for i, k := range kinds {
		refs[i] = "?" + strconv.Itoa(i+3)
		args = append(args, k)
	}
	return ` AND kind IN (` + strings.Join(refs, ", ") + `)`, args
}

// PruneAudit deletes events before the time, pruneBatch per transaction,
// and returns how many it deleted. On an error, the batches before it
// stay deleted and are counted.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.exec(ctx, `DELETE FROM audit_events WHERE id IN
			(SELECT id FROM audit_events WHERE at < ? ORDER BY id LIMIT ?)`, before.Unix(), pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune audit events: %w", err)
		}
		n, err := affected(res)
		if err != nil {
			return total, fmt.Errorf("prune audit events: %w", err)
		}
		total += n
		if n < pruneBatch {
			if err := s.pruneHourly(ctx, before); err != nil {
				return total, err
			}
			return total, nil
		}
	}
}

// pruneHourly drops the hourly counts of the hours now wholly pruned and
// counts the hour the cut falls in again from the events it kept.
func (s *Store) pruneHourly(ctx context.Context, before time.Time) error {
	cut := before.Unix() - before.Unix()%3600
	err := s.inTx(ctx, func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_hourly WHERE hour <= ?`, cut); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_hourly (hour, kind, method, result, code, device, n)
			SELECT ?1, kind, method, result, code, device, COUNT(*) FROM audit_events WHERE at >= ?1 AND at < ?1 + 3600
			GROUP BY kind, method, result, code, device`, cut)
		return err
	})
	if err != nil {
		return fmt.Errorf("prune audit counts: %w", err)
	}
	return nil
}

// placeholders is n comma-separated "?".
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// CountAuditByDay counts events by UTC day and kind, method and code:
// whole hours from the hourly counts, the part of an hour before them
// event by event.
func (s *Store) CountAuditByDay(ctx context.Context, since time.Time, kinds []string) ([]store.DayCount, error) {
	if len(kinds) == 0 { // events of no kind: nothing to count
		return nil, nil
	}
	kindIn, args := countArgs(since, kinds)
	rows, err := s.reader.QueryContext(ctx, `SELECT day, kind, method, code, SUM(n) FROM (
		SELECT hour - hour % 86400 AS day, kind, method, code, n FROM audit_hourly WHERE hour >= ?1`+kindIn+`
		UNION ALL
		SELECT at - at % 86400, kind, method, code, 1 FROM audit_events WHERE at >= ?2 AND at < ?1`+kindIn+`)
		GROUP BY day, kind, method, code ORDER BY day, kind, method, code`, args...)
	if err != nil {
		return nil, fmt.Errorf("count audit events by day: %w", err)
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
// kept as members sign in: week 0 is the week (Monday to Sunday, UTC)
// that holds since.
func (s *Store) PasskeyAdoption(ctx context.Context, since time.Time, weeks int) ([]store.WeekAdoption, error) {
	first := codec.Week(since)
	out, err := queryAll(ctx, s.reader, codec.ScanWeekAdoption, `SELECT week - ?1, active, with_passkey FROM weekly_adoption
		WHERE week >= ?1 AND week < ?1 + ?2 AND active > 0 ORDER BY week`, first, weeks)
	if err != nil {
		return nil, fmt.Errorf("passkey adoption: %w", err)
	}
	return out, nil
}
