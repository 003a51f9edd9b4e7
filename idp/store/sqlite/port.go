package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// exports lists what Export reads, in the order of the store.Kind*
// constants (each kind after what it refers to). Rows are ordered by key
// (SQLite compares text bytewise), as package postgres orders them, so
// equal stores give equal dumps whichever the backend.
var exports = []struct {
	kind   string
	query  string
	record func(scanner) (store.Record, error)
}{
	{store.KindSecret, `SELECT name, value FROM secrets ORDER BY name`,
		func(sc scanner) (store.Record, error) {
			var v store.Secret
			err := sc.Scan(&v.Name, &v.Value)
			return store.Record{Kind: store.KindSecret, Secret: &v}, err
		}},
	{store.KindSigningKey, `SELECT ` + signingKeyColumns + ` FROM signing_keys ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			k, err := scanSigningKey(sc)
			return store.Record{Kind: store.KindSigningKey, SigningKey: k}, err
		}},
	{store.KindUser, `SELECT ` + userColumns + ` FROM users ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			u, err := scanUser(sc)
			return store.Record{Kind: store.KindUser, User: u}, err
		}},
	{store.KindPasskey, `SELECT ` + passkeyColumns + ` FROM passkeys ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			p, err := scanPasskey(sc)
			return store.Record{Kind: store.KindPasskey, Passkey: p}, err
		}},
	{store.KindSnooze, `SELECT user_id, until FROM suggestion_snoozes ORDER BY user_id`,
		func(sc scanner) (store.Record, error) {
			var v store.Snooze
			err := sc.Scan(&v.UserID, timeCol{&v.Until})
			return store.Record{Kind: store.KindSnooze, Snooze: &v}, err
		}},
	{store.KindSession, `SELECT ` + sessionColumns + ` FROM browser_sessions ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			v, err := scanSession(sc)
			return store.Record{Kind: store.KindSession, Session: v}, err
		}},
	{store.KindRefreshToken, `SELECT ` + refreshTokenColumns + ` FROM refresh_tokens ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			v, err := scanRefreshToken(sc)
			return store.Record{Kind: store.KindRefreshToken, RefreshToken: v}, err
		}},
	{store.KindAccessToken, `SELECT ` + accessTokenColumns + ` FROM access_tokens ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			v, err := scanAccessToken(sc)
			return store.Record{Kind: store.KindAccessToken, AccessToken: v}, err
		}},
}

// signingKeyColumns are the columns scanSigningKey reads.
const signingKeyColumns = `id, algorithm, private_key, created_at, active_from, retire_at`

func scanSigningKey(sc scanner) (*store.SigningKey, error) {
	var k store.SigningKey
	var activeFrom int64
	if err := sc.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, timeCol{&k.CreatedAt}, &activeFrom, timePtrCol{&k.RetireAt}); err != nil {
		return nil, err
	}
	k.ActiveFrom = time.Unix(activeFrom, 0).UTC()
	return &k, nil
}

// durableTables are the tables whose rows make a store "not empty" for
// Import: everything a dump carries (passkeys and snoozes need users).
var durableTables = []string{"users", "signing_keys", "secrets", "browser_sessions", "refresh_tokens", "access_tokens"}

// wipeOrder is every table, rows that refer to others first.
var wipeOrder = []string{"passkeys", "suggestion_snoozes", "browser_sessions", "users", "access_tokens",
	"refresh_tokens", "auth_requests", "webauthn_ceremonies", "setup_tokens", "signing_keys", "secrets"}

// Export calls emit for every durable row, from one read transaction: WAL
// gives it a snapshot, so a dump taken while the provider runs is
// consistent. It runs on the read pool and does not block writers.
func (s *Store) Export(ctx context.Context, emit func(store.Record) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("export: begin: %w", err)
	}
	defer tx.Rollback()
	for _, e := range exports {
		if err := exportKind(ctx, tx, e.query, e.record, emit); err != nil {
			return fmt.Errorf("export: %s: %w", e.kind, err)
		}
	}
	return nil
}

func exportKind(ctx context.Context, tx *sql.Tx, query string, record func(scanner) (store.Record, error), emit func(store.Record) error) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := record(rows)
		if err != nil {
			return err
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Import writes the records next returns in one writer transaction; see
// store.Porter. next must not call the store: the transaction holds the
// only writer connection.
func (s *Store) Import(ctx context.Context, next func() (store.Record, error), wipe bool) (store.ImportStats, error) {
	stats := store.ImportStats{}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if wipe {
			for _, table := range wipeOrder {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
					return fmt.Errorf("wipe %s: %w", table, err)
				}
			}
		} else {
			for _, table := range durableTables {
				var rows bool
				if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+`)`).Scan(&rows); err != nil {
					return fmt.Errorf("check %s: %w", table, err)
				}
				if rows {
					return fmt.Errorf("table %s has rows: %w", table, store.ErrNotEmpty)
				}
			}
		}
		for n := 1; ; n++ {
			r, err := next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read record %d: %w", n, err)
			}
			if err := importRecord(ctx, tx, r); err != nil {
				return fmt.Errorf("record %d (%s): %w", n, r.Kind, err)
			}
			stats[r.Kind]++
		}
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return stats, nil
}

// importRecord inserts r's row exactly as given (users are case-folded,
// which a dump of a store already is).
func importRecord(ctx context.Context, tx *sql.Tx, r store.Record) error {
	switch r.Kind {
	case store.KindSecret:
		if v := r.Secret; v != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?)`, v.Name, v.Value)
			return mapErr(err)
		}
	case store.KindSigningKey:
		if k := r.SigningKey; k != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
				k.ID, k.Algorithm, k.PrivateKey, unix(k.CreatedAt), k.ActiveFrom.Unix(), unixPtr(k.RetireAt))
			return mapErr(err)
		}
	case store.KindUser:
		if v := r.User; v != nil {
			u := *v
			fold(&u)
			return insertUser(ctx, tx, &u)
		}
	case store.KindPasskey:
		if p := r.Passkey; p != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO passkeys (`+passkeyColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.ID, p.UserID, p.CredentialID, p.RPID, p.Name, p.PublicKey, p.AttestationType,
				p.AttestationFormat, jsonList(p.Transports), nullBytes(p.AAGUID), int64(p.SignCount), p.CloneWarning,
				p.Attachment, p.UserPresent, p.UserVerified, p.BackupEligible, p.BackupState, p.AutoCreated,
				unix(p.CreatedAt), p.CreatedUA, unixPtr(p.LastUsedAt), p.LastUsedUA)
			return mapErr(err)
		}
	case store.KindSnooze:
		if v := r.Snooze; v != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO suggestion_snoozes (user_id, until) VALUES (?, ?)`,
				v.UserID, unix(v.Until))
			return mapErr(err)
		}
	case store.KindSession:
		if v := r.Session; v != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO browser_sessions (`+sessionColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				v.ID, v.UserID, unix(v.AuthTime), jsonList(v.AMR), unix(v.CreatedAt),
				unix(v.LastSeenAt), unix(v.IdleExpiresAt), unix(v.ExpiresAt), v.UserAgent, v.IP)
			return mapErr(err)
		}
	case store.KindRefreshToken:
		if t := r.RefreshToken; t != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (`+refreshTokenColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				t.ID, t.TokenHash, t.FamilyID, nullString(t.ParentID), t.ClientID, t.Subject,
				jsonList(t.Scopes), jsonList(t.Audience), unix(t.AuthTime), jsonList(t.AMR),
				unix(t.CreatedAt), unix(t.ExpiresAt), unix(t.FamilyExpiresAt), unixPtr(t.UsedAt),
				unixPtr(t.RevokedAt))
			return mapErr(err)
		}
	case store.KindAccessToken:
		if a := r.AccessToken; a != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO access_tokens (`+accessTokenColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				a.ID, a.ClientID, a.Subject, jsonList(a.Scopes), jsonList(a.Audience), unix(a.AuthTime),
				jsonList(a.AMR), unix(a.CreatedAt), unix(a.ExpiresAt), nullString(a.RefreshFamily))
			return mapErr(err)
		}
	default:
		return fmt.Errorf("unknown record kind %q", r.Kind)
	}
	return fmt.Errorf("%s record without its %s", r.Kind, r.Kind)
}
