package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

func insertUser(ctx context.Context, tx *txn, u *store.User) error {
	vals := codec.UserValues(u)
	_, err := tx.ExecContext(ctx, `INSERT INTO users (`+codec.UserColumns+`) VALUES (`+placeholders(len(vals))+`)`, vals...)
	return mapErr(err)
}

// CreateUser inserts u. Username and Email are lower-cased in u too, so the
// caller sees what was stored.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	codec.Fold(u)
	err := s.inTx(ctx, func(tx *txn) error { return insertUser(ctx, tx, u) })
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return nil
}

// UserByID returns the user with this ID.
func (s *Store) UserByID(ctx context.Context, id string) (*store.User, error) {
	u, err := codec.ScanUser(s.reader.QueryRowContext(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", id, mapErr(err))
	}
	return u, nil
}

// UserByLogin finds a user by email when login contains "@", else by
// username, case-insensitively.
func (s *Store) UserByLogin(ctx context.Context, login string) (*store.User, error) {
	col := "username"
	if strings.Contains(login, "@") {
		col = "email"
	}
	u, err := codec.ScanUser(s.reader.QueryRowContext(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE `+col+` = ?`,
		strings.ToLower(login)))
	if err != nil {
		return nil, fmt.Errorf("user by %s %q: %w", col, login, mapErr(err))
	}
	return u, nil
}

// UserByWebAuthnID returns the user whose WebAuthn user handle is handle.
func (s *Store) UserByWebAuthnID(ctx context.Context, handle []byte) (*store.User, error) {
	if len(handle) == 0 {
		// Members without a handle store NULL, which nothing equals.
		return nil, fmt.Errorf("user by webauthn id: empty handle: %w", store.ErrNotFound)
	}
	u, err := codec.ScanUser(s.reader.QueryRowContext(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE webauthn_id = ?`, handle))
	if err != nil {
		// The handle is no secret, but it is long and says nothing: leave
		// it out of the message.
		return nil, fmt.Errorf("user by webauthn id: %w", mapErr(err))
	}
	return u, nil
}

// ListUsers returns all users ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	out, err := queryAll(ctx, s.reader, codec.ScanUser, `SELECT `+codec.UserSelectColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	// member_counts is kept by triggers (migration 0014): no pass over
	// every member.
	if err := s.reader.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM member_counts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// UpdateUser loads the user, applies fn and writes every field back in one
// transaction. fn must not call the store (it runs while the writer is
// held). Changes to ID, CreatedAt and Passkeys are ignored.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*store.User) error) (*store.User, error) {
	var out *store.User
	err := s.inTx(ctx, func(tx *txn) error {
		u, err := codec.ScanUser(tx.QueryRowContext(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE id = ?`, id))
		if err != nil {
			return mapErr(err)
		}
		before := *u
		if err := fn(u); err != nil {
			return err
		}
		u.ID, u.CreatedAt, u.Passkeys = id, before.CreatedAt, before.Passkeys
		if err := writeUser(ctx, tx, &before, u); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update user %q: %w", id, err)
	}
	return out, nil
}

// DeleteUser deletes the user with this ID and, in the same transaction,
// the access and refresh tokens issued to it. Its sessions end (their
// apps are told), and its passkeys,
// passkey suggestion snooze and recovery links go with it (ON DELETE
// CASCADE); audit events stay. An unknown ID gives store.ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *txn) error {
		var admin bool
		var others int
		err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND role = 'admin'),
			(SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled AND id <> ?1)`, id).Scan(&admin, &others)
		if err != nil {
			return err
		}
		if admin && others == 0 {
			return store.ErrLastAdmin
		}
		if err := endSessions(ctx, tx, `user_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE subject = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE subject = ?`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, anonymizeAudit, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}

// SearchUsers returns the users whose username, email or name contains
// query, ignoring case, ordered by username. Usernames and emails are
// stored folded; names are folded by idp_fold (strings.ToLower, see
// sqlite.go), as the query is, since SQLite's own lower() and LIKE fold
// ASCII only. instr, unlike LIKE, takes "%" and "_" literally.
func (s *Store) SearchUsers(ctx context.Context, query string, limit int) ([]store.User, error) {
	if limit <= 0 {
		limit = store.DefaultSearchLimit
	}
	q := `SELECT ` + codec.UserSelectColumns + ` FROM users ORDER BY username LIMIT ?1`
	args := []any{limit}
	if query != "" {
		q = `SELECT ` + codec.UserSelectColumns + ` FROM users WHERE ` + searchMatch + ` ORDER BY username LIMIT ?1`
		args = append(args, strings.ToLower(query))
		if utf8.RuneCountInString(query) >= 3 {
			// The trigram index gives the candidates (a superset: it also
			// ignores diacritics), the exact test picks among them. A query
			// that matches very many members walks them in username order
			// instead (the query above), which finds a page of them quickly.
			match := `"` + strings.ReplaceAll(query, `"`, `""`) + `"`
			candidates := func(param string) string {
				return `SELECT rowid FROM users_search WHERE users_search MATCH ` + param + ` LIMIT ` + strconv.Itoa(maxSearchCandidates)
			}
			var n int
			err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+candidates("?")+`)`, match).Scan(&n)
			if err != nil {
				return nil, fmt.Errorf("search users for %q: %w", query, err)
			}
			if n < maxSearchCandidates {
				q = `SELECT ` + codec.UserSelectColumns + ` FROM users WHERE rowid IN (` + candidates("?3") + `) AND ` + searchMatch + `
					ORDER BY username LIMIT ?1`
				args = append(args, match)
			}
		}
	}
	out, err := queryAll(ctx, s.reader, codec.ScanUser, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search users for %q: %w", query, err)
	}
	return out, nil
}

// searchMatch is what SearchUsers finds: ?2 (folded) in a username, an
// email or a name.
const searchMatch = `(instr(username, ?2) > 0 OR instr(email, ?2) > 0 OR instr(` + foldFunc + `(name), ?2) > 0)`

// maxSearchCandidates bounds the members a search takes from the trigram
// index; a query matching more walks the members in username order.
const maxSearchCandidates = 2000

// PasskeyCoverage counts enabled accounts, and those with a passkey, by
// role.
func (s *Store) PasskeyCoverage(ctx context.Context) (store.Coverage, error) {
	var c store.Coverage
	// member_counts is kept by triggers (migration 0014): no pass over
	// every member.
	rows, err := s.reader.QueryContext(ctx, `SELECT role, COALESCE(SUM(n), 0), COALESCE(SUM(n * with_passkey), 0)
		FROM member_counts WHERE disabled = 0 GROUP BY role`)
	if err != nil {
		return c, fmt.Errorf("passkey coverage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var role store.Role
		var all, with int
		if err := rows.Scan(&role, &all, &with); err != nil {
			return c, fmt.Errorf("passkey coverage: %w", err)
		}
		switch role {
		case store.RoleMember:
			c.Members, c.MembersWithPasskey = all, with
		case store.RoleAdmin:
			c.Admins, c.AdminsWithPasskey = all, with
		}
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("passkey coverage: %w", err)
	}
	return c, nil
}

// CreateSetupToken stores the hash of a setup token.
func (s *Store) CreateSetupToken(ctx context.Context, tokenHash []byte, expiresAt time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?, ?)`,
		tokenHash, codec.Unix(expiresAt))
	if err != nil {
		return fmt.Errorf("create setup token: %w", mapErr(err))
	}
	return nil
}

// SetupTokenValid reports whether an unexpired token with this hash exists.
func (s *Store) SetupTokenValid(ctx context.Context, tokenHash []byte, now time.Time) (bool, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM setup_tokens WHERE token_hash = ? AND expires_at > ?`,
		tokenHash, now.Unix()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check setup token: %w", err)
	}
	return n > 0, nil
}

// CreateFirstAdmin consumes the setup token and creates u in one
// transaction; see store.SetupStore.
func (s *Store) CreateFirstAdmin(ctx context.Context, tokenHash []byte, u *store.User, now time.Time) error {
	codec.Fold(u)
	err := s.inTx(ctx, func(tx *txn) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM setup_tokens WHERE token_hash = ? AND expires_at > ?`,
			tokenHash, now.Unix()).Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("setup token: %w", store.ErrNotFound)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("a user already exists: %w", store.ErrConflict)
		}
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM setup_tokens`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create first admin %q: %w", u.Username, err)
	}
	return nil
}

// writeUser writes every field of u, which was before, ending its
// recovery links when the change does (store.EndsRecoveryLinks).
func writeUser(ctx context.Context, tx *txn, before, u *store.User) error {
	codec.Fold(u)
	if store.EndsRecoveryLinks(before, u) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_links WHERE user_id = ? AND used_at IS NULL
			AND purpose IN ('recovery', 'invite')`, u.ID); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE users SET username = ?, email = ?, email_verified = ?, name = ?,
		role = ?, password_hash = ?, disabled = ?, webauthn_id = ?, updated_at = ?, password_changed_at = ?, locale = ?
		WHERE id = ?`,
		u.Username, codec.NullString(u.Email), u.EmailVerified, u.Name, string(u.Role), u.PasswordHash, u.Disabled,
		codec.NullBytes(u.WebAuthnID), codec.Unix(u.UpdatedAt), codec.Unix(u.PasswordChangedAt), u.Locale, u.ID)
	return mapErr(err)
}

// ImportMember creates or updates the member im describes, with its
// import record, in one transaction (see store.ApplyImport).
func (s *Store) ImportMember(ctx context.Context, im store.ImportedMember, now time.Time) (store.ImportOutcome, *store.User, error) {
	codec.Fold(im.User)
	outcome, out := store.ImportUnchanged, im.User
	err := s.inTx(ctx, func(tx *txn) error {
		cur, err := codec.ScanUser(tx.QueryRowContext(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE username = ?`, im.User.Username))
		if errors.Is(err, sql.ErrNoRows) {
			outcome = store.ImportCreated
			if err := insertUser(ctx, tx, im.User); err != nil {
				return err
			}
			return insertUserImport(ctx, tx, &store.UserImport{UserID: im.User.ID, RowDigest: im.RowDigest,
				PasswordDigest: im.PasswordDigest, ImportedAt: now})
		}
		if err != nil {
			return err
		}
		out = cur
		var prev store.UserImport
		err = tx.QueryRowContext(ctx, `SELECT row_digest, password_digest FROM user_imports WHERE user_id = ?`, cur.ID).
			Scan(&prev.RowDigest, &prev.PasswordDigest)
		if errors.Is(err, sql.ErrNoRows) {
			return &store.ConflictError{Field: "username"}
		}
		if err != nil {
			return err
		}
		next := store.ApplyImport(cur, prev, im, now)
		if next == nil {
			return nil
		}
		outcome, out = store.ImportUpdated, next
		if err := writeUser(ctx, tx, cur, next); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE user_imports SET row_digest = ?, password_digest = ?, imported_at = ?
			WHERE user_id = ?`, im.RowDigest, im.PasswordDigest, now.Unix(), cur.ID)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("import user %q: %w", im.User.Username, mapErr(err))
	}
	return outcome, out, nil
}

// UserImportOf returns the record of the member's last import.
func (s *Store) UserImportOf(ctx context.Context, userID string) (*store.UserImport, error) {
	v := store.UserImport{UserID: userID}
	err := s.reader.QueryRowContext(ctx, `SELECT row_digest, password_digest, imported_at FROM user_imports WHERE user_id = ?`,
		userID).Scan(&v.RowDigest, &v.PasswordDigest, codec.TimeCol(&v.ImportedAt))
	if err != nil {
		return nil, fmt.Errorf("import record of %q: %w", userID, mapErr(err))
	}
	return &v, nil
}

func insertUserImport(ctx context.Context, tx *txn, v *store.UserImport) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO user_imports (user_id, row_digest, password_digest, imported_at)
		VALUES (?, ?, ?, ?)`, v.UserID, v.RowDigest, v.PasswordDigest, codec.Unix(v.ImportedAt))
	return mapErr(err)
}

// anonymizeAudit keeps the events of a deleted member as an anonymous
// trace: what happened and when, not who, from where or with what.
const anonymizeAudit = `UPDATE audit_events SET
	actor_id = CASE WHEN actor_id = ?1 THEN '' ELSE actor_id END,
	user_id = CASE WHEN user_id = ?1 THEN '' ELSE user_id END,
	ip = '', user_agent = '', device = '', details = '{}'
	WHERE user_id = ?1 OR actor_id = ?1`
