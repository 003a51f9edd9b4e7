package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
	"github.com/jackc/pgx/v5"
)

func insertAccessToken(ctx context.Context, db dbtx, a *store.AccessToken) error {
	vals := codec.AccessTokenValues(a)
	_, err := db.Exec(ctx, `INSERT INTO access_tokens (`+codec.AccessTokenColumns+`) VALUES (`+params(len(vals))+`)`, vals...)
	return mapErr(err)
}

// insertRefreshToken inserts r; a second child of one parent is a
// conflict (the unique index on parent_id).
func insertRefreshToken(ctx context.Context, db dbtx, r *store.RefreshToken) error {
	vals := codec.RefreshTokenValues(r)
	_, err := db.Exec(ctx, `INSERT INTO refresh_tokens (`+codec.RefreshTokenColumns+`)
		VALUES (`+params(len(vals))+`)`, vals...)
	return mapErr(err)
}

// IssueTokens consumes the code or rotates the refresh token, then inserts
// the new tokens, in one transaction; see store.Issue.
func (s *Store) IssueTokens(ctx context.Context, is store.Issue, now time.Time) error {
	if is.Access == nil {
		return errors.New("issue tokens: no access token")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
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
		if err := insertAccessToken(ctx, tx, is.Access); err != nil {
			return fmt.Errorf("insert access token %q: %w", is.Access.ID, err)
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

// markUsed marks refresh token id used and keeps reply on it. Of several concurrent rotations
// of the same token the first UPDATE wins; the others wait for it, find
// used_at set and change nothing.
func markUsed(ctx context.Context, tx pgx.Tx, id string, reply []byte, now time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $1, reply = $3
		WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL`, now.Unix(), id, codec.NullBytes(reply))
	if err != nil {
		return fmt.Errorf("rotate refresh token %q: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE id = $1)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("rotate refresh token %q: %w", id, err)
	}
	if !exists {
		return fmt.Errorf("rotate refresh token %q: %w", id, store.ErrNotFound)
	}
	return fmt.Errorf("rotate refresh token %q: already used or revoked: %w", id, store.ErrConflict)
}

// AccessTokenByID returns the token, also when expired: callers check
// ExpiresAt.
func (s *Store) AccessTokenByID(ctx context.Context, id string) (*store.AccessToken, error) {
	t, err := codec.ScanAccessToken(s.pool.QueryRow(ctx,
		`SELECT `+codec.AccessTokenColumns+` FROM access_tokens WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("access token %q: %w", id, mapErr(err))
	}
	return t, nil
}

// RefreshTokenByHash returns the token, also when used, revoked or
// expired, so callers can detect a replay.
func (s *Store) RefreshTokenByHash(ctx context.Context, tokenHash []byte) (*store.RefreshToken, error) {
	t, err := codec.ScanRefreshToken(s.pool.QueryRow(ctx,
		`SELECT `+codec.RefreshTokenColumns+` FROM refresh_tokens WHERE token_hash = $1`, tokenHash))
	if err != nil {
		return nil, fmt.Errorf("refresh token by hash: %w", mapErr(err))
	}
	return t, nil
}

// RefreshTokenByID returns the token, also when used, revoked or expired.
func (s *Store) RefreshTokenByID(ctx context.Context, id string) (*store.RefreshToken, error) {
	t, err := codec.ScanRefreshToken(s.pool.QueryRow(ctx,
		`SELECT `+codec.RefreshTokenColumns+` FROM refresh_tokens WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("refresh token %q: %w", id, mapErr(err))
	}
	return t, nil
}

// DeleteAccessToken deletes the token; an unknown id is not an error
// (revocation is idempotent).
func (s *Store) DeleteAccessToken(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM access_tokens WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete access token %q: %w", id, err)
	}
	return nil
}

// RevokeRefreshFamily revokes every token of the family (keeping the first
// revocation time) and deletes the access tokens issued with it.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $1
			WHERE family_id = $2 AND revoked_at IS NULL`, now.Unix(), familyID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM access_tokens WHERE refresh_family = $1`, familyID)
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $1
			WHERE subject = $2 AND revoked_at IS NULL`, now.Unix(), userID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM access_tokens WHERE subject = $1`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke tokens of user %q: %w", userID, err)
	}
	return nil
}

// UserGrants lists the apps holding a live refresh token of userID.
func (s *Store) UserGrants(ctx context.Context, userID string, now time.Time) ([]store.Grant, error) {
	out, err := queryAll(ctx, s.pool, codec.ScanGrant, `SELECT client_id, MIN(created_at), MAX(created_at), COUNT(DISTINCT family_id)
		FROM refresh_tokens WHERE subject = $1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > $2
		GROUP BY client_id ORDER BY MAX(created_at) DESC, client_id COLLATE "C"`, userID, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("grants of user %q: %w", userID, err)
	}
	return out, nil
}

// RevokeGrant revokes userID's tokens for clientID, telling it if notify.
func (s *Store) RevokeGrant(ctx context.Context, userID, clientID string, now time.Time, notify bool) (bool, error) {
	var any bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $1
			WHERE subject = $2 AND client_id = $3 AND revoked_at IS NULL`, now.Unix(), userID, clientID)
		if err != nil {
			return err
		}
		n := tag.RowsAffected()
		tag, err = tx.Exec(ctx, `DELETE FROM access_tokens WHERE subject = $1 AND client_id = $2`, userID, clientID)
		if err != nil {
			return err
		}
		any = n+tag.RowsAffected() > 0
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
