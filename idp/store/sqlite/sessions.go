package sqlite

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// insertSession inserts sess with db (the store, or a transaction).
func insertSession(ctx context.Context, db execer, sess *store.Session) error {
	vals := codec.SessionValues(sess)
	_, err := db.ExecContext(ctx, `INSERT INTO browser_sessions (`+codec.SessionColumns+`) VALUES (`+placeholders(len(vals))+`)`, vals...)
	return err
}

// CreateSession inserts sess. An unknown user gives ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	err := insertSession(ctx, s.writer, sess)
	if err != nil {
		return fmt.Errorf("create session of user %q: %w", sess.UserID, mapErr(err))
	}
	return nil
}

// SessionByID returns the session, also when expired.
func (s *Store) SessionByID(ctx context.Context, id string) (*store.Session, error) {
	sess, err := codec.ScanSession(s.reader.QueryRowContext(ctx,
		`SELECT `+codec.SessionColumns+` FROM browser_sessions WHERE id = ?`, id))
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
	res, err := s.exec(ctx, `UPDATE browser_sessions SET last_seen_at = ?, idle_expires_at = ?
		WHERE id = ?`, codec.Unix(lastSeen), codec.Unix(idleExpiresAt), id)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("touch session: %w", store.ErrNotFound)
	}
	return nil
}

// endSessions deletes the sessions matching where (a condition on
// browser_sessions with its args) and queues a logout notice to each app
// they signed in to, in tx.
func endSessions(ctx context.Context, tx *txn, where string, args ...any) error {
	ended, err := queryAll(ctx, tx, codec.ScanSession, `DELETE FROM browser_sessions WHERE `+where+` RETURNING `+codec.SessionColumns, args...)
	if err != nil {
		return err
	}
	return enqueue(ctx, tx, store.LogoutMessages(ended))
}

// DeleteSession deletes the session (telling its apps); an unknown id
// is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.inTx(ctx, func(tx *txn) error { return endSessions(ctx, tx, `id = ?`, id) }); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions deletes every session of userID except keepID (which
// may be ""), telling their apps.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, keepID string) error {
	err := s.inTx(ctx, func(tx *txn) error { return endSessions(ctx, tx, `user_id = ? AND id <> ?`, userID, keepID) })
	if err != nil {
		return fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return nil
}

// AddSessionClient adds clientID to the session's clients, once (in one
// write transaction: SQLite's one writer keeps two additions apart).
func (s *Store) AddSessionClient(ctx context.Context, sessionID, clientID string) error {
	err := s.inTx(ctx, func(tx *txn) error {
		var clients []string
		if err := tx.QueryRowContext(ctx, `SELECT clients FROM browser_sessions WHERE id = ?`, sessionID).
			Scan(codec.ListCol(&clients)); err != nil {
			return mapErr(err)
		}
		if slices.Contains(clients, clientID) {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE browser_sessions SET clients = ? WHERE id = ?`,
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
	out, err := queryAll(ctx, s.reader, codec.ScanSession, `SELECT `+codec.SessionColumns+` FROM browser_sessions
		WHERE user_id = ? ORDER BY last_seen_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %q: %w", userID, err)
	}
	return out, nil
}
