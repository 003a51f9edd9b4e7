package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
	"github.com/jackc/pgx/v5"
)

func insertSigningKey(ctx context.Context, db dbtx, k *store.SigningKey) error {
	vals := codec.SigningKeyValues(k)
	_, err := db.Exec(ctx, `INSERT INTO signing_keys (`+codec.SigningKeyColumns+`) VALUES (`+params(len(vals))+`)`, vals...)
	return mapErr(err)
}

// SigningKeys returns every key, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := queryAll(ctx, s.pool, codec.ScanSigningKey, `SELECT `+codec.SigningKeyColumns+`
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

// RevokeSigningKey retires a key at now; see store.KeyStore.
func (s *Store) RevokeSigningKey(ctx context.Context, id string, replacement *store.SigningKey, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var current bool
		var alg string
		err := tx.QueryRow(ctx, `SELECT retire_at IS NULL, algorithm FROM signing_keys WHERE id = $1 AND (retire_at IS NULL OR retire_at > $2)
			FOR UPDATE`, id, now.Unix()).Scan(&current, &alg)
		if err != nil {
			return mapErr(err)
		}
		if current && replacement == nil {
			return fmt.Errorf("key %q is current and no replacement was given", id)
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retire_at = $1 WHERE id = $2`, now.Unix(), id); err != nil {
			return err
		}
		if replacement == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retire_at = $1 WHERE algorithm = $2 AND retire_at IS NULL`,
			now.Unix(), alg); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, created_at, active_from, retire_at)
			VALUES ($1, $2, $3, $4, $5, NULL)`, replacement.ID, replacement.Algorithm, replacement.PrivateKey,
			codec.Unix(replacement.CreatedAt), replacement.ActiveFrom.Unix())
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("revoke signing key %q: %w", id, err)
	}
	return nil
}

// PutSecrets replaces or deletes secrets in one transaction.
func (s *Store) PutSecrets(ctx context.Context, values map[string][]byte) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for name, v := range values {
			var err error
			if v == nil {
				_, err = tx.Exec(ctx, `DELETE FROM secrets WHERE name = $1`, name)
			} else {
				_, err = tx.Exec(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2)
					ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put secrets: %w", mapErr(err))
	}
	return nil
}

// RewrapSecrets rewrites secrets and private keys through fn, in one
// transaction; the rows are locked (FOR UPDATE) so two replicas rewrapping
// at once take turns instead of losing an update.
func (s *Store) RewrapSecrets(ctx context.Context, fn func(purpose, id string, value []byte) ([]byte, error)) (int, error) {
	changed := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		changed = 0
		for _, t := range []struct{ purpose, query, update string }{
			{store.PurposeSecret, `SELECT name, value FROM secrets ORDER BY name FOR UPDATE`, `UPDATE secrets SET value = $1 WHERE name = $2`},
			{store.PurposeSigningKey, `SELECT id, private_key FROM signing_keys ORDER BY id FOR UPDATE`, `UPDATE signing_keys SET private_key = $1 WHERE id = $2`},
			{store.PurposeOutbox, `SELECT id, payload FROM outbox WHERE payload IS NOT NULL ORDER BY id FOR UPDATE`, `UPDATE outbox SET payload = $1 WHERE id = $2`},
		} {
			rows, err := tx.Query(ctx, t.query)
			if err != nil {
				return err
			}
			type row struct {
				id    string
				value []byte
			}
			all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
				var x row
				err := r.Scan(&x.id, &x.value)
				return x, err
			})
			if err != nil {
				return err
			}
			for _, r := range all {
				v, err := fn(t.purpose, r.id, r.value)
				if err != nil {
					return err
				}
				if bytes.Equal(v, r.value) {
					continue
				}
				if _, err := tx.Exec(ctx, t.update, v, r.id); err != nil {
					return err
				}
				changed++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rewrap secrets: %w", mapErr(err))
	}
	return changed, nil
}

// Setting returns the console's setting named name.
func (s *Store) Setting(ctx context.Context, name string) (*store.Setting, error) {
	v := store.Setting{Name: name}
	var value string
	err := s.pool.QueryRow(ctx, `SELECT value, updated_at, updated_by FROM settings WHERE name = $1`, name).
		Scan(&value, codec.TimeCol(&v.UpdatedAt), &v.UpdatedBy)
	if err != nil {
		return nil, fmt.Errorf("setting %q: %w", name, mapErr(err))
	}
	v.Value = []byte(value)
	return &v, nil
}

// PutSetting stores or (nil Value) deletes a console setting.
func (s *Store) PutSetting(ctx context.Context, v *store.Setting) error {
	var err error
	if v.Value == nil {
		_, err = s.pool.Exec(ctx, `DELETE FROM settings WHERE name = $1`, v.Name)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO settings (name, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
			updated_by = excluded.updated_by`, v.Name, string(v.Value), codec.Unix(v.UpdatedAt), v.UpdatedBy)
	}
	if err != nil {
		return fmt.Errorf("put setting %q: %w", v.Name, mapErr(err))
	}
	return nil
}
