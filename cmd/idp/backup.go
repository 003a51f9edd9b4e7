package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/store/sqlite"
)

// backupCmd writes an online copy of the SQLite database: the provider
// keeps serving while it runs.
func backupCmd(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("backup")
	cfgPath := c.configFlag(fs)
	to := fs.String("to", "", "write the copy to `FILE` (required; refused if it exists, unless --force)")
	force := fs.Bool("force", false, "replace the --to file if it exists")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q: name the backup file with --to", fs.Arg(0))}
	}
	if *to == "" {
		return usageError{"--to FILE is required: the file to write the copy to"}
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := sqliteOnly(cfg, "pg_dump -Fc", "idp export"); err != nil {
		return err
	}
	sum, err := sqlite.Backup(ctx, cfg.Database.DSN, *to, *force)
	var fe *sqlite.FileError
	switch {
	case errors.Is(err, sqlite.ErrExists):
		return fmt.Errorf("--to: %s already exists; choose another name, or add --force to replace it", *to)
	case errors.As(err, &fe):
		return fmt.Errorf("--to: %w", err)
	case errors.Is(err, sqlite.ErrNoDatabase):
		return fmt.Errorf("the database %s (database.dsn) does not exist; nothing to back up", cfg.Database.DSN)
	case err != nil:
		return fmt.Errorf("backup of %s: %w", cfg.Database.DSN, err)
	}
	fmt.Fprintf(c.stdout, "backup written to %s: %s, %d member(s), %d passkey(s), schema %d, integrity ok (it holds password hashes and signing keys: keep it safe)\n",
		sum.Path, size(sum.Size), sum.Users, sum.Passkeys, sum.SchemaVersion)
	return nil
}

// restoreCmd replaces the SQLite database with a backup. The provider must
// be stopped: a database still open elsewhere is refused.
func restoreCmd(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("restore")
	cfgPath := c.configFlag(fs)
	from := fs.String("from", "", "the backup `FILE` to restore (made by idp backup; required)")
	force := fs.Bool("force", false, "replace the configured database if it exists (it is kept as DB.before-restore-<time>)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q: name the backup file with --from", fs.Arg(0))}
	}
	if *from == "" {
		return usageError{"--from FILE is required: the backup to restore"}
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := sqliteOnly(cfg, "pg_restore", "idp import"); err != nil {
		return err
	}
	res, err := sqlite.Restore(ctx, *from, cfg.Database.DSN, *force, time.Now())
	var fe *sqlite.FileError
	switch {
	case errors.As(err, &fe):
		return fmt.Errorf("--from: %w; nothing was changed", err)
	case errors.Is(err, sqlite.ErrInUse):
		return fmt.Errorf("the database %s is open in another process: stop the provider (and any idp command using it), then run restore again; nothing was changed", cfg.Database.DSN)
	case errors.Is(err, sqlite.ErrHasData):
		return fmt.Errorf("the database %s already exists; restoring replaces it: run again with --force (the current database is kept as %s.before-restore-<time>); nothing was changed",
			cfg.Database.DSN, cfg.Database.DSN)
	case err != nil:
		return fmt.Errorf("restore %s: %w", cfg.Database.DSN, err)
	}
	fmt.Fprintf(c.stdout, "restored %s from %s: %d member(s), %d passkey(s), schema %d\n", res.Path, *from, res.Users, res.Passkeys, res.SchemaVersion)
	if res.SchemaVersion < res.Latest {
		fmt.Fprintf(c.stdout, "the backup has schema %d: idp serve upgrades it to %d when it starts\n", res.SchemaVersion, res.Latest)
	}
	if res.Kept != "" {
		fmt.Fprintf(c.stdout, "the database it replaced is kept as %s (delete it once the provider works)\n", res.Kept)
	}
	return nil
}

// sqliteOnly refuses a PostgreSQL configuration, naming the tools that back
// up and restore one.
func sqliteOnly(cfg config.Config, pgTool, idpTool string) error {
	switch cfg.Database.Driver {
	case "sqlite":
		return nil
	case "postgres":
		return fmt.Errorf("database.driver is postgres: use %s for PostgreSQL (see Backups in the README), or `%s` for a portable dump", pgTool, idpTool)
	}
	return fmt.Errorf("database.driver %q is not supported", cfg.Database.Driver)
}

// size formats a byte count for people.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
