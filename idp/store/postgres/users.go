package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
	"github.com/jackc/pgx/v5"
)

func insertUser(ctx context.Context, db dbtx, u *store.User) error {
	vals := codec.UserValues(u)
	_, err := db.Exec(ctx, `INSERT INTO users (`+codec.UserColumns+`) VALUES (`+params(len(vals))+`)`, vals...)
	return mapErr(err)
}

// CreateUser inserts u. Username and Email are lower-cased in u too, so the
// caller sees what was stored.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	codec.Fold(u)
	if err := insertUser(ctx, s.pool, u); err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return nil
}

// UserByID returns the user with this ID.
func (s *Store) UserByID(ctx context.Context, id string) (*store.User, error) {
	u, err := codec.ScanUser(s.pool.QueryRow(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE id = $1`, id))
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
	u, err := codec.ScanUser(s.pool.QueryRow(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE `+col+` = $1`,
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
	u, err := codec.ScanUser(s.pool.QueryRow(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE webauthn_id = $1`, handle))
	if err != nil {
		// The handle is no secret, but it is long and says nothing: leave
		// it out of the message.
		return nil, fmt.Errorf("user by webauthn id: %w", mapErr(err))
	}
	return u, nil
}

// ListUsers returns all users ordered by username (byte order, as SQLite).
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	users, err := queryAll(ctx, s.pool, codec.ScanUser, `SELECT `+codec.UserSelectColumns+` FROM users ORDER BY username COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	// member_counts is kept by triggers (migration 0014): no pass over
	// every member.
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(n), 0)::bigint FROM member_counts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// UpdateUser loads the user, applies fn and writes every field back in one
// transaction. The row stays locked while fn runs, so concurrent updates
// queue and none is lost; fn should be quick and must not wait on another
// update of the same user. Changes to ID, CreatedAt and Passkeys are ignored.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*store.User) error) (*store.User, error) {
	var out *store.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// NO KEY UPDATE: the id does not change, so sessions and passkeys
		// of the user can still be inserted meanwhile.
		u, err := codec.ScanUser(tx.QueryRow(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE id = $1 FOR NO KEY UPDATE`, id))
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The admins' rows stay locked to the end: two admins deleting
		// themselves at once cannot both count the other as the one left.
		rows, err := tx.Query(ctx, `SELECT id FROM users WHERE role = 'admin' AND NOT disabled OR id = $1 FOR UPDATE`, id)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		var admin bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = 'admin')`, id).Scan(&admin); err != nil {
			return err
		}
		if admin && !slices.ContainsFunc(ids, func(other string) bool { return other != id }) {
			return store.ErrLastAdmin
		}
		if err := endSessions(ctx, tx, `user_id = $1`, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if err := oneRow(tag); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM access_tokens WHERE subject = $1`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE subject = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, anonymizeAudit, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}

// SearchUsers returns the users whose username, email or name contains
// query, ignoring case, ordered by username (byte order, as SQLite).
// Usernames and emails are stored folded; names are folded by lower(),
// which follows the database's LC_CTYPE: all of Unicode under a UTF-8
// locale (the default), ASCII only under "C". strpos, unlike LIKE, takes
// "%" and "_" literally.
func (s *Store) SearchUsers(ctx context.Context, query string, limit int) ([]store.User, error) {
	if limit <= 0 {
		limit = store.DefaultSearchLimit
	}
	q := `SELECT ` + codec.UserSelectColumns + ` FROM users ORDER BY username COLLATE "C" LIMIT $1`
	args := []any{limit}
	if query != "" {
		// The LIKE lets the trigram index of migration 0015 (pg_trgm)
		// find the candidates; strpos is the exact test.
		q = `SELECT ` + codec.UserSelectColumns + ` FROM users
			WHERE (username || ' ' || coalesce(email, '') || ' ' || lower(name)) LIKE $3
			AND (strpos(username, $2) > 0 OR strpos(email, $2) > 0 OR strpos(lower(name), $2) > 0)
			ORDER BY username COLLATE "C" LIMIT $1`
		folded := strings.ToLower(query)
		args = append(args, folded, "%"+likeEscaper.Replace(folded)+"%")
	}
	users, err := queryAll(ctx, s.pool, codec.ScanUser, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search users for %q: %w", query, mapErr(err))
	}
	return users, nil
}

// likeEscaper makes text a LIKE pattern matching itself (backslash is
// PostgreSQL's default escape).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// PasskeyCoverage counts enabled accounts, and those with a passkey, by
// role.
func (s *Store) PasskeyCoverage(ctx context.Context) (store.Coverage, error) {
	var c store.Coverage
	// member_counts is kept by triggers (migration 0014): no pass over
	// every member.
	rows, err := s.pool.Query(ctx, `SELECT role, COALESCE(SUM(n), 0)::bigint, COALESCE(SUM(n) FILTER (WHERE with_passkey), 0)::bigint
		FROM member_counts WHERE NOT disabled GROUP BY role`)
	if err != nil {
		return c, fmt.Errorf("passkey coverage: %w", mapErr(err))
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
		return c, fmt.Errorf("passkey coverage: %w", mapErr(err))
	}
	return c, nil
}

// CreateSetupToken stores the hash of a setup token.
func (s *Store) CreateSetupToken(ctx context.Context, tokenHash []byte, expiresAt time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, $2)`,
		tokenHash, codec.Unix(expiresAt))
	if err != nil {
		return fmt.Errorf("create setup token: %w", mapErr(err))
	}
	return nil
}

// SetupTokenValid reports whether an unexpired token with this hash exists.
func (s *Store) SetupTokenValid(ctx context.Context, tokenHash []byte, now time.Time) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2)`,
		tokenHash, now.Unix()).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check setup token: %w", err)
	}
	return ok, nil
}

// CreateFirstAdmin consumes the setup token and creates u in one
// transaction; see store.SetupStore.
func (s *Store) CreateFirstAdmin(ctx context.Context, tokenHash []byte, u *store.User, now time.Time) error {
	codec.Fold(u)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// "No user yet" must still hold at commit: block other writers to
		// users (reads go on) until then. This runs once per installation.
		if _, err := tx.Exec(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var ok bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2)`,
			tokenHash, now.Unix()).Scan(&ok)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("setup token: %w", store.ErrNotFound)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("a user already exists: %w", store.ErrConflict)
		}
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM setup_tokens`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create first admin %q: %w", u.Username, err)
	}
	return nil
}

// writeUser writes every field of u, which was before, ending its
// recovery links when the change does (store.EndsRecoveryLinks).
func writeUser(ctx context.Context, tx pgx.Tx, before, u *store.User) error {
	codec.Fold(u)
	if store.EndsRecoveryLinks(before, u) {
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_links WHERE user_id = $1 AND used_at IS NULL
			AND purpose IN ('recovery', 'invite')`, u.ID); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `UPDATE users SET username = $1, email = $2, email_verified = $3, name = $4,
		role = $5, password_hash = $6, disabled = $7, webauthn_id = $8, updated_at = $9, password_changed_at = $10,
		locale = $11 WHERE id = $12`,
		u.Username, codec.NullString(u.Email), u.EmailVerified, u.Name, string(u.Role), u.PasswordHash, u.Disabled,
		codec.NullBytes(u.WebAuthnID), codec.Unix(u.UpdatedAt), codec.Unix(u.PasswordChangedAt), u.Locale, u.ID)
	return mapErr(err)
}

// ImportMember creates or updates the member im describes, with its
// import record, in one transaction (see store.ApplyImport). The
// account's row stays locked meanwhile, so two imports of the same file
// at once apply each row once.
func (s *Store) ImportMember(ctx context.Context, im store.ImportedMember, now time.Time) (store.ImportOutcome, *store.User, error) {
	codec.Fold(im.User)
	outcome, out := store.ImportUnchanged, im.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := codec.ScanUser(tx.QueryRow(ctx, `SELECT `+codec.UserSelectColumns+` FROM users WHERE username = $1
			FOR NO KEY UPDATE`, im.User.Username))
		if errors.Is(err, pgx.ErrNoRows) {
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
		err = tx.QueryRow(ctx, `SELECT row_digest, password_digest FROM user_imports WHERE user_id = $1`, cur.ID).
			Scan(&prev.RowDigest, &prev.PasswordDigest)
		if errors.Is(err, pgx.ErrNoRows) {
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
		_, err = tx.Exec(ctx, `UPDATE user_imports SET row_digest = $1, password_digest = $2, imported_at = $3
			WHERE user_id = $4`, im.RowDigest, im.PasswordDigest, now.Unix(), cur.ID)
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
	err := s.pool.QueryRow(ctx, `SELECT row_digest, password_digest, imported_at FROM user_imports WHERE user_id = $1`,
		userID).Scan(&v.RowDigest, &v.PasswordDigest, codec.TimeCol(&v.ImportedAt))
	if err != nil {
		return nil, fmt.Errorf("import record of %q: %w", userID, mapErr(err))
	}
	return &v, nil
}

func insertUserImport(ctx context.Context, db dbtx, v *store.UserImport) error {
	_, err := db.Exec(ctx, `INSERT INTO user_imports (user_id, row_digest, password_digest, imported_at)
		VALUES ($1, $2, $3, $4)`, v.UserID, v.RowDigest, v.PasswordDigest, codec.Unix(v.ImportedAt))
	return mapErr(err)
}

// anonymizeAudit keeps the events of a deleted member as an anonymous
// trace: what happened and when, not who, from where or with what.
const anonymizeAudit = `UPDATE audit_events SET
	actor_id = CASE WHEN actor_id = $1 THEN '' ELSE actor_id END,
	user_id = CASE WHEN user_id = $1 THEN '' ELSE user_id END,
	ip = '', user_agent = '', device = '', details = '{}'
	WHERE user_id = $1 OR actor_id = $1`
