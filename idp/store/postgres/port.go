package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
	"github.com/jackc/pgx/v5"
)

// exports says how Export reads each kind of store.Kinds, which gives the
// order. Rows are ordered by key in byte order, as package sqlite orders
// them, so equal stores give equal dumps whichever the backend.
var exports = map[string]struct {
	query  string
	record func(scanner) (store.Record, error)
}{
	store.KindSecret: {`SELECT name, value FROM secrets ORDER BY name COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			var v store.Secret
			err := sc.Scan(&v.Name, &v.Value)
			return store.Record{Kind: store.KindSecret, Secret: &v}, err
		}},
	store.KindSigningKey: {`SELECT ` + codec.SigningKeyColumns + ` FROM signing_keys ORDER BY id COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			k, err := codec.ScanSigningKey(sc)
			return store.Record{Kind: store.KindSigningKey, SigningKey: k}, err
		}},
	store.KindUser: {`SELECT ` + codec.UserSelectColumns + ` FROM users ORDER BY id COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			u, err := codec.ScanUser(sc)
			return store.Record{Kind: store.KindUser, User: u}, err
		}},
	store.KindSetting: {`SELECT name, value, updated_at, updated_by FROM settings ORDER BY name COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			var v store.Setting
			var value string
			err := sc.Scan(&v.Name, &value, codec.TimeCol(&v.UpdatedAt), &v.UpdatedBy)
			v.Value = []byte(value)
			return store.Record{Kind: store.KindSetting, Setting: &v}, err
		}},
	store.KindUserImport: {`SELECT user_id, row_digest, password_digest, imported_at FROM user_imports ORDER BY user_id COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			var v store.UserImport
			err := sc.Scan(&v.UserID, &v.RowDigest, &v.PasswordDigest, codec.TimeCol(&v.ImportedAt))
			return store.Record{Kind: store.KindUserImport, UserImport: &v}, err
		}},
	store.KindPasskey: {`SELECT ` + codec.PasskeyColumns + ` FROM passkeys ORDER BY id COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			p, err := codec.ScanPasskey(sc)
			return store.Record{Kind: store.KindPasskey, Passkey: p}, err
		}},
	store.KindSnooze: {`SELECT user_id, until FROM suggestion_snoozes ORDER BY user_id COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			var v store.Snooze
			err := sc.Scan(&v.UserID, codec.TimeCol(&v.Until))
			return store.Record{Kind: store.KindSnooze, Snooze: &v}, err
		}},
	store.KindSession: {`SELECT ` + codec.SessionColumns + ` FROM browser_sessions ORDER BY id COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			v, err := codec.ScanSession(sc)
			return store.Record{Kind: store.KindSession, Session: v}, err
		}},
	store.KindRefreshToken: {`SELECT ` + codec.RefreshTokenColumns + ` FROM refresh_tokens ORDER BY id COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			v, err := codec.ScanRefreshToken(sc)
			return store.Record{Kind: store.KindRefreshToken, RefreshToken: v}, err
		}},
	store.KindAccessToken: {`SELECT ` + codec.AccessTokenColumns + ` FROM access_tokens ORDER BY id COLLATE "C"`,
		func(sc scanner) (store.Record, error) {
			v, err := codec.ScanAccessToken(sc)
			return store.Record{Kind: store.KindAccessToken, AccessToken: v}, err
		}},
}

// Export calls emit for every durable row, from one REPEATABLE READ
// snapshot: a dump taken while the provider runs is consistent.
func (s *Store) Export(ctx context.Context, emit func(store.Record) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := s.inTxOpts(ctx, opts, func(tx pgx.Tx) error {
		for _, kind := range store.Kinds {
			e, ok := exports[kind]
			if !ok {
				return fmt.Errorf("no query for kind %q", kind)
			}
			if err := exportKind(ctx, tx, e.query, e.record, emit); err != nil {
				return fmt.Errorf("%s: %w", kind, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func exportKind(ctx context.Context, tx pgx.Tx, query string, record func(scanner) (store.Record, error), emit func(store.Record) error) error {
	rows, err := tx.Query(ctx, query)
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

// Import writes the records next returns in one transaction; see
// store.Porter. next must not call the store: the import locks the
// tables until it commits, so a write from next would wait forever.
func (s *Store) Import(ctx context.Context, next func() (store.Record, error), wipe bool) (store.ImportStats, error) {
	var stats store.ImportStats
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Writers wait until the import commits, so the emptiness check
		// holds and nobody sees half a dump; readers go on.
		if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(codec.WipeOrder, ", ")+` IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock tables: %w", err)
		}
		var err error
		stats, err = codec.Importer{
			Exec: func(q string) error { _, err := tx.Exec(ctx, q); return err },
			HasRows: func(table string) (bool, error) {
				var rows bool
				err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+`)`).Scan(&rows)
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
func importRecord(ctx context.Context, db dbtx, r store.Record) error {
	switch r.Kind {
	case store.KindSecret:
		if v := r.Secret; v != nil {
			_, err := db.Exec(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2)`, v.Name, v.Value)
			return mapErr(err)
		}
	case store.KindSigningKey:
		if v := r.SigningKey; v != nil {
			return insertSigningKey(ctx, db, v)
		}
	case store.KindUser:
		if v := r.User; v != nil {
			u := *v
			codec.Fold(&u)
			return insertUser(ctx, db, &u)
		}
	case store.KindPasskey:
		if v := r.Passkey; v != nil {
			return insertPasskey(ctx, db, v)
		}
	case store.KindSetting:
		if v := r.Setting; v != nil {
			_, err := db.Exec(ctx, `INSERT INTO settings (name, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)`,
				v.Name, string(v.Value), codec.Unix(v.UpdatedAt), v.UpdatedBy)
			return mapErr(err)
		}
	case store.KindUserImport:
		if v := r.UserImport; v != nil {
			return insertUserImport(ctx, db, v)
		}
	case store.KindSnooze:
		if v := r.Snooze; v != nil {
			_, err := db.Exec(ctx, `INSERT INTO suggestion_snoozes (user_id, until) VALUES ($1, $2)`,
				v.UserID, codec.Unix(v.Until))
			return mapErr(err)
		}
	case store.KindSession:
		if v := r.Session; v != nil {
			return insertSession(ctx, db, v)
		}
	case store.KindRefreshToken:
		if v := r.RefreshToken; v != nil {
			return insertRefreshToken(ctx, db, v)
		}
	case store.KindAccessToken:
		if v := r.AccessToken; v != nil {
			return insertAccessToken(ctx, db, v)
		}
	default:
		return fmt.Errorf("unknown record kind %q", r.Kind)
	}
	return fmt.Errorf("%s record without its %s", r.Kind, r.Kind)
}
