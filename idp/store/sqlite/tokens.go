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

// IssueTokens consumes the code or rotates the refresh token, then inserts
// the new tokens, in one transaction; see store.Issue.
func (s *Store) IssueTokens(ctx context.Context, is store.Issue, now time.Time) error {
	if is.Access == nil {
		return errors.New("issue tokens: no access token")
	}
	err := s.inTx(ctx, func(tx *txn) error {
		if is.ConsumeCode != "" {
			if err := consumeCode(ctx, tx, is.ConsumeCode, is, now); err != nil {
				return err
			}
		}
		if is.RotateFrom != "" {
			if err := markUsed(ctx, tx, is.RotateFrom, is.Reply, now); err != nil {
				return err
			}
		}
		a := is.Access
		if err := insertAccessToken(ctx, tx, a); err != nil {
			return fmt.Errorf("insert access token %q: %w", a.ID, mapErr(err))
		}
		if r := is.Refresh; r != nil {
			if err := insertRefreshToken(ctx, tx, r); err != nil {
				return fmt.Errorf("insert refresh token %q: %w", r.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("issue tokens: %w", err)
	}
	return nil
}

// insertRefreshToken inserts r; a second child of one parent is a
// conflict (the unique index on parent_id).
func insertRefreshToken(ctx context.Context, tx *txn, r *store.RefreshToken) error {
	vals := codec.RefreshTokenValues(r)
	_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (`+codec.RefreshTokenColumns+`)
		VALUES (`+placeholders(len(vals))+`)`, vals...)
	return mapErr(err)
}

// markUsed marks refresh token id used and keeps reply on it. Exactly one
// of several concurrent rotations of the same token succeeds.
func markUsed(ctx context.Context, tx *txn, id string, reply []byte, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ?, reply = ?
		WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL`, now.Unix(), codec.NullBytes(reply), id)
	if err != nil {
		return fmt.Errorf("rotate refresh token %q: %w", id, err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	var exists int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM refresh_tokens WHERE id = ?`, id).Scan(&exists)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("rotate refresh token %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("rotate refresh token %q: %w", id, err)
	}
	return fmt.Errorf("rotate refresh token %q: already used or revoked: %w", id, store.ErrConflict)
}

// AccessTokenByID returns the token, also when expired: callers check
// ExpiresAt.
func (s *Store) AccessTokenByID(ctx context.Context, id string) (*store.AccessToken, error) {
	t, err := codec.ScanAccessToken(s.reader.QueryRowContext(ctx,
		`SELECT `+codec.AccessTokenColumns+` FROM access_tokens WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("access token %q: %w", id, mapErr(err))
	}
	return t, nil
}

// RefreshTokenByHash returns the token, also when used, revoked or
// expired, so callers can detect a replay.
func (s *Store) RefreshTokenByHash(ctx context.Context, tokenHash []byte) (*store.RefreshToken, error) {
	t, err := codec.ScanRefreshToken(s.reader.QueryRowContext(ctx,
		`SELECT `+codec.RefreshTokenColumns+` FROM refresh_tokens WHERE token_hash = ?`, tokenHash))
	if err != nil {
		return nil, fmt.Errorf("refresh token by hash: %w", mapErr(err))
	}
	return t, nil
}

// RefreshTokenByID returns the token, also when used, revoked or expired.
func (s *Store) RefreshTokenByID(ctx context.Context, id string) (*store.RefreshToken, error) {
	t, err := codec.ScanRefreshToken(s.reader.QueryRowContext(ctx,
		`SELECT `+codec.RefreshTokenColumns+` FROM refresh_tokens WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("refresh token %q: %w", id, mapErr(err))
	}
	return t, nil
}

// DeleteAccessToken deletes the token; an unknown id is not an error
// (revocation is idempotent).
func (s *Store) DeleteAccessToken(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, `DELETE FROM access_tokens WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete access token %q: %w", id, err)
	}
	return nil
}

// RevokeRefreshFamily revokes every token of the family (keeping the first
// revocation time) and deletes the access tokens issued with it.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error {
	err := s.inTx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE family_id = ? AND revoked_at IS NULL`, now.Unix(), familyID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE refresh_family = ?`, familyID)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke refresh family %q: %w", familyID, err)
	}
	return nil
}

// RevokeUserTokens revokes every refresh token and deletes every access
// token whose subject is userID.
func (s *Store) RevokeUserTokens(ctx context.Context, userID string, now time.Time) error {
	err := s.inTx(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE subject = ? AND revoked_at IS NULL`, now.Unix(), userID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE subject = ?`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke tokens of user %q: %w", userID, err)
	}
	return nil
}

// UserGrants lists the apps holding a live refresh token of userID.
func (s *Store) UserGrants(ctx context.Context, userID string, now time.Time) ([]store.Grant, error) {
	out, err := queryAll(ctx, s.reader, codec.ScanGrant, `SELECT client_id, MIN(created_at), MAX(created_at), COUNT(DISTINCT family_id)
		FROM refresh_tokens WHERE subject = ? AND revoked_at IS NULL AND used_at IS NULL AND expires_at > ?
		GROUP BY client_id ORDER BY MAX(created_at) DESC, client_id`, userID, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("grants of user %q: %w", userID, err)
	}
	return out, nil
}

// RevokeGrant revokes userID's tokens for clientID, telling it if notify.
func (s *Store) RevokeGrant(ctx context.Context, userID, clientID string, now time.Time, notify bool) (bool, error) {
	var any bool
	err := s.inTx(ctx, func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ?
			WHERE subject = ? AND client_id = ? AND revoked_at IS NULL`, now.Unix(), userID, clientID)
		if err != nil {
			return err
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE subject = ? AND client_id = ?`, userID, clientID)
		if err != nil {
			return err
		}
		m, err := affected(res)
		if err != nil {
			return err
		}
		any = n+m > 0
		if !notify {
			return nil
		}
		return enqueue(ctx, tx, []*store.OutboxMessage{store.GrantLogoutMessage(userID, clientID)})
	})
	if err != nil {
		return false, fmt.Errorf("revoke the grant of %q to %q: %w", userID, clientID, err)
	}
	return any, nil
}

// insertAccessToken inserts a with db (the store, or a transaction).
func insertAccessToken(ctx context.Context, db execer, a *store.AccessToken) error {
	vals := codec.AccessTokenValues(a)
	_, err := db.ExecContext(ctx, `INSERT INTO access_tokens (`+codec.AccessTokenColumns+`) VALUES (`+placeholders(len(vals))+`)`, vals...)
	return err
}
