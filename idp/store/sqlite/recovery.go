package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// CreateRecoveryLink inserts l. An unknown member gives store.ErrNotFound
// (a foreign key), a taken token hash a *store.ConflictError.
func (s *Store) CreateRecoveryLink(ctx context.Context, l *store.RecoveryLink, mail ...*store.OutboxMessage) error {
	if len(l.TokenHash) == 0 {
		return fmt.Errorf("create recovery link for user %q: empty token hash", l.UserID)
	}
	vals := codec.RecoveryLinkValues(l)
	err := s.inTx(ctx, func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_links WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
			l.UserID, vals[6]); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_links (`+codec.RecoveryLinkColumns+`) VALUES (`+placeholders(len(vals))+`)`,
			vals...); err != nil {
			return mapErr(err)
		}
		return enqueue(ctx, tx, mail)
	})
	if err != nil {
		return fmt.Errorf("create recovery link for user %q: %w", l.UserID, err)
	}
	return nil
}

// RecoveryLinkByHash returns the link if it is unused and unexpired at
// now, else store.ErrNotFound.
func (s *Store) RecoveryLinkByHash(ctx context.Context, tokenHash []byte, now time.Time) (*store.RecoveryLink, error) {
	if len(tokenHash) == 0 {
		return nil, fmt.Errorf("recovery link: empty token hash: %w", store.ErrNotFound)
	}
	l, err := codec.ScanRecoveryLink(s.reader.QueryRowContext(ctx, `SELECT `+codec.RecoveryLinkColumns+` FROM recovery_links
		WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`, tokenHash, now.Unix()))
	if err != nil {
		// The hash stands for a bearer link: keep it out of logs.
		return nil, fmt.Errorf("recovery link: %w", mapErr(err))
	}
	return l, nil
}

// ConsumeRecoveryLink marks the link used at now and returns it. The check
// and the write are one UPDATE, so of several concurrent callers exactly
// one gets the link; the others, and callers with an unknown, used or
// expired link, get store.ErrNotFound.
func (s *Store) ConsumeRecoveryLink(ctx context.Context, tokenHash []byte, now time.Time) (*store.RecoveryLink, error) {
	if len(tokenHash) == 0 {
		return nil, fmt.Errorf("consume recovery link: empty token hash: %w", store.ErrNotFound)
	}
	var l *store.RecoveryLink
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		l, err = codec.ScanRecoveryLink(tx.QueryRowContext(ctx, `UPDATE recovery_links SET used_at = ?
			WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
			RETURNING `+codec.RecoveryLinkColumns, now.Unix(), tokenHash, now.Unix()))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM recovery_links WHERE user_id = ? AND used_at IS NULL
			AND (purpose = 'verify') = (? = 'verify')`, l.UserID, l.Purpose)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("consume recovery link: unknown, used or expired: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("consume recovery link: %w", mapErr(err))
	}
	return l, nil
}
