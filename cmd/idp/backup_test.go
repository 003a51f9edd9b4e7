package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/server"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/sqlite"
)

// dbOf is the SQLite file writeConfig configured next to cfg.
func dbOf(cfg string) string { return filepath.Join(filepath.Dir(cfg), "idp.db") }

func addUser(t *testing.T, cfg, username string) {
	t.Helper()
	code, out, errs := runCLI(t, nil, "a long enough password", "users", "add", "--config", cfg,
		"--username", username, "--email", username+"@example.org", "--password-stdin")
	if code != 0 {
		t.Fatalf("users add %s: %d %s %s", username, code, out, errs)
	}
}

func usernames(t *testing.T, cfg string) string {
	t.Helper()
	code, out, errs := runCLI(t, nil, "", "users", "list", "--config", cfg)
	if code != 0 {
		t.Fatalf("users list: %d %s", code, errs)
	}
	return out
}

// openStore opens the configured database in this process, as a running
// provider would hold it.
func openStore(t *testing.T, cfg string) store.Store {
	t.Helper()
	c, err := config.Load(cfg, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A backup taken while another connection keeps writing restores to a
// database with exactly what the backup held: later changes are gone, the
// replaced database is kept, and restore refuses while the database is
// open elsewhere or, without --force, when it would replace one.
func TestBackupRestoreRoundTrip(t *testing.T) {
	cfg := writeConfig(t, "")
	addUser(t, cfg, "alice")
	st := openStore(t, cfg)
	alice, err := st.UserByLogin(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePasskey(context.Background(), &store.Passkey{ID: "pk1", UserID: alice.ID, CredentialID: []byte("cred-1"),
		RPID: "localhost", Name: "Laptop", PublicKey: []byte("key"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	// The "provider" keeps writing during the backup.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = st.AppendAudit(context.Background(), &store.AuditEvent{Kind: "test.write", At: time.Now(), Details: map[string]string{"i": fmt.Sprint(i)}})
		}
	}()
	backup := filepath.Join(t.TempDir(), "idp-backup.db")
	code, out, errs := runCLI(t, nil, "", "backup", "--config", cfg, "--to", backup)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("backup while the database is in use: %d %s", code, errs)
	}
	if !regexp.MustCompile(`^backup written to .*idp-backup\.db: \d+ KiB, 1 member\(s\), 1 passkey\(s\), schema \d+, integrity ok`).MatchString(out) {
		t.Fatalf("backup summary: %q", out)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(backup))
	if len(entries) != 1 {
		t.Fatalf("backup left files behind: %v", entries)
	}

	// A second backup to the same file needs --force.
	code, _, errs = runCLI(t, nil, "", "backup", "--config", cfg, "--to", backup)
	if code != 1 || !strings.Contains(errs, "--to") || !strings.Contains(errs, "already exists") || !strings.Contains(errs, "--force") {
		t.Fatalf("backup over an existing file: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, nil, "", "backup", "--config", cfg, "--to", backup, "--force"); code != 0 {
		t.Fatalf("backup --force: %d %s", code, errs)
	}

	// Restore refuses while the database is open (the provider runs).
	code, _, errs = runCLI(t, nil, "", "restore", "--config", cfg, "--from", backup, "--force")
	if code != 1 || !strings.Contains(errs, "open in another process") || !strings.Contains(errs, "stop the provider") {
		t.Fatalf("restore while in use: %d %q", code, errs)
	}
	st.Close()

	addUser(t, cfg, "bob") // after the backup: the restore must drop it
	code, _, errs = runCLI(t, nil, "", "restore", "--config", cfg, "--from", backup)
	if code != 1 || !strings.Contains(errs, "already exists") || !strings.Contains(errs, "--force") {
		t.Fatalf("restore over a database without --force: %d %q", code, errs)
	}
	if !strings.Contains(usernames(t, cfg), "bob") {
		t.Fatal("a refused restore changed the database")
	}

	code, out, errs = runCLI(t, nil, "", "restore", "--config", cfg, "--from", backup, "--force")
	if code != 0 {
		t.Fatalf("restore --force: %d %s", code, errs)
	}
	m := regexp.MustCompile(`kept as (\S+idp\.db\.before-restore-\d{8}T\d{6}Z)`).FindStringSubmatch(out)
	if !strings.Contains(out, "1 member(s), 1 passkey(s)") || m == nil {
		t.Fatalf("restore summary: %q", out)
	}
	list := usernames(t, cfg)
	if !strings.Contains(list, "alice") || strings.Contains(list, "bob") {
		t.Fatalf("after restore: %s", list)
	}
	// The replaced database is complete: its last write (bob) is in it.
	kept, err := sqlite.Inspect(context.Background(), m[1])
	if err != nil || kept.Users != 2 {
		t.Fatalf("kept database: %+v %v", kept, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(dbOf(cfg) + suffix); err == nil {
			// Only a stale one would be a problem; after restore none may
			// exist until the provider opens the database.
			t.Errorf("restore left %s behind", suffix)
		}
	}
	st = openStore(t, cfg)
	defer st.Close()
	pks, err := st.PasskeysByUser(context.Background(), alice.ID)
	if err != nil || len(pks) != 1 || string(pks[0].CredentialID) != "cred-1" {
		t.Fatalf("passkeys after restore: %v %v", pks, err)
	}
}

// A restore into a directory without a database needs no --force and
// keeps nothing.
func TestRestoreIntoEmptyPlace(t *testing.T) {
	src := writeConfig(t, "")
	addUser(t, src, "alice")
	backup := filepath.Join(t.TempDir(), "b.db")
	if code, _, errs := runCLI(t, nil, "", "backup", "--config", src, "--to", backup); code != 0 {
		t.Fatal(errs)
	}
	dst := writeConfig(t, "")
	code, out, errs := runCLI(t, nil, "", "restore", "--config", dst, "--from", backup)
	if code != 0 || strings.Contains(out, "kept as") {
		t.Fatalf("restore into an empty place: %d %q %s", code, out, errs)
	}
	if !strings.Contains(usernames(t, dst), "alice") {
		t.Fatal("restored database lacks alice")
	}
}

// A -wal file left next to a database that is gone (the admin moved a
// crashed database away without it) would be replayed into the restored
// one: restore removes it.
func TestRestoreRemovesStaleWAL(t *testing.T) {
	src := writeConfig(t, "")
	addUser(t, src, "alice")
	backup := filepath.Join(t.TempDir(), "b.db")
	if code, _, errs := runCLI(t, nil, "", "backup", "--config", src, "--to", backup); code != 0 {
		t.Fatal(errs)
	}

	// A write-ahead log with committed frames, as a crash leaves it: copied
	// while the database is open, from another database.
	other := writeConfig(t, "")
	st := openStore(t, other)
	for _, name := range []string{"bob", "carol", "dave"} {
		addUser(t, other, name)
	}
	wal, err := os.ReadFile(dbOf(other) + "-wal")
	st.Close()
	if err != nil || len(wal) == 0 {
		t.Fatalf("no write-ahead log to copy: %d bytes, %v", len(wal), err)
	}
	dst := writeConfig(t, "")
	if err := os.WriteFile(dbOf(dst)+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}

	if code, out, errs := runCLI(t, nil, "", "restore", "--config", dst, "--from", backup); code != 0 {
		t.Fatalf("restore: %d %s %s", code, out, errs)
	}
	list := usernames(t, dst)
	if !strings.Contains(list, "alice") || strings.Contains(list, "bob") {
		t.Fatalf("restored database: %s", list)
	}
	if got := queryString(t, dbOf(dst), "PRAGMA integrity_check"); got != "ok" {
		t.Fatalf("integrity_check: %s", got)
	}
}

// Mistakes in how the commands are called name the flag.
func TestBackupRestoreFlags(t *testing.T) {
	cfg := writeConfig(t, "")
	missingDir := filepath.Join(t.TempDir(), "nope", "b.db")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"backup", "--config", cfg}, 2, "--to FILE is required"},
		{[]string{"backup", "--config", cfg, "b.db"}, 2, `unexpected argument "b.db"`},
		{[]string{"backup", "--config", cfg, "--bogus"}, 2, "-bogus"},
		{[]string{"backup", "--config", cfg, "--to", missingDir}, 1, "does not exist"},
		{[]string{"backup", "--config", cfg, "--to", filepath.Join(t.TempDir(), "b.db")}, 1, "does not exist; nothing to back up"},
		{[]string{"restore", "--config", cfg}, 2, "--from FILE is required"},
		{[]string{"restore", "--config", cfg, "--from"}, 2, "flag needs an argument: -from"},
		{[]string{"restore", "--config", cfg, "--from", missingDir}, 1, "--from:"},
	} {
		code, _, errs := runCLI(t, nil, "", c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("idp %v: exit %d %q; want %d with %q", c.args, code, errs, c.code, c.want)
		}
	}
	// The backup must not have created an empty database.
	if _, err := os.Stat(dbOf(cfg)); err == nil {
		t.Error("backup of a missing database created one")
	}
	addUser(t, cfg, "alice")
	code, _, errs := runCLI(t, nil, "", "backup", "--config", cfg, "--to", dbOf(cfg), "--force")
	if code != 1 || !strings.Contains(errs, "live database itself") {
		t.Errorf("backup onto the database: %d %q", code, errs)
	}
	code, _, errs = runCLI(t, nil, "", "restore", "--config", cfg, "--from", dbOf(cfg), "--force")
	if code != 1 || !strings.Contains(errs, "configured database itself") {
		t.Errorf("restore from the database: %d %q", code, errs)
	}
}

// PostgreSQL is backed up with its own tools: both commands say which.
func TestBackupRestorePostgresRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pg.yaml")
	if err := os.WriteFile(cfg, []byte("issuer: http://localhost:9000\ndatabase: {driver: postgres, dsn: \"postgres://idp@127.0.0.1:1/idp\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, nil, "", "backup", "--config", cfg, "--to", filepath.Join(dir, "b.db"))
	if code != 1 || !strings.Contains(errs, "pg_dump") || !strings.Contains(errs, "idp export") {
		t.Errorf("backup on postgres: %d %q", code, errs)
	}
	code, _, errs = runCLI(t, nil, "", "restore", "--config", cfg, "--from", filepath.Join(dir, "b.db"))
	if code != 1 || !strings.Contains(errs, "pg_restore") || !strings.Contains(errs, "idp import") {
		t.Errorf("restore on postgres: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.db")); err == nil {
		t.Error("a file was written")
	}
}

// Restore refuses a file that is not a SQLite database, a damaged one, a
// SQLite database that is not an idp one and one with migrations this
// binary does not know, and leaves the current database alone.
func TestRestoreRefusesBadBackups(t *testing.T) {
	cfg := writeConfig(t, "")
	addUser(t, cfg, "alice")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	if code, _, errs := runCLI(t, nil, "", "backup", "--config", cfg, "--to", good); code != 0 {
		t.Fatal(errs)
	}
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}

	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("this is not a database, just some text that is long enough\n"), 0o600)

	// Damage the users table's root page.
	corrupt := filepath.Join(dir, "corrupt.db")
	root := queryInt(t, good, "SELECT rootpage FROM sqlite_master WHERE name = 'users'")
	pageSize := queryInt(t, good, "PRAGMA page_size")
	damaged := append([]byte(nil), orig...)
	for i := 0; i < 64; i++ {
		damaged[(root-1)*pageSize+i] = 0xA5
	}
	os.WriteFile(corrupt, damaged, 0o600)

	future := filepath.Join(dir, "future.db")
	os.WriteFile(future, orig, 0o600)
	sqlExec(t, future, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', 0)")

	other := filepath.Join(dir, "other.db")
	sqlExec(t, other, "CREATE TABLE notes (body TEXT)")

	for _, c := range []struct{ file, want string }{
		{text, "is not a SQLite database"},
		{corrupt, "integrity_check"},
		{future, "migration 9999_from_the_future, which this idp does not know"},
		{other, "not an idp one"},
	} {
		code, _, errs := runCLI(t, nil, "", "restore", "--config", cfg, "--from", c.file, "--force")
		if code != 1 || !strings.HasPrefix(errs, "idp restore: --from: ") || !strings.Contains(errs, c.want) || !strings.Contains(errs, "nothing was changed") {
			t.Errorf("restore %s: exit %d %q; want 1 with %q", filepath.Base(c.file), code, errs, c.want)
		}
	}
	if !strings.Contains(usernames(t, cfg), "alice") {
		t.Fatal("the database changed")
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg))
	for _, e := range entries {
		if strings.Contains(e.Name(), "restore") {
			t.Errorf("a refused restore left %s", e.Name())
		}
	}
}

func queryString(t *testing.T, path, q string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s string
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func queryInt(t *testing.T, path, q string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func sqlExec(t *testing.T, path, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", stmt, err))
	}
}
