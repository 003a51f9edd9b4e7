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

// CreateAuthRequest inserts ar with every field as given.
func (s *Store) CreateAuthRequest(ctx context.Context, ar *store.AuthRequest) error {
	vals := codec.AuthRequestValues(ar)
	_, err := s.exec(ctx, `INSERT INTO auth_requests (`+codec.AuthRequestColumns+`) VALUES (`+placeholders(len(vals))+`)`, vals...)
	if err != nil {
		return fmt.Errorf("create auth request %q: %w", ar.ID, mapErr(err))
	}
	return nil
}

// AuthRequestByID returns the request, also when expired.
func (s *Store) AuthRequestByID(ctx context.Context, id string) (*store.AuthRequest, error) {
	ar, err := codec.ScanAuthRequest(s.reader.QueryRowContext(ctx,
		`SELECT `+codec.AuthRequestColumns+` FROM auth_requests WHERE id = ?`, id))
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
	ar, err := codec.ScanAuthRequest(s.reader.QueryRowContext(ctx,
		`SELECT `+codec.AuthRequestColumns+` FROM auth_requests WHERE code_hash = ?`, codeHash))
	if err != nil {
		return nil, fmt.Errorf("auth request by code: %w", mapErr(err))
	}
	return ar, nil
}

// CompleteAuthRequest records who signed in; see store.AuthRequestStore.
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, c store.Completion, now time.Time) error {
	err := s.inTx(ctx, func(tx *txn) error {
		// A request that is not done has no code: code_hash is NULL until
		// this sets it, if c has one.
		res, err := tx.ExecContext(ctx, `UPDATE auth_requests SET done = 1, subject = ?, auth_time = ?, amr = ?,
			session_id = ?, code_hash = ?, code_expires_at = ? WHERE id = ? AND NOT done AND expires_at > ?`,
			c.Subject, codec.Unix(c.AuthTime), codec.List(c.AMR), c.SessionID,
			codec.NullBytes(c.CodeHash), codec.Unix(c.CodeExpiresAt), id, now.Unix())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		// Not completed: say why.
		var done bool
		var expiresAt int64
		err = tx.QueryRowContext(ctx, `SELECT done, expires_at FROM auth_requests WHERE id = ?`, id).Scan(&done, &expiresAt)
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
	err := s.inTx(ctx, func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_requests SET code_hash = ?, code_expires_at = ?
			WHERE id = ? AND done AND code_hash IS NULL`, codeHash, codec.Unix(expiresAt), id)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var done, hasCode bool
		err = tx.QueryRowContext(ctx, `SELECT done, code_hash IS NOT NULL FROM auth_requests WHERE id = ?`, id).
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
	_, err := s.exec(ctx, `DELETE FROM auth_requests WHERE id = ? AND consumed_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("delete auth request %q: %w", id, err)
	}
	return nil
}

// consumeCode marks the code of auth request id redeemed, recording what
// was issued. Exactly one of several concurrent redemptions succeeds.
func consumeCode(ctx context.Context, tx *txn, id string, is store.Issue, now time.Time) error {
	family := ""
	if is.Refresh != nil {
		family = is.Refresh.FamilyID
	}
	// The tombstone lives at least as long as the access token it issued,
	// so a replay can still revoke it.
	res, err := tx.ExecContext(ctx, `UPDATE auth_requests SET consumed_at = ?, issued_access_token_id = ?,
		issued_refresh_family = ?, expires_at = MAX(expires_at, ?) WHERE id = ? AND consumed_at IS NULL`,
		now.Unix(), is.Access.ID, family, is.Access.ExpiresAt.Unix(), id)
	if err != nil {
		return fmt.Errorf("consume code of %q: %w", id, err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	// Tell an unknown request from a consumed one.
	var exists int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM auth_requests WHERE id = ?`, id).Scan(&exists)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("consume code of %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("consume code of %q: %w", id, err)
	}
	return fmt.Errorf("consume code of %q: already consumed: %w", id, store.ErrConflict)
}
