package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// enqueue inserts outbox messages within a transaction.
func enqueue(ctx context.Context, db dbtx, msgs []*store.OutboxMessage) error {
	for _, m := range msgs {
		vals := codec.OutboxValues(m)
		if _, err := db.Exec(ctx, `INSERT INTO outbox (`+codec.OutboxColumns+`) VALUES (`+params(len(vals))+`)`,
			vals...); err != nil {
			return fmt.Errorf("enqueue %s to %s: %w", m.Topic, m.ID, mapErr(err))
		}
	}
	return nil
}

// Enqueue inserts messages in one transaction.
func (s *Store) Enqueue(ctx context.Context, msgs ...*store.OutboxMessage) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return enqueue(ctx, tx, msgs) })
}

// ClaimOutbox claims due messages; SKIP LOCKED keeps replicas claiming at
// the same moment from taking the same rows (or waiting for each other).
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int, kinds ...string) ([]store.OutboxMessage, error) {
	out, err := queryAll(ctx, s.pool, codec.ScanOutbox, `UPDATE outbox SET claimed_until = $1
		WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $2
			AND (claimed_until IS NULL OR claimed_until <= $2) AND (cardinality($4::text[]) = 0 OR kind = ANY($4))
			ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+codec.OutboxColumns, now.Add(lease).Unix(), now.Unix(), limit, append([]string{}, kinds...))
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", mapErr(err))
	}
	store.SortOutbox(out) // RETURNING has no order
	return out, nil
}

// OutboxSent marks a message sent and drops its payload.
func (s *Store) OutboxSent(ctx context.Context, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET sent_at = $1, payload = NULL, claimed_until = NULL, last_error = ''
		WHERE id = $2`, now.Unix(), id)
	if err != nil {
		return fmt.Errorf("outbox %s sent: %w", id, mapErr(err))
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("outbox %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// OutboxFailed records a failed attempt.
func (s *Store) OutboxFailed(ctx context.Context, id, lastError string, next time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2,
		claimed_until = NULL WHERE id = $3`, store.ClipUTF8(lastError, 1000), codec.Unix(next), id)
	if err != nil {
		return fmt.Errorf("outbox %s failed: %w", id, mapErr(err))
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("outbox %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ListOutbox returns unsent messages that failed, newest first.
func (s *Store) ListOutbox(ctx context.Context, limit int) ([]store.OutboxMessage, error) {
	out, err := queryAll(ctx, s.pool, codec.ScanOutbox, `SELECT `+codec.OutboxColumns+` FROM outbox
		WHERE sent_at IS NULL AND attempts > 0 ORDER BY created_at DESC, id COLLATE "C" LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", mapErr(err))
	}
	return out, nil
}
