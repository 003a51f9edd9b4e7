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

// --- passkeys ---

// insertPasskey inserts p with db (the store, or a transaction).
func insertPasskey(ctx context.Context, db execer, p *store.Passkey) error {
	vals := codec.PasskeyValues(p)
	_, err := db.ExecContext(ctx, `INSERT INTO passkeys (`+codec.PasskeyColumns+`) VALUES (`+placeholders(len(vals))+`)`, vals...)
	return err
}

// CreatePasskey inserts p. A credential ID registered to anyone gives a
// *store.ConflictError on "credential_id"; an unknown member gives
// store.ErrNotFound.
func (s *Store) CreatePasskey(ctx context.Context, p *store.Passkey) error {
	err := insertPasskey(ctx, s.writer, p)
	if err != nil {
		return fmt.Errorf("create passkey %q of user %q: %w", p.ID, p.UserID, mapErr(err))
	}
	return nil
}

// PasskeysByUser returns the member's passkeys, oldest first (ties by ID).
func (s *Store) PasskeysByUser(ctx context.Context, userID string) ([]store.Passkey, error) {
	out, err := queryAll(ctx, s.reader, codec.ScanPasskey, `SELECT `+codec.PasskeyColumns+` FROM passkeys
		WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys of user %q: %w", userID, err)
	}
	return out, nil
}

// PasskeyByCredentialID returns the passkey with this credential ID.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*store.Passkey, error) {
	p, err := codec.ScanPasskey(s.reader.QueryRowContext(ctx, `SELECT `+codec.PasskeyColumns+` FROM passkeys
		WHERE credential_id = ?`, credentialID))
	if err != nil {
		return nil, fmt.Errorf("passkey by credential id: %w", mapErr(err))
	}
	return p, nil
}

// RecordPasskeyUse writes back what a sign-in with passkey id learnt.
// UserVerified and CloneWarning only ever go from false to true; the
// other values are written as given. An unknown id gives store.ErrNotFound.
func (s *Store) RecordPasskeyUse(ctx context.Context, id string, use store.PasskeyUse) error {
	res, err := s.exec(ctx, `UPDATE passkeys SET sign_count = ?, clone_warning = (clone_warning OR ?),
		user_verified = (user_verified OR ?), backup_eligible = ?, backup_state = ?, last_used_at = ?, last_used_ua = ?
		WHERE id = ?`,
		int64(use.SignCount), use.CloneWarning, use.UserVerified, use.BackupEligible, use.BackupState, codec.Unix(use.At), use.UserAgent, id)
	if err != nil {
		return fmt.Errorf("record use of passkey %q: %w", id, mapErr(err))
	}
	if err := oneRow(res); err != nil {
		return fmt.Errorf("record use of passkey %q: %w", id, err)
	}
	return nil
}

// RenamePasskey renames passkey id of userID; a passkey that is not the
// member's gives store.ErrNotFound.
func (s *Store) RenamePasskey(ctx context.Context, userID, id, name string) error {
	res, err := s.exec(ctx, `UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?`, name, id, userID)
	if err != nil {
		return fmt.Errorf("rename passkey %q of user %q: %w", id, userID, mapErr(err))
	}
	if err := oneRow(res); err != nil {
		return fmt.Errorf("rename passkey %q of user %q: %w", id, userID, err)
	}
	return nil
}

// DeletePasskey deletes passkey id of userID; a passkey that is not the
// member's (or no longer exists) gives store.ErrNotFound.
func (s *Store) DeletePasskey(ctx context.Context, userID, id string) error {
	res, err := s.exec(ctx, `DELETE FROM passkeys WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return fmt.Errorf("delete passkey %q of user %q: %w", id, userID, err)
	}
	if err := oneRow(res); err != nil {
		return fmt.Errorf("delete passkey %q of user %q: %w", id, userID, err)
	}
	return nil
}

// oneRow turns "no row changed" into store.ErrNotFound.
func oneRow(res sql.Result) error {
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// --- ceremonies ---

// CreateCeremony stores c until a finish step consumes it. A taken ID gives
// a *store.ConflictError.
func (s *Store) CreateCeremony(ctx context.Context, c *store.Ceremony) error {
	_, err := s.exec(ctx, `INSERT INTO webauthn_ceremonies (id, kind, user_id, binding, data, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, c.ID, c.Kind, codec.NullString(c.UserID), c.Binding, c.Data, codec.Unix(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create %s ceremony: %w", c.Kind, mapErr(err))
	}
	return nil
}

// ConsumeCeremony deletes the ceremony and returns it. The delete and the
// read are one statement, so of several concurrent callers exactly one
// gets the row. A ceremony at or past its expiry is deleted all the same
// and gives store.ErrNotFound.
func (s *Store) ConsumeCeremony(ctx context.Context, id string, now time.Time) (*store.Ceremony, error) {
	var c store.Ceremony
	err := s.inTx(ctx, func(tx *txn) error {
		return tx.QueryRowContext(ctx, `DELETE FROM webauthn_ceremonies WHERE id = ?
		RETURNING id, kind, user_id, binding, data, expires_at`, id).
			Scan(&c.ID, &c.Kind, codec.StringCol(&c.UserID), &c.Binding, &c.Data, codec.TimeCol(&c.ExpiresAt))
	})
	if err != nil {
		// The id is a bearer value for the browser holding it: keep it out
		// of logs.
		return nil, fmt.Errorf("consume ceremony: %w", mapErr(err))
	}
	if !now.Before(c.ExpiresAt) {
		return nil, fmt.Errorf("consume %s ceremony: expired at %v: %w", c.Kind, c.ExpiresAt, store.ErrNotFound)
	}
	return &c, nil
}

// --- suggestion snoozes ---

// SnoozeSuggestion records that userID does not want the passkey suggestion
// before until, replacing an earlier snooze. A zero until clears the
// snooze. An unknown member gives store.ErrNotFound.
func (s *Store) SnoozeSuggestion(ctx context.Context, userID string, until time.Time) error {
	var err error
	if until.IsZero() {
		_, err = s.exec(ctx, `DELETE FROM suggestion_snoozes WHERE user_id = ?`, userID)
	} else {
		_, err = s.exec(ctx, `INSERT INTO suggestion_snoozes (user_id, until) VALUES (?, ?)
			ON CONFLICT (user_id) DO UPDATE SET until = excluded.until`, userID, until.Unix())
	}
	if err != nil {
		return fmt.Errorf("snooze passkey suggestion for user %q: %w", userID, mapErr(err))
	}
	return nil
}

// SuggestionSnoozedUntil returns until when userID snoozed the suggestion,
// also when that is past, and the zero time when there is no snooze.
func (s *Store) SuggestionSnoozedUntil(ctx context.Context, userID string) (time.Time, error) {
	var until time.Time
	err := s.reader.QueryRowContext(ctx, `SELECT until FROM suggestion_snoozes WHERE user_id = ?`, userID).
		Scan(codec.TimeCol(&until))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("passkey suggestion snooze of user %q: %w", userID, err)
	}
	return until, nil
}
