package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// SQLite copies the write-ahead log back into the database file in a
// checkpoint, which syncs both files to disk. Left to itself it runs one
// in the commit that crosses wal_autocheckpoint pages, on the writer
// connection, and every write queued behind that commit waits for the two
// syncs: under sign-in load here that was 7 checkpoints a second of about
// 5 ms each, and with fsync off passkey flows and refreshes ran 12-14%
// faster. The checkpointer takes that copy off the writer's path: after
// commits it runs a PASSIVE checkpoint on a connection of its own, which
// never blocks the writer or the readers.
//
// Each checkpoint costs two syncs however little it copies: run after
// every commit, 50 a second, they cost password sign-ins (which write
// little and need the cores) 4% of their throughput. Spaced to copy 1,000
// pages each, as SQLite's own are, they stall the writer again (longer
// syncs) and the gain is gone. So the checkpointer paces itself by the
// log's growth, to copy about checkpointPages each time, but runs no more
// often than every minCheckpointPause: under passkey sign-ins that is
// every 20 ms, under password sign-ins about ten a second.
//
// A passive checkpoint cannot restart the log while writes keep coming, so
// the writer still checkpoints at writerCheckpointPages. By then the
// checkpointer has copied and synced nearly every page, so the writer's
// own checkpoint is short; right after it the log starts again from its
// beginning. The log file stays under about 17 MB (4,000 pages and their
// frame headers).

// checkpointPages is about how many pages a checkpoint should copy.
const checkpointPages = 100

// minCheckpointPause and maxCheckpointPause bound the wait between two
// checkpoints.
const (
	minCheckpointPause = 20 * time.Millisecond
	maxCheckpointPause = time.Second
)

// writerCheckpointPages is the writer's own wal_autocheckpoint: the log
// size (in pages) at which it restarts the log itself.
const writerCheckpointPages = 4000

type checkpointer struct {
	conn *sql.DB // one connection, not query_only: a checkpoint writes
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// The log's size at the last checkpoint, and when that was.
	lastFrames int
	lastAt     time.Time
}

func newCheckpointer(conn *sql.DB) *checkpointer {
	c := &checkpointer{conn: conn, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), lastAt: time.Now()}
	go c.loop()
	return c
}

// committed tells the checkpointer that the log grew; it never waits.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default: // a checkpoint is already due
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		select {
		case <-time.After(c.checkpoint()):
		case <-c.stop:
			return
		}
	}
}

// checkpoint copies what the log holds beyond the last checkpoint into
// the database file, as far as no reader still needs the older pages, and
// returns how long to wait before the next one: the time the log takes to
// grow by checkpointPages at the pace it grew since the last.
func (c *checkpointer) checkpoint() time.Duration {
	var busy, frames, copied int
	err := c.conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	if err != nil {
		slog.Warn("sqlite checkpoint", "error", err)
		return maxCheckpointPause
	}
	if busy != 0 { // the writer is checkpointing itself: it is busy writing
		return minCheckpointPause
	}
	now := time.Now()
	grown, elapsed := frames-c.lastFrames, min(now.Sub(c.lastAt), time.Hour) // no overflow below
	c.lastFrames, c.lastAt = frames, now
	switch {
	case grown < 0: // the writer restarted the log: how much it wrote is unknown
		return minCheckpointPause
	case grown == 0:
		return maxCheckpointPause
	}
	return min(max(elapsed*checkpointPages/time.Duration(grown), minCheckpointPause), maxCheckpointPause)
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return c.conn.Close()
}
