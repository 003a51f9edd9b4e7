package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// RecordFailure inserts one row per key in one batch.
func (s *Store) RecordFailure(ctx context.Context, keys []string, at time.Time) error {
	batch := &pgx.Batch{}
	for _, k := range keys {
		batch.Queue(`INSERT INTO throttle_failures (key, at) VALUES ($1, $2)`, k, at.UnixMilli())
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("record failure: %w", mapErr(err))
	}
	return nil
}

// Failures counts key's failures at or after since.
func (s *Store) Failures(ctx context.Context, key string, since time.Time) (int, time.Time, error) {
	var n int
	var last *int64
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*), MAX(at) FROM throttle_failures WHERE key = $1 AND at >= $2`,
		key, since.UnixMilli()).Scan(&n, &last)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count failures of %q: %w", key, mapErr(err))
	}
	if last == nil {
		return n, time.Time{}, nil
	}
	return n, time.UnixMilli(*last), nil
}

// ClearFailures deletes key's rows.
func (s *Store) ClearFailures(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM throttle_failures WHERE key = $1`, key); err != nil {
		return fmt.Errorf("clear failures of %q: %w", key, mapErr(err))
	}
	return nil
}

// ReserveAttempt takes a transaction-scoped advisory lock per key (in key
// order, so two reservations never wait on each other in a circle), then
// counts and reserves: every replica serialises on the same locks.
func (s *Store) ReserveAttempt(ctx context.Context, keys []store.ThrottleQuery, at time.Time, allow func([]store.ThrottleCount) bool) (string, bool, error) {
	ticket := codec.Ticket()
	ok := false
	order := make([]string, len(keys))
	for i, k := range keys {
		order[i] = k.Key
	}
	slices.Sort(order)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, k := range slices.Compact(order) {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7261))`, k); err != nil {
				return err
			}
		}
		counts := make([]store.ThrottleCount, len(keys))
		for i, k := range keys {
			var last *int64
			err := tx.QueryRow(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE at >= $1), MAX(at) FROM throttle_failures
				WHERE key = $2 AND at >= $3`, k.WindowSince.UnixMilli(), k.Key, k.HourSince.UnixMilli()).
				Scan(&counts[i].Hourly, &counts[i].Recent, &last)
			if err != nil {
				return err
			}
			if last != nil {
				counts[i].Last = time.UnixMilli(*last).UTC()
			}
		}
		if ok = allow(counts); !ok {
			return nil
		}
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `INSERT INTO throttle_failures (key, at, ticket) VALUES ($1, $2, $3)`,
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
	if _, err := s.pool.Exec(ctx, `DELETE FROM throttle_failures WHERE ticket = $1`, ticket); err != nil {
		return fmt.Errorf("release attempt: %w", mapErr(err))
	}
	return nil
}
