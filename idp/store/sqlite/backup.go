package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/communityidp/idp/migrations"
)

// Errors of Backup and Restore that callers turn into advice.
var (
	// ErrNoDatabase: the database to back up does not exist.
	ErrNoDatabase = errors.New("the database does not exist")
	// ErrExists: the backup file is already there and overwrite was not
	// set.
	ErrExists = errors.New("the file already exists")
	// ErrInUse: another connection (a running provider, an idp command)
	// has the database open, so it cannot be replaced.
	ErrInUse = errors.New("the database is in use by another process")
	// ErrHasData: the database to restore over exists and replace was not
	// set.
	ErrHasData = errors.New("the database already exists")
)

// FileError is a problem with the file the caller named: the backup file
// to write (Backup) or the backup to restore (Restore, Inspect).
type FileError struct {
	Path    string
	Problem string // "is not a SQLite database", "fails PRAGMA integrity_check: ..."
	Err     error  // the cause, if any
}

func (e *FileError) Error() string {
	switch {
	case e.Problem == "" && e.Err != nil:
		return e.Err.Error()
	case e.Err != nil:
		return e.Path + " " + e.Problem + ": " + e.Err.Error()
	}
	return e.Path + " " + e.Problem
}

func (e *FileError) Unwrap() error { return e.Err }

// Summary describes a database file, as backup and restore report it.
type Summary struct {
	Path string
	Size int64
	// SchemaVersion is the highest migration the file has; Latest the
	// highest this binary knows (serve applies the difference).
	SchemaVersion, Latest int
	Users, Passkeys       int
}

// sqliteMagic starts every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// Backup writes a consistent copy of the live database at dbPath to to,
// while other processes keep reading and writing it.
//
// It runs VACUUM INTO on a read-only connection: one read transaction, so
// the copy is a snapshot of committed data and, in WAL mode, never blocks
// the provider's writer. The copy goes to a temporary file next to to, is
// fsynced and checked (Inspect) and only then renamed into place, so to is
// either untouched or a complete, checked copy, even if the machine stops
// half way. The copy is a plain rollback-journal file without -wal or -shm
// companions: it can be moved around as one file. An existing to is
// refused (ErrExists) unless overwrite is set.
func Backup(ctx context.Context, dbPath, to string, overwrite bool) (Summary, error) {
	src, err := existingDB(dbPath)
	if err != nil {
		return Summary{}, err
	}
	dst, err := filepath.Abs(to)
	if err != nil {
		return Summary{}, &FileError{Path: to, Err: err}
	}
	if err := checkTarget(dst, src, overwrite); err != nil {
		return Summary{}, err
	}

	tmp, err := tempFile(filepath.Dir(dst), ".idp-backup-*")
	if err != nil {
		return Summary{}, err
	}
	placed := false
	defer func() {
		if !placed {
			os.Remove(tmp)
		}
	}()
	if err := vacuumInto(ctx, src, tmp); err != nil {
		return Summary{}, fmt.Errorf("copy %s: %w", src, err)
	}
	if err := syncFile(tmp); err != nil {
		return Summary{}, err
	}
	sum, err := Inspect(ctx, tmp)
	if err != nil {
		// The live database itself is damaged, or the copy went wrong:
		// either way nothing is written where the admin expects a backup.
		return Summary{}, fmt.Errorf("the copy of %s failed its check, nothing was written (is the database damaged?): %v", src, err)
	}
	if err := place(tmp, dst, overwrite); err != nil {
		return Summary{}, err
	}
	placed = true
	sum.Path = dst
	return sum, nil
}

// existingDB resolves the database path and refuses one that does not
// exist: opening it would create an empty database and back that up.
func existingDB(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%w: empty path", ErrNoDatabase)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("database path %q: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", abs, ErrNoDatabase)
	}
	if err != nil {
		return "", fmt.Errorf("database %s: %w", abs, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("database %s is not a regular file", abs)
	}
	return abs, nil
}

// checkTarget refuses a backup destination that cannot or must not be
// written: in a missing directory, a directory, the live database itself,
// an existing file without overwrite.
func checkTarget(dst, src string, overwrite bool) error {
	dir := filepath.Dir(dst)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return &FileError{Path: dst, Problem: "cannot be written: directory " + dir + " does not exist"}
	}
	fi, err := os.Stat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return &FileError{Path: dst, Err: err}
	case fi.IsDir():
		return &FileError{Path: dst, Problem: "is a directory; name the backup file"}
	}
	if sfi, err := os.Stat(src); err == nil && os.SameFile(fi, sfi) {
		return &FileError{Path: dst, Problem: "is the live database itself"}
	}
	if !overwrite {
		return &FileError{Path: dst, Problem: "already exists", Err: ErrExists}
	}
	return nil
}

// place moves the finished temporary file to dst. Without overwrite it
// uses a hard link, which fails if dst appeared in the meantime instead of
// replacing it; file systems without hard links fall back to a rename.
func place(tmp, dst string, overwrite bool) error {
	if !overwrite {
		err := os.Link(tmp, dst)
		if errors.Is(err, fs.ErrExist) {
			return &FileError{Path: dst, Problem: "already exists", Err: ErrExists}
		}
		if err == nil {
			os.Remove(tmp)
			return syncDir(filepath.Dir(dst))
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("move the copy into place: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

// Inspect checks that the database file at path is sound (PRAGMA
// integrity_check) and that this binary knows every migration applied to
// it, and counts its members and passkeys. It opens the file read-only.
// Problems with the file itself are *FileError.
func Inspect(ctx context.Context, path string) (Summary, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Summary{}, &FileError{Path: path, Err: err}
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return Summary{}, &FileError{Path: abs, Problem: "does not exist"}
	}
	if err != nil {
		return Summary{}, &FileError{Path: abs, Err: err}
	}
	if !fi.Mode().IsRegular() {
		return Summary{}, &FileError{Path: abs, Problem: "is not a regular file"}
	}
	if err := checkMagic(abs); err != nil {
		return Summary{}, err
	}
	db, err := sql.Open("sqlite", dsn(abs, url.Values{"mode": {"ro"}, "_pragma": {"busy_timeout(10000)"}}))
	if err != nil {
		return Summary{}, fmt.Errorf("open %s: %w", abs, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	sum := Summary{Path: abs, Size: fi.Size()}

	problems, err := integrityCheck(ctx, db)
	if err != nil {
		return Summary{}, &FileError{Path: abs, Problem: "cannot be read as a database", Err: err}
	}
	if len(problems) > 0 {
		return Summary{}, &FileError{Path: abs, Problem: "fails PRAGMA integrity_check: " + strings.Join(problems, "; ")}
	}
	if sum.SchemaVersion, sum.Latest, err = checkMigrations(ctx, db, abs); err != nil {
		return Summary{}, err
	}
	if sum.Users, err = countRows(ctx, db, "users"); err != nil {
		return Summary{}, fmt.Errorf("inspect %s: %w", abs, err)
	}
	if sum.Passkeys, err = countRows(ctx, db, "passkeys"); err != nil {
		return Summary{}, fmt.Errorf("inspect %s: %w", abs, err)
	}
	return sum, nil
}

func checkMagic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &FileError{Path: path, Err: err}
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return &FileError{Path: path, Problem: "is not a SQLite database"}
	}
	return nil
}

// integrityCheck returns what PRAGMA integrity_check found wrong (at most
// a few lines), nil when it says "ok".
func integrityCheck(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check(5)")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		if line != "ok" {
			out = append(out, line)
		}
	}
	return out, rows.Err()
}

// checkMigrations compares the file's schema_migrations with the
// migrations this binary has: every applied one must be known, by version
// and name. An older file is fine (serve upgrades it); a newer one is not,
// since this binary would run on a schema it does not understand.
func checkMigrations(ctx context.Context, db *sql.DB, path string) (version, latest int, err error) {
	ms, err := migrations.For("sqlite")
	if err != nil {
		return 0, 0, err
	}
	known := map[int]string{}
	for _, m := range ms {
		known[m.Version] = m.Name
		latest = max(latest, m.Version)
	}
	ok, err := tableExists(ctx, db, "schema_migrations")
	if err != nil {
		return 0, 0, fmt.Errorf("inspect %s: %w", path, err)
	}
	if !ok {
		return 0, 0, &FileError{Path: path, Problem: "is a SQLite database but not an idp one (it has no schema_migrations table)"}
	}
	rows, err := db.QueryContext(ctx, "SELECT version, name FROM schema_migrations ORDER BY version")
	if err != nil {
		return 0, 0, fmt.Errorf("inspect %s: read schema_migrations: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return 0, 0, fmt.Errorf("inspect %s: read schema_migrations: %w", path, err)
		}
		if want, ok := known[v]; !ok || want != name {
			return 0, 0, &FileError{Path: path, Problem: fmt.Sprintf(
				"has migration %04d_%s, which this idp does not know (it knows up to %04d): it was made by another version of idp; restore it with that one",
				v, name, latest)}
		}
		version = max(version, v)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("inspect %s: read schema_migrations: %w", path, err)
	}
	return version, latest, nil
}

func tableExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(&n)
	return n > 0, err
}

// countRows counts a table's rows, 0 when an old schema lacks the table.
func countRows(ctx context.Context, db *sql.DB, table string) (int, error) {
	if ok, err := tableExists(ctx, db, table); err != nil || !ok {
		return 0, err
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// RestoreResult is what Restore did.
type RestoreResult struct {
	// Summary describes the restored database, at its configured path.
	Summary
	// Kept is where the database that was replaced now is, "" when there
	// was none.
	Kept string
}

// Restore puts the backup at from in place of the database at dbPath. The
// provider must be stopped.
//
// The backup is checked first (Inspect: problems are *FileError), then
// copied with VACUUM INTO to a temporary file next to dbPath and fsynced.
// If dbPath exists, Restore takes an exclusive lock on it (lockExclusive):
// while a running provider or an idp command has the database open the
// lock is refused and Restore returns ErrInUse, having changed nothing.
// An existing database is only replaced with replace set (ErrHasData
// otherwise). Holding the lock, Restore checkpoints the old database's
// write-ahead log into it, copies it to dbPath.before-restore-<UTC time>,
// removes its -wal, -shm and -journal files (left next to the new
// database, SQLite would replay them into it) and renames the new file
// over dbPath, then fsyncs the directory.
func Restore(ctx context.Context, from, dbPath string, replace bool, now time.Time) (RestoreResult, error) {
	target, err := filepath.Abs(dbPath)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("database path %q: %w", dbPath, err)
	}
	dir := filepath.Dir(target)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return RestoreResult{}, fmt.Errorf("the database's directory %s does not exist", dir)
	}
	src, err := filepath.Abs(from)
	if err != nil {
		return RestoreResult{}, &FileError{Path: from, Err: err}
	}
	if sfi, err := os.Stat(src); err == nil {
		if tfi, err := os.Stat(target); err == nil && os.SameFile(sfi, tfi) {
			return RestoreResult{}, &FileError{Path: src, Problem: "is the configured database itself"}
		}
	}
	sum, err := Inspect(ctx, src)
	if err != nil {
		return RestoreResult{}, err
	}

	tmp, err := tempFile(dir, ".idp-restore-*")
	if err != nil {
		return RestoreResult{}, err
	}
	placed := false
	defer func() {
		if !placed {
			os.Remove(tmp)
		}
	}()
	// VACUUM INTO rather than a byte copy: it reads through a -wal file
	// next to the backup, if any, and writes one self-contained file.
	if err := vacuumInto(ctx, src, tmp); err != nil {
		return RestoreResult{}, fmt.Errorf("copy %s next to the database: %w", src, err)
	}
	if err := syncFile(tmp); err != nil {
		return RestoreResult{}, err
	}

	res := RestoreResult{Summary: sum}
	res.Path = target
	fi, err := os.Stat(target)
	switch {
	case err == nil && fi.Size() > 0:
		lock, err := lockExclusive(ctx, target)
		if err != nil {
			return RestoreResult{}, err
		}
		// Held until the new file is in place: nothing opens the old
		// database in between. Closing it touches only the old file.
		defer lock.Close()
		if !replace {
			return RestoreResult{}, fmt.Errorf("%s: %w", target, ErrHasData)
		}
		if res.Kept, err = keepCopy(target, now); err != nil {
			return RestoreResult{}, err
		}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return RestoreResult{}, fmt.Errorf("the database: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(target + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return RestoreResult{}, fmt.Errorf("remove the old database's %s file: %w", suffix, err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return RestoreResult{}, fmt.Errorf("move the restored database into place: %w", err)
	}
	placed = true
	if err := syncDir(dir); err != nil {
		return RestoreResult{}, err
	}
	if fi, err := os.Stat(target); err == nil {
		res.Size = fi.Size()
	}
	return res, nil
}

// lockConn is a connection holding an exclusive lock on a database file
// until closed.
type lockConn struct{ db *sql.DB }

func (l lockConn) Close() error { return l.db.Close() }

// lockExclusive takes an exclusive lock on the database at path and
// checkpoints its write-ahead log, so the main file holds every committed
// transaction and the log is empty.
//
// In WAL mode BEGIN EXCLUSIVE does not keep readers out, and an idle
// provider holds no transaction at all; but every open WAL connection
// keeps a shared lock on the database file. A connection in
// locking_mode=EXCLUSIVE asks for an exclusive lock on the file at its
// first read, which is refused (SQLITE_BUSY after the short busy timeout)
// while anyone else has the database open and, once granted, keeps others
// out until it closes.
func lockExclusive(ctx context.Context, path string) (lockConn, error) {
	db, err := sql.Open("sqlite", dsn(path, url.Values{"_pragma": {"busy_timeout(2000)", "locking_mode(EXCLUSIVE)"}}))
	if err != nil {
		return lockConn{}, fmt.Errorf("open %s: %w", path, err)
	}
	holdOne(db)
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master").Scan(&n)
	if err == nil {
		_, err = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if err != nil {
		db.Close()
		if isBusy(err) {
			return lockConn{}, fmt.Errorf("%s: %w", path, ErrInUse)
		}
		return lockConn{}, fmt.Errorf("lock the current database %s: %w (if it is damaged, stop the provider, move it and its -wal and -shm files away, and restore again)", path, err)
	}
	return lockConn{db: db}, nil
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff // the primary code, without the extended bits
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

// keepCopy copies the (checkpointed, locked) database at path to
// path.before-restore-<time> and returns that name.
func keepCopy(path string, now time.Time) (string, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("keep a copy of the current database: %w", err)
	}
	defer in.Close()
	base := path + ".before-restore-" + now.UTC().Format("20060102T150405Z")
	name := base
	var out *os.File
	for i := 1; ; i++ {
		out, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			break
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	if err != nil {
		return "", fmt.Errorf("keep a copy of the current database: %w", err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("keep a copy of the current database as %s: %w", name, err)
	}
	return name, nil
}

// vacuumInto writes a snapshot of the database at src into the empty file
// dst through a read-only connection (mode=ro: this never writes to the
// live database).
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", dsn(src, url.Values{"mode": {"ro"}, "_pragma": {"busy_timeout(10000)"}}))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("VACUUM INTO: %w", err)
	}
	return db.Close()
}

// tempFile creates an empty file (mode 0600: databases hold password
// hashes and keys) in dir and returns its name. VACUUM INTO accepts an
// empty existing file.
func tempFile(dir, pattern string) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("create a temporary file in %s: %w", dir, err)
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("create a temporary file in %s: %w", dir, err)
	}
	return name, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
