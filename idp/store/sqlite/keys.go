package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// SigningKeys returns every key, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := queryAll(ctx, s.reader, codec.ScanSigningKey, `SELECT `+codec.SigningKeyColumns+`
		FROM signing_keys ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return keys, nil
}

// RotateSigningKey makes k the active key of k.Algorithm if the active key
// is expectActive ("" for none), retiring the previous one at retireAt.
// k.RetireAt is ignored: the new key is active.
func (s *Store) RotateSigningKey(ctx context.Context, k *store.SigningKey, expectActive string, retireAt time.Time) error {
	err := s.inTx(ctx, func(tx *txn) error {
		var active string
		err := tx.QueryRowContext(ctx, `SELECT id FROM signing_keys WHERE algorithm = ? AND retire_at IS NULL`,
			k.Algorithm).Scan(&active)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if active != expectActive {
			return fmt.Errorf("active key is %q, not %q: %w", active, expectActive, store.ErrConflict)
		}
		if active != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retire_at = ? WHERE id = ?`,
				retireAt.Unix(), active); err != nil {
				return err
			}
		}
		// The partial unique index turns a rotation that raced past the
		// check above into a conflict.
		_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, created_at, active_from, retire_at)
			VALUES (?, ?, ?, ?, ?, NULL)`, k.ID, k.Algorithm, k.PrivateKey, codec.Unix(k.CreatedAt), k.ActiveFrom.Unix())
		return mapErr(err)
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
	err := s.reader.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	nv, err := generate()
	if err != nil {
		return nil, fmt.Errorf("secret %q: generate: %w", name, err)
	}
	if len(nv) == 0 {
		return nil, fmt.Errorf("secret %q: generate returned no bytes", name)
	}
	err = s.inTx(ctx, func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO NOTHING`, name, nv); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	})
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return v, nil
}

// RevokeSigningKey retires a key at now; see store.KeyStore.
func (s *Store) RevokeSigningKey(ctx context.Context, id string, replacement *store.SigningKey, now time.Time) error {
	err := s.inTx(ctx, func(tx *txn) error {
		var current bool
		var alg string
		err := tx.QueryRowContext(ctx, `SELECT retire_at IS NULL, algorithm FROM signing_keys WHERE id = ? AND (retire_at IS NULL OR retire_at > ?)`,
			id, now.Unix()).Scan(&current, &alg)
		if err != nil {
			return mapErr(err)
		}
		if current && replacement == nil {
			return fmt.Errorf("key %q is current and no replacement was given", id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retire_at = ? WHERE id = ?`, now.Unix(), id); err != nil {
			return err
		}
		if replacement == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retire_at = ? WHERE algorithm = ? AND retire_at IS NULL`,
			now.Unix(), alg); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, created_at, active_from, retire_at)
			VALUES (?, ?, ?, ?, ?, NULL)`, replacement.ID, replacement.Algorithm, replacement.PrivateKey,
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
	err := s.inTx(ctx, func(tx *txn) error {
		for name, v := range values {
			var err error
			if v == nil {
				_, err = tx.ExecContext(ctx, `DELETE FROM secrets WHERE name = ?`, name)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?)
					ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put secrets: %w", err)
	}
	return nil
}

// RewrapSecrets rewrites secrets and private keys through fn, in one write
// transaction.
func (s *Store) RewrapSecrets(ctx context.Context, fn func(purpose, id string, value []byte) ([]byte, error)) (int, error) {
	changed := 0
	err := s.inTx(ctx, func(tx *txn) error {
		changed = 0
		for _, t := range []struct{ purpose, query, update string }{
			{store.PurposeSecret, `SELECT name, value FROM secrets ORDER BY name`, `UPDATE secrets SET value = ? WHERE name = ?`},
			{store.PurposeSigningKey, `SELECT id, private_key FROM signing_keys ORDER BY id`, `UPDATE signing_keys SET private_key = ? WHERE id = ?`},
			{store.PurposeOutbox, `SELECT id, payload FROM outbox WHERE payload IS NOT NULL ORDER BY id`, `UPDATE outbox SET payload = ? WHERE id = ?`},
		} {
			type row struct {
				id    string
				value []byte
			}
			var all []row
			rows, err := tx.QueryContext(ctx, t.query)
			if err != nil {
				return err
			}
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.value); err != nil {
					rows.Close()
					return err
				}
				all = append(all, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
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
				if _, err := tx.ExecContext(ctx, t.update, v, r.id); err != nil {
					return err
				}
				changed++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rewrap secrets: %w", err)
	}
	return changed, nil
}

// Setting returns the console's setting named name.
func (s *Store) Setting(ctx context.Context, name string) (*store.Setting, error) {
	v := store.Setting{Name: name}
	var value string
	err := s.reader.QueryRowContext(ctx, `SELECT value, updated_at, updated_by FROM settings WHERE name = ?`, name).
		Scan(&value, codec.TimeCol(&v.UpdatedAt), &v.UpdatedBy)
	if err != nil {
		return nil, fmt.Errorf("setting %q: %w", name, mapErr(err))
	}
	v.Value = []byte(value)
	return &v, nil
}

// PutSetting stores or (nil Value) deletes a console setting.
func (s *Store) PutSetting(ctx context.Context, v *store.Setting) error {
	err := s.inTx(ctx, func(tx *txn) error {
		if v.Value == nil {
			_, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE name = ?`, v.Name)
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
			updated_by = excluded.updated_by`, v.Name, string(v.Value), codec.Unix(v.UpdatedAt), v.UpdatedBy)
		return err
	})
	if err != nil {
		return fmt.Errorf("put setting %q: %w", v.Name, err)
	}
	return nil
}
