package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
	"github.com/jackc/pgx/v5"
)

// CreateAuthRequest inserts ar with every field as given.
func (s *Store) CreateAuthRequest(ctx context.Context, ar *store.AuthRequest) error {
	vals := codec.AuthRequestValues(ar)
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_requests (`+codec.AuthRequestColumns+`) VALUES (`+params(len(vals))+`)`, vals...)
	if err != nil {
		return fmt.Errorf("create auth request %q: %w", ar.ID, mapErr(err))
	}
	return nil
}

// AuthRequestByID returns the request, also when expired.
func (s *Store) AuthRequestByID(ctx context.Context, id string) (*store.AuthRequest, error) {
	ar, err := codec.ScanAuthRequest(s.pool.QueryRow(ctx,
		`SELECT `+codec.AuthRequestColumns+` FROM auth_requests WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("auth request %q: %w", id, mapErr(err))
	}
	return ar, nil
}

// AuthRequestByCodeHash finds the request a code was issued for, also when
// consumed or expired.
func (s *Store) AuthRequestByCodeHash(ctx context.Context, codeHash []byte) (*store.AuthRequest, error) {
	if len(codeHash) == 0 {
		return nil, fmt.Errorf("auth request by code: %w", store.ErrNotFound)
	}
	ar, err := codec.ScanAuthRequest(s.pool.QueryRow(ctx,
		`SELECT `+codec.AuthRequestColumns+` FROM auth_requests WHERE code_hash = $1`, codeHash))
	if err != nil {
		return nil, fmt.Errorf("auth request by code: %w", mapErr(err))
	}
	return ar, nil
}

// CompleteAuthRequest records who signed in; see store.AuthRequestStore.
// The row is locked between the check and the update, so of two
// concurrent completions the second sees the first and fails.
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, c store.Completion, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// A request that is not done has no code: code_hash is NULL until
		// this sets it, if c has one.
		tag, err := tx.Exec(ctx, `UPDATE auth_requests SET done = TRUE, subject = $1, auth_time = $2, amr = $3,
			session_id = $4, code_hash = $5, code_expires_at = $6 WHERE id = $7 AND NOT done AND expires_at > $8`,
			c.Subject, codec.Unix(c.AuthTime), codec.List(c.AMR), c.SessionID,
			codec.NullBytes(c.CodeHash), codec.Unix(c.CodeExpiresAt), id, now.Unix())
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		// Not completed: say why.
		var done bool
		var expiresAt int64
		err = tx.QueryRow(ctx, `SELECT done, expires_at FROM auth_requests WHERE id = $1`, id).Scan(&done, &expiresAt)
		return codec.Incomplete(mapErr(err), done, expiresAt, now)
	})
	if err != nil {
		return fmt.Errorf("complete auth request %q: %w", id, err)
	}
	return nil
}

// SaveAuthCode stores the code hash of a done request, once. A request
// that is not done yet is a conflict too: its state does not allow a code.
func (s *Store) SaveAuthCode(ctx context.Context, id string, codeHash []byte, expiresAt time.Time) error {
	if len(codeHash) == 0 {
		return fmt.Errorf("save auth code %q: empty code hash", id)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auth_requests SET code_hash = $1, code_expires_at = $2
			WHERE id = $3 AND done AND code_hash IS NULL`, codeHash, codec.Unix(expiresAt), id)
		if err != nil || tag.RowsAffected() == 1 {
			return mapErr(err)
		}
		var done, hasCode bool
		err = tx.QueryRow(ctx, `SELECT done, code_hash IS NOT NULL FROM auth_requests WHERE id = $1`, id).
			Scan(&done, &hasCode)
		return codec.NoCode(mapErr(err), done, hasCode)
	})
	if err != nil {
		return fmt.Errorf("save auth code %q: %w", id, err)
	}
	return nil
}

// DeleteAuthRequest removes a request that was never redeemed. A redeemed
// request stays as a tombstone until GC; deleting it, or an unknown id, is
// not an error.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM auth_requests WHERE id = $1 AND consumed_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("delete auth request %q: %w", id, err)
	}
	return nil
}

// consumeCode marks the code of auth request id redeemed, recording what
// was issued. Of several concurrent redemptions the first UPDATE wins; the
// others wait for it, find consumed_at set and change nothing.
func consumeCode(ctx context.Context, tx pgx.Tx, id string, is store.Issue, now time.Time) error {
	family := ""
	if is.Refresh != nil {
		family = is.Refresh.FamilyID
	}
	// The tombstone lives at least as long as the access token it issued,
	// so a replay can still revoke it.
	tag, err := tx.Exec(ctx, `UPDATE auth_requests SET consumed_at = $1, issued_access_token_id = $2,
		issued_refresh_family = $3, expires_at = GREATEST(expires_at, $4) WHERE id = $5 AND consumed_at IS NULL`,
		now.Unix(), is.Access.ID, family, is.Access.ExpiresAt.Unix(), id)
	if err != nil {
		return fmt.Errorf("consume code of %q: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Tell an unknown request from a consumed one.
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth_requests WHERE id = $1)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("consume code of %q: %w", id, err)
	}
	if !exists {
		return fmt.Errorf("consume code of %q: %w", id, store.ErrNotFound)
	}
	return fmt.Errorf("consume code of %q: already consumed: %w", id, store.ErrConflict)
}
