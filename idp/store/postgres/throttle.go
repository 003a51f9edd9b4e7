package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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
