package sqlite

import (
	"fmt"
	"log/slog"
	"sync"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite journals the pages a savepoint or a statement changes, so that it
// can undo them: in memory up to a limit, 64 KiB by default, then in an
// unnamed temporary file. Each write of a batch runs in a savepoint
// (group.go), and a batch of refreshes changes more than 64 KiB of pages,
// so batches opened a temporary file and wrote each changed page into it:
// a third of the writer's pwrite calls under refresh load. Past
// stmtJournalSpill SQLite still spills to a file, so a statement changing
// a great many pages (deleting a member with years of audit events) keeps
// memory bounded.
//
// The limit is also the size of the journal's memory chunks, and SQLite
// writes a chunk to the file in one call of at most 128 KiB - 1 when it
// spills: a larger limit fails that spill with "database or disk is full".
const stmtJournalSpill = 120 << 10

// stmtJournalSpillErr is why the limit could not be set (nil once set).
// SQLite takes it only before its first connection opens: this package's
// init runs before any of its callers can open one.
var stmtJournalSpillErr = setStmtJournalSpill(stmtJournalSpill)

// warnJournalSpill says once, at the first Open, that the limit is not set:
// the store works as before, with more system calls.
var warnJournalSpill = sync.OnceFunc(func() {
	if stmtJournalSpillErr != nil {
		slog.Warn("sqlite: savepoint journals spill to temporary files at 64 KiB", "err", stmtJournalSpillErr)
	}
})

func setStmtJournalSpill(n int32) error {
	tls := libc.NewTLS()
	defer tls.Close()
	va := libc.NewVaList(n)
	if va == 0 {
		return fmt.Errorf("sqlite: statement journal spill: out of memory")
	}
	defer libc.Xfree(tls, va)
	if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_STMTJRNL_SPILL, va); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: statement journal spill: sqlite3_config returned %d", rc)
	}
	return nil
}
