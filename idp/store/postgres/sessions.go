package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

func insertSession(ctx context.Context, db dbtx, sess *store.Session) error {
	vals := codec.SessionValues(sess)
	_, err := db.Exec(ctx, `INSERT INTO browser_sessions (`+codec.SessionColumns+`) VALUES (`+params(len(vals))+`)`, vals...)
	return mapErr(err)
}

// endSessions deletes the sessions matching where (a condition on
// browser_sessions with its args) and queues a logout notice to each app
// they signed in to, in tx.
func endSessions(ctx context.Context, tx pgx.Tx, where string, args ...any) error {
	rows, err := tx.Query(ctx, `DELETE FROM browser_sessions WHERE `+where+` RETURNING `+codec.SessionColumns, args...)
	if err != nil {
		return err
	}
	ended, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Session, error) {
		s, err := codec.ScanSession(r)
		if err != nil {
			return store.Session{}, err
		}
		return *s, nil
	})
	if err != nil {
		return err
	}
	return enqueue(ctx, tx, store.LogoutMessages(ended))
}

// CreateSession inserts sess. An unknown user gives ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	if err := insertSession(ctx, s.pool, sess); err != nil {
		return fmt.Errorf("create session of user %q: %w", sess.UserID, err)
	}
	return nil
}

// SessionByID returns the session, also when expired.
func (s *Store) SessionByID(ctx context.Context, id string) (*store.Session, error) {
	sess, err := codec.ScanSession(s.pool.QueryRow(ctx,
		`SELECT `+codec.SessionColumns+` FROM browser_sessions WHERE id = $1`, id))
	if err != nil {
		// The id is a hash of the cookie, not secret by itself, but keep it
		// out of logs anyway.
		return nil, fmt.Errorf("session: %w", mapErr(err))
	}
	return sess, nil
}

// TouchSession moves the idle expiry forward. An unknown session gives
// ErrNotFound.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE browser_sessions SET last_seen_at = $1, idle_expires_at = $2
		WHERE id = $3`, codec.Unix(lastSeen), codec.Unix(idleExpiresAt), id)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	if err := oneRow(tag); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession deletes the session (telling its apps); an unknown id
// is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.inTx(ctx, func(tx pgx.Tx) error { return endSessions(ctx, tx, `id = $1`, id) }); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions deletes every session of userID except keepID (which
// may be ""), telling their apps.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, keepID string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error { return endSessions(ctx, tx, `user_id = $1 AND id <> $2`, userID, keepID) })
	if err != nil {
		return fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return nil
}

// AddSessionClient adds clientID to the session's clients, once. The row
// lock keeps two sign-ins through one session from losing one.
func (s *Store) AddSessionClient(ctx context.Context, sessionID, clientID string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var clients []string
		if err := tx.QueryRow(ctx, `SELECT clients FROM browser_sessions WHERE id = $1 FOR UPDATE`, sessionID).
			Scan(codec.ListCol(&clients)); err != nil {
			return mapErr(err)
		}
		if slices.Contains(clients, clientID) {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE browser_sessions SET clients = $1 WHERE id = $2`,
			codec.List(append(clients, clientID)), sessionID)
		return err
	})
	if err != nil {
		return fmt.Errorf("add a client to a session: %w", err)
	}
	return nil
}

// ListUserSessions returns the user's sessions, most recently seen first.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]store.Session, error) {
	out, err := queryAll(ctx, s.pool, codec.ScanSession, `SELECT `+codec.SessionColumns+` FROM browser_sessions
		WHERE user_id = $1 ORDER BY last_seen_at DESC, id COLLATE "C"`, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %q: %w", userID, err)
	}
	return out, nil
}
