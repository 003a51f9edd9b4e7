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

func scanSigningKey(sc scanner) (*store.SigningKey, error) {
	var k store.SigningKey
	var activeFrom int64
	if err := sc.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, codec.TimeCol(&k.CreatedAt), &activeFrom, codec.TimePtrCol(&k.RetireAt)); err != nil {
		return nil, err
	}
	// active_from is NOT NULL (0 for keys from before it existed), so it
	// is read as is rather than as a nullable time.
	k.ActiveFrom = time.Unix(activeFrom, 0).UTC()
	return &k, nil
}

func insertSigningKey(ctx context.Context, db dbtx, k *store.SigningKey) error {
	_, err := db.Exec(ctx, `INSERT INTO signing_keys (`+codec.SigningKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Algorithm, k.PrivateKey, codec.Unix(k.CreatedAt), k.ActiveFrom.Unix(), codec.UnixPtr(k.RetireAt))
	return mapErr(err)
}

// SigningKeys returns every key, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := queryAll(ctx, s.pool, scanSigningKey, `SELECT `+codec.SigningKeyColumns+`
		FROM signing_keys ORDER BY created_at DESC, id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return keys, nil
}

// RotateSigningKey makes k the active key of k.Algorithm if the active key
// is expectActive ("" for none), retiring the previous one at retireAt.
// k.RetireAt is ignored: the new key is active.
func (s *Store) RotateSigningKey(ctx context.Context, k *store.SigningKey, expectActive string, retireAt time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The lock makes concurrent rotations queue here; the ones behind
		// the winner then find the active key retired and no row.
		var active string
		err := tx.QueryRow(ctx, `SELECT id FROM signing_keys WHERE algorithm = $1 AND retire_at IS NULL FOR UPDATE`,
			k.Algorithm).Scan(&active)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if active != expectActive {
			return fmt.Errorf("active key is %q, not %q: %w", active, expectActive, store.ErrConflict)
		}
		if active != "" {
			if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retire_at = $1 WHERE id = $2`,
				retireAt.Unix(), active); err != nil {
				return err
			}
		}
		// With no active key there is no row to lock: the partial unique
		// index turns the second of two first keys into a conflict.
		nk := *k
		nk.RetireAt = nil
		return insertSigningKey(ctx, tx, &nk)
	})
	if err != nil {
		return fmt.Errorf("rotate %s signing key to %q: %w", k.Algorithm, k.ID, err)
	}
	return nil
}

// Secret returns the secret named name, storing generate()'s result first
// when there is none. Concurrent callers converge on the first stored
// value; generate runs only when the row is missing.
func (s *Store) Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	nv, err := generate()
	if err != nil {
		return nil, fmt.Errorf("secret %q: generate: %w", name, err)
	}
	if len(nv) == 0 {
		return nil, fmt.Errorf("secret %q: generate returned no bytes", name)
	}
	// Two statements, not one transaction: the INSERT waits for a
	// concurrent inserter to commit, and the SELECT, a new snapshot under
	// READ COMMITTED, then sees the winner's value.
	if _, err := s.pool.Exec(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING`, name, nv); err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return v, nil
}
