package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// exports says how Export reads each kind of store.Kinds, which gives the
// order. Rows are ordered by key (SQLite compares text bytewise), as
// package postgres orders them, so equal stores give equal dumps whichever
// the backend.
var exports = map[string]struct {
	query  string
	record func(scanner) (store.Record, error)
}{
	store.KindSecret: {`SELECT name, value FROM secrets ORDER BY name`,
		func(sc scanner) (store.Record, error) {
			var v store.Secret
			err := sc.Scan(&v.Name, &v.Value)
			return store.Record{Kind: store.KindSecret, Secret: &v}, err
		}},
	store.KindSigningKey: {`SELECT ` + codec.SigningKeyColumns + ` FROM signing_keys ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			k, err := codec.ScanSigningKey(sc)
			return store.Record{Kind: store.KindSigningKey, SigningKey: k}, err
		}},
	store.KindUser: {`SELECT ` + codec.UserSelectColumns + ` FROM users ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			u, err := codec.ScanUser(sc)
			return store.Record{Kind: store.KindUser, User: u}, err
		}},
	store.KindSetting: {`SELECT name, value, updated_at, updated_by FROM settings ORDER BY name`,
		func(sc scanner) (store.Record, error) {
			var v store.Setting
			var value string
			err := sc.Scan(&v.Name, &value, codec.TimeCol(&v.UpdatedAt), &v.UpdatedBy)
			v.Value = []byte(value)
			return store.Record{Kind: store.KindSetting, Setting: &v}, err
		}},
	store.KindUserImport: {`SELECT user_id, row_digest, password_digest, imported_at FROM user_imports ORDER BY user_id`,
		func(sc scanner) (store.Record, error) {
			var v store.UserImport
			err := sc.Scan(&v.UserID, &v.RowDigest, &v.PasswordDigest, codec.TimeCol(&v.ImportedAt))
			return store.Record{Kind: store.KindUserImport, UserImport: &v}, err
		}},
	store.KindPasskey: {`SELECT ` + codec.PasskeyColumns + ` FROM passkeys ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			p, err := codec.ScanPasskey(sc)
			return store.Record{Kind: store.KindPasskey, Passkey: p}, err
		}},
	store.KindSnooze: {`SELECT user_id, until FROM suggestion_snoozes ORDER BY user_id`,
		func(sc scanner) (store.Record, error) {
			var v store.Snooze
			err := sc.Scan(&v.UserID, codec.TimeCol(&v.Until))
			return store.Record{Kind: store.KindSnooze, Snooze: &v}, err
		}},
	store.KindSession: {`SELECT ` + codec.SessionColumns + ` FROM browser_sessions ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			v, err := codec.ScanSession(sc)
			return store.Record{Kind: store.KindSession, Session: v}, err
		}},
	store.KindRefreshToken: {`SELECT ` + codec.RefreshTokenColumns + ` FROM refresh_tokens ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			v, err := codec.ScanRefreshToken(sc)
			return store.Record{Kind: store.KindRefreshToken, RefreshToken: v}, err
		}},
	store.KindAccessToken: {`SELECT ` + codec.AccessTokenColumns + ` FROM access_tokens ORDER BY id`,
		func(sc scanner) (store.Record, error) {
			v, err := codec.ScanAccessToken(sc)
			return store.Record{Kind: store.KindAccessToken, AccessToken: v}, err
		}},
}

// Export calls emit for every durable row, from one read transaction: WAL
// gives it a snapshot, so a dump taken while the provider runs is
// consistent. It runs on the read pool and does not block writers.
func (s *Store) Export(ctx context.Context, emit func(store.Record) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("export: begin: %w", err)
	}
	defer tx.Rollback()
	for _, kind := range store.Kinds {
		e, ok := exports[kind]
		if !ok {
			return fmt.Errorf("export: no query for kind %q", kind)
		}
		if err := exportKind(ctx, tx, e.query, e.record, emit); err != nil {
			return fmt.Errorf("export: %s: %w", kind, err)
		}
	}
	return nil
}

func exportKind(ctx context.Context, tx *txn, query string, record func(scanner) (store.Record, error), emit func(store.Record) error) error {
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
// only writer connection, so the call would wait for it forever.
func (s *Store) Import(ctx context.Context, next func() (store.Record, error), wipe bool) (store.ImportStats, error) {
	var stats store.ImportStats
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		stats, err = codec.Importer{
			Exec: func(q string) error { _, err := tx.ExecContext(ctx, q); return err },
			HasRows: func(table string) (bool, error) {
				var rows bool
				err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+`)`).Scan(&rows)
				return rows, err
			},
			Insert: func(r store.Record) error { return importRecord(ctx, tx, r) },
		}.Import(next, wipe)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return stats, nil
}

// importRecord inserts r's row exactly as given (users are case-folded,
// which a dump of a store already is).
func importRecord(ctx context.Context, tx *txn, r store.Record) error {
	switch r.Kind {
	case store.KindSecret:
		if v := r.Secret; v != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?)`, v.Name, v.Value)
			return mapErr(err)
		}
	case store.KindSigningKey:
		if k := r.SigningKey; k != nil {
			vals := codec.SigningKeyValues(k)
			_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+codec.SigningKeyColumns+`) VALUES (`+placeholders(len(vals))+`)`, vals...)
			return mapErr(err)
		}
	case store.KindUser:
		if v := r.User; v != nil {
			u := *v
			codec.Fold(&u)
			return insertUser(ctx, tx, &u)
		}
	case store.KindPasskey:
		if p := r.Passkey; p != nil {
			return mapErr(insertPasskey(ctx, tx, p))
		}
	case store.KindSetting:
		if v := r.Setting; v != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at, updated_by) VALUES (?, ?, ?, ?)`,
				v.Name, string(v.Value), codec.Unix(v.UpdatedAt), v.UpdatedBy)
			return mapErr(err)
		}
	case store.KindUserImport:
		if v := r.UserImport; v != nil {
			return insertUserImport(ctx, tx, v)
		}
	case store.KindSnooze:
		if v := r.Snooze; v != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO suggestion_snoozes (user_id, until) VALUES (?, ?)`,
				v.UserID, codec.Unix(v.Until))
			return mapErr(err)
		}
	case store.KindSession:
		if v := r.Session; v != nil {
			return mapErr(insertSession(ctx, tx, v))
		}
	case store.KindRefreshToken:
		if t := r.RefreshToken; t != nil {
			return insertRefreshToken(ctx, tx, t)
		}
	case store.KindAccessToken:
		if a := r.AccessToken; a != nil {
			return mapErr(insertAccessToken(ctx, tx, a))
		}
	default:
		return fmt.Errorf("unknown record kind %q", r.Kind)
	}
	return fmt.Errorf("%s record without its %s", r.Kind, r.Kind)
}
