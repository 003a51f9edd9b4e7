package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// RecordFailure inserts one row per key in one short transaction.
func (s *Store) RecordFailure(ctx context.Context, keys []string, at time.Time) error {
	err := s.inTx(ctx, func(tx *txn) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO throttle_failures (key, at) VALUES (?, ?)`, k, at.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record failure: %w", err)
	}
	return nil
}

// Failures reads from the pool of readers: counting never waits on the
// writer.
func (s *Store) Failures(ctx context.Context, key string, since time.Time) (int, time.Time, error) {
	var n int
	var last sql.NullInt64
	err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*), MAX(at) FROM throttle_failures WHERE key = ? AND at >= ?`,
		key, since.UnixMilli()).Scan(&n, &last)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count failures of %q: %w", key, mapErr(err))
	}
	if !last.Valid {
		return n, time.Time{}, nil
	}
	return n, time.UnixMilli(last.Int64), nil
}

// ClearFailures deletes key's rows.
func (s *Store) ClearFailures(ctx context.Context, key string) error {
	if _, err := s.exec(ctx, `DELETE FROM throttle_failures WHERE key = ?`, key); err != nil {
		return fmt.Errorf("clear failures of %q: %w", key, mapErr(err))
	}
	return nil
}

// ReserveAttempt counts and reserves in one write transaction: SQLite's
// single writer is the lock every key shares.
func (s *Store) ReserveAttempt(ctx context.Context, keys []store.ThrottleQuery, at time.Time, allow func([]store.ThrottleCount) bool) (string, bool, error) {
	ticket := codec.Ticket()
	ok := false
	err := s.inTx(ctx, func(tx *txn) error {
		counts := make([]store.ThrottleCount, len(keys))
		for i, k := range keys {
			var last sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(at >= ?), 0), MAX(at) FROM throttle_failures
				WHERE key = ? AND at >= ?`, k.WindowSince.UnixMilli(), k.Key, k.HourSince.UnixMilli()).
				Scan(&counts[i].Hourly, &counts[i].Recent, &last)
			if err != nil {
				return err
			}
			if last.Valid {
				counts[i].Last = time.UnixMilli(last.Int64).UTC()
			}
		}
		if ok = allow(counts); !ok {
			return nil
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO throttle_failures (key, at, ticket) VALUES (?, ?, ?)`,
				k.Key, at.UnixMilli(), ticket); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("reserve attempt: %w", mapErr(err))
	}
	if !ok {
		return "", false, nil
	}
	return ticket, true, nil
}

// ReleaseAttempt deletes a reservation's rows.
func (s *Store) ReleaseAttempt(ctx context.Context, ticket string) error {
	if _, err := s.exec(ctx, `DELETE FROM throttle_failures WHERE ticket = ?`, ticket); err != nil {
		return fmt.Errorf("release attempt: %w", mapErr(err))
	}
	return nil
}
