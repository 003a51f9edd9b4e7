package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/migrations"
)

// newTestStore opens and migrates a fresh database file in t's temp dir.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	return openMigrated(t, filepath.Join(t.TempDir(), "idp.db"))
}

func openMigrated(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func latestVersion(t *testing.T) int {
	t.Helper()
	ms, err := migrations.For("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no sqlite migrations")
	}
	return ms[len(ms)-1].Version
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "idp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("SchemaVersion of a new file = %d, %v; want 0", v, err)
	}
	for i := range 3 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != latestVersion(t) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, latestVersion(t))
	}
	ms, _ := migrations.For("sqlite")
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
	var name string
	if err := s.reader.QueryRowContext(ctx, `SELECT name FROM schema_migrations WHERE version = 1`).Scan(&name); err != nil || name != "init" {
		t.Errorf("migration 1 recorded as %q, %v; want init", name, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "idp.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: "u1", Username: "alice", Email: "alice@example.org", Role: store.RoleAdmin,
		CreatedAt: time.Unix(1700000000, 0), UpdatedAt: time.Unix(1700000000, 0)}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret(ctx, "crypto", func() ([]byte, error) { return []byte("k"), nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openMigrated(t, path)
	got, err := s.UserByLogin(ctx, "ALICE")
	if err != nil {
		t.Fatalf("user after reopen: %v", err)
	}
	if got.ID != "u1" || got.Role != store.RoleAdmin || got.CreatedAt.Unix() != 1700000000 {
		t.Errorf("user after reopen = %+v", got)
	}
	v, err := s.Secret(ctx, "crypto", func() ([]byte, error) { return []byte("new"), nil })
	if err != nil || string(v) != "k" {
		t.Errorf("secret after reopen = %q, %v; want k", v, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	newer := latestVersion(t) + 1
	if _, err := s.writer.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)`, newer); err != nil {
		t.Fatal(err)
	}
	err := s.Migrate(ctx)
	if err == nil {
		t.Fatal("Migrate accepted a database with a newer schema")
	}
	for _, want := range []string{fmt.Sprint(newer), "newer than this binary"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != newer {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, newer)
	}
}

func TestPragmas(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "10000"},
		{"query_only", "0"},
	} {
		var got string
		if err := s.writer.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("writer PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("writer %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"query_only", "1"},
		{"busy_timeout", "10000"},
	} {
		var got string
		if err := s.reader.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("reader PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("reader %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	if _, err := s.reader.ExecContext(ctx, `DELETE FROM users`); err == nil {
		t.Error("the read pool accepted a write")
	}
	if got := s.writer.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", got)
	}
}

// A savepoint that changes up to stmtJournalSpill of pages journals them
// in memory (SQLite's default spilled past 64 KiB to a temporary file, a
// system call for every page); one that changes more still spills, and
// works, so memory stays bounded.
func TestSavepointJournalSpillsOnlyWhenLarge(t *testing.T) {
	if stmtJournalSpillErr != nil {
		t.Fatal(stmtJournalSpillErr)
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	ctx := t.Context()
	s := newTestStore(t)
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE pages (id INTEGER PRIMARY KEY, body BLOB)`); err != nil {
		t.Fatal(err)
	}
	// One row to a page: 1,000 pages that exist before the savepoints.
	if _, err := s.writer.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
		INSERT INTO pages SELECT i, randomblob(3000) FROM n`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rows  int // pages the savepoint changes
		spill bool
	}{
		{20, false},  // 80 KB
		{1000, true}, // 4 MB
	} {
		var open []string
		err := s.inTx(ctx, func(tx *txn) error {
			if _, err := tx.Tx.Exec("SAVEPOINT write"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE pages SET body = randomblob(3000) WHERE id <= ?`, tc.rows); err != nil {
				return err
			}
			open = tempFiles(t)
			_, err := tx.Tx.Exec("RELEASE write")
			return err
		})
		if err != nil {
			t.Fatalf("a savepoint changing %d pages: %v", tc.rows, err)
		}
		if spilled := len(open) > 0; spilled != tc.spill {
			t.Errorf("a savepoint changing %d pages: temporary files %v, want spilled = %v", tc.rows, open, tc.spill)
		}
	}
}

// tempFiles lists the deleted files this process has open: SQLite opens
// its temporary files unnamed, and the database files all have names.
func tempFiles(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasSuffix(target, "(deleted)") {
			out = append(out, target)
		}
	}
	return out
}

func TestSessionNeedsUser(t *testing.T) {
	s := newTestStore(t)
	now := time.Unix(1700000000, 0)
	err := s.CreateSession(t.Context(), &store.Session{ID: "s1", UserID: "ghost", AuthTime: now, CreatedAt: now,
		LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session of an unknown user: err = %v, want ErrNotFound (foreign key)", err)
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	_, err := Open(t.Context(), filepath.Join(dir, "idp.db"))
	if err == nil {
		t.Fatal("Open created a database in a missing directory")
	}
	if !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the missing directory", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created %s: %v", dir, err)
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c#d%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "idp.db")
	s := openMigrated(t, path)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the given path: %v", err)
	}
}

func TestConflictField(t *testing.T) {
	for msg, want := range map[string]string{
		"constraint failed: UNIQUE constraint failed: users.username (2067)":         "username",
		"UNIQUE constraint failed: users.email":                                      "email",
		"constraint failed: UNIQUE constraint failed: signing_keys.algorithm (2067)": "algorithm",
		"constraint failed: UNIQUE constraint failed: users.id (1555)":               "id",
		"constraint failed: UNIQUE constraint failed: a.x, a.y (2067)":               "x",
		"something else": "unknown",
	} {
		if got := conflictField(msg); got != want {
			t.Errorf("conflictField(%q) = %q, want %q", msg, got, want)
		}
	}
}

// TestOneActiveKeyIndex checks the schema's backstop: even a write that
// skips RotateSigningKey's compare cannot leave two active keys.
func TestOneActiveKeyIndex(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	insert := func(id string) error {
		_, err := s.writer.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES (?, 'RS256', x'00', 0)`, id)
		return mapErr(err)
	}
	if err := insert("k1"); err != nil {
		t.Fatal(err)
	}
	err := insert("k2")
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Field != "algorithm" {
		t.Errorf("second active key: err = %v, want a conflict on algorithm", err)
	}
}

// A new database, its write-ahead log and shared-memory file are readable
// by the provider's user only, whatever the umask.
func TestNewDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "idp.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}
	// A backup too.
	dst := filepath.Join(t.TempDir(), "backup.db")
	if _, err := Backup(context.Background(), path, dst, false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}
