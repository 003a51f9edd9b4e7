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

// --- passkeys ---

func insertPasskey(ctx context.Context, db dbtx, p *store.Passkey) error {
	vals := codec.PasskeyValues(p)
	_, err := db.Exec(ctx, `INSERT INTO passkeys (`+codec.PasskeyColumns+`) VALUES (`+params(len(vals))+`)`, vals...)
	return mapErr(err)
}

// CreatePasskey inserts p. A credential ID registered to anyone gives a
// *store.ConflictError on "credential_id"; an unknown member gives
// store.ErrNotFound.
func (s *Store) CreatePasskey(ctx context.Context, p *store.Passkey) error {
	if err := insertPasskey(ctx, s.pool, p); err != nil {
		return fmt.Errorf("create passkey %q of user %q: %w", p.ID, p.UserID, err)
	}
	return nil
}

// PasskeysByUser returns the member's passkeys, oldest first (ties by ID).
func (s *Store) PasskeysByUser(ctx context.Context, userID string) ([]store.Passkey, error) {
	out, err := queryAll(ctx, s.pool, codec.ScanPasskey, `SELECT `+codec.PasskeyColumns+` FROM passkeys
		WHERE user_id = $1 ORDER BY created_at, id COLLATE "C"`, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys of user %q: %w", userID, err)
	}
	return out, nil
}

// PasskeyByCredentialID returns the passkey with this credential ID.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*store.Passkey, error) {
	p, err := codec.ScanPasskey(s.pool.QueryRow(ctx, `SELECT `+codec.PasskeyColumns+` FROM passkeys
		WHERE credential_id = $1`, credentialID))
	if err != nil {
		return nil, fmt.Errorf("passkey by credential id: %w", mapErr(err))
	}
	return p, nil
}

// RecordPasskeyUse writes back what a sign-in with passkey id learnt.
// UserVerified and CloneWarning only ever go from false to true; the
// other values are written as given. An unknown id gives store.ErrNotFound.
func (s *Store) RecordPasskeyUse(ctx context.Context, id string, use store.PasskeyUse) error {
	tag, err := s.pool.Exec(ctx, `UPDATE passkeys SET sign_count = $1, clone_warning = (clone_warning OR $2),
		user_verified = (user_verified OR $3), backup_eligible = $4, backup_state = $5, last_used_at = $6, last_used_ua = $7
		WHERE id = $8`,
		int64(use.SignCount), use.CloneWarning, use.UserVerified, use.BackupEligible, use.BackupState, codec.Unix(use.At), use.UserAgent, id)
	if err != nil {
		return fmt.Errorf("record use of passkey %q: %w", id, mapErr(err))
	}
	if err := oneRow(tag); err != nil {
		return fmt.Errorf("record use of passkey %q: %w", id, err)
	}
	return nil
}

// RenamePasskey renames passkey id of userID; a passkey that is not the
// member's gives store.ErrNotFound.
func (s *Store) RenamePasskey(ctx context.Context, userID, id, name string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3`, name, id, userID)
	if err != nil {
		return fmt.Errorf("rename passkey %q of user %q: %w", id, userID, mapErr(err))
	}
	if err := oneRow(tag); err != nil {
		return fmt.Errorf("rename passkey %q of user %q: %w", id, userID, err)
	}
	return nil
}

// DeletePasskey deletes passkey id of userID; a passkey that is not the
// member's (or no longer exists) gives store.ErrNotFound.
func (s *Store) DeletePasskey(ctx context.Context, userID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return fmt.Errorf("delete passkey %q of user %q: %w", id, userID, err)
	}
	if err := oneRow(tag); err != nil {
		return fmt.Errorf("delete passkey %q of user %q: %w", id, userID, err)
	}
	return nil
}

// --- ceremonies ---

// CreateCeremony stores c until a finish step consumes it. A taken ID gives
// a *store.ConflictError.
func (s *Store) CreateCeremony(ctx context.Context, c *store.Ceremony) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO webauthn_ceremonies (id, kind, user_id, binding, data, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, c.ID, c.Kind, codec.NullString(c.UserID), c.Binding, c.Data, codec.Unix(c.ExpiresAt))
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
	err := s.pool.QueryRow(ctx, `DELETE FROM webauthn_ceremonies WHERE id = $1
		RETURNING id, kind, user_id, binding, data, expires_at`, id).
		Scan(&c.ID, &c.Kind, codec.StringCol(&c.UserID), &c.Binding, &c.Data, codec.TimeCol(&c.ExpiresAt))
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
		_, err = s.pool.Exec(ctx, `DELETE FROM suggestion_snoozes WHERE user_id = $1`, userID)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO suggestion_snoozes (user_id, until) VALUES ($1, $2)
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
	err := s.pool.QueryRow(ctx, `SELECT until FROM suggestion_snoozes WHERE user_id = $1`, userID).
		Scan(codec.TimeCol(&until))
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, fmt.Errorf("passkey suggestion snooze of user %q: %w", userID, err)
	}
	return until, nil
}
