package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// enqueue inserts outbox messages within a transaction.
func enqueue(ctx context.Context, tx *txn, msgs []*store.OutboxMessage) error {
	for _, m := range msgs {
		vals := codec.OutboxValues(m)
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (`+codec.OutboxColumns+`) VALUES (`+placeholders(len(vals))+`)`,
			vals...); err != nil {
			return fmt.Errorf("enqueue %s to %s: %w", m.Topic, m.ID, mapErr(err))
		}
	}
	return nil
}

// Enqueue inserts messages in one transaction.
func (s *Store) Enqueue(ctx context.Context, msgs ...*store.OutboxMessage) error {
	return s.inTx(ctx, func(tx *txn) error { return enqueue(ctx, tx, msgs) })
}

// ClaimOutbox claims due messages in one write transaction: SQLite's one
// writer keeps two claimers apart.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int, kinds ...string) ([]store.OutboxMessage, error) {
	var out []store.OutboxMessage
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		out, err = queryAll(ctx, tx, codec.ScanOutbox, `UPDATE outbox SET claimed_until = ?1
			WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ?2
				AND (claimed_until IS NULL OR claimed_until <= ?2)
				AND (json_array_length(?4) = 0 OR kind IN (SELECT value FROM json_each(?4)))
				ORDER BY created_at, id LIMIT ?3)
			RETURNING `+codec.OutboxColumns, now.Add(lease).Unix(), now.Unix(), limit, codec.List(kinds))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", mapErr(err))
	}
	store.SortOutbox(out) // RETURNING has no order
	return out, nil
}

// OutboxSent marks a message sent and drops its payload.
func (s *Store) OutboxSent(ctx context.Context, id string, now time.Time) error {
	res, err := s.exec(ctx, `UPDATE outbox SET sent_at = ?, payload = NULL, claimed_until = NULL, last_error = ''
		WHERE id = ?`, now.Unix(), id)
	if err != nil {
		return fmt.Errorf("outbox %s sent: %w", id, mapErr(err))
	}
	return oneRow(res)
}

// OutboxFailed records a failed attempt.
func (s *Store) OutboxFailed(ctx context.Context, id, lastError string, next time.Time) error {
	res, err := s.exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
		claimed_until = NULL WHERE id = ?`, store.ClipUTF8(lastError, 1000), codec.Unix(next), id)
	if err != nil {
		return fmt.Errorf("outbox %s failed: %w", id, mapErr(err))
	}
	return oneRow(res)
}

// ListOutbox returns unsent messages that failed, newest first.
func (s *Store) ListOutbox(ctx context.Context, limit int) ([]store.OutboxMessage, error) {
	out, err := queryAll(ctx, s.reader, codec.ScanOutbox, `SELECT `+codec.OutboxColumns+` FROM outbox
		WHERE sent_at IS NULL AND attempts > 0 ORDER BY created_at DESC, id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", mapErr(err))
	}
	return out, nil
}
