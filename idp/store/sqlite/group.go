package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// SQLite has one writer at a time, and under load a sign-in spent more
// time waiting for it than working: each write transaction took the
// connection, began, wrote its pages to the WAL and committed, while the
// others queued. The committer runs the writes that queue up meanwhile in
// one transaction instead, each inside its own savepoint: one commit (and
// one WAL append of the pages they share) for all of them, and a failing
// write still undoes only its own changes.
//
// A write fn runs on the committer's goroutine, so it must not call the
// store (that would wait for itself), and it must write only through the
// txn it is given. In a shared transaction its statements run to the end
// even if its caller gives up meanwhile: an interrupted statement would
// roll back the others' writes too. A caller that gave up before its write
// began is skipped; a write alone in its transaction can be interrupted
// (an import stopped with Ctrl-C).

// maxBatch bounds the writes of one transaction, so that a long queue
// still commits (and answers its callers) at a steady pace.
const maxBatch = 64

type writeJob struct {
	ctx context.Context
	fn  func(*txn) error
	err chan error // buffered: the committer never waits for the caller
}

type committer struct {
	db    *db
	queue chan *writeJob // unbuffered: what waits in it is the next batch
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	// committed is called after each commit (the checkpointer's kick).
	committed func()
}

var errClosed = errors.New("sqlite store: closed")

func newCommitter(d *db, committed func()) *committer {
	c := &committer{db: d, committed: committed, queue: make(chan *writeJob), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// write runs fn in a write transaction, with whatever other writes are
// waiting at the time, and returns fn's error or the commit's.
func (c *committer) write(ctx context.Context, fn func(*txn) error) error {
	j := &writeJob{ctx: ctx, fn: fn, err: make(chan error, 1)}
	select {
	case c.queue <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop:
		return errClosed
	}
	return <-j.err
}

// close stops taking writes once the current batch is committed.
func (c *committer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	batch := make([]*writeJob, 0, maxBatch)
	for {
		select {
		case j := <-c.queue:
			batch = append(batch[:0], j)
		case <-c.stop:
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case j := <-c.queue:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		c.run(batch)
		clear(batch)
	}
}

// run commits batch in one transaction and answers every job.
func (c *committer) run(batch []*writeJob) {
	// The batch's transaction belongs to no caller: a caller's context
	// ending must not roll back the others' writes.
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		for _, j := range batch {
			j.err <- fmt.Errorf("begin: %w", err)
		}
		return
	}
	if len(batch) == 1 { // nothing to keep apart: no savepoint, and the
		// caller's cancellation may interrupt its statements
		j := batch[0]
		if err := j.ctx.Err(); err != nil {
			_ = tx.Rollback()
			j.err <- err
			return
		}
		if err := j.fn(tx); err != nil {
			_ = tx.Rollback()
			j.err <- err
			return
		}
		j.err <- c.commit(tx)
		return
	}
	tx.detached = true
	var ok []*writeJob // written, waiting for the commit
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err <- err
			continue
		}
		if _, err := tx.Tx.Exec("SAVEPOINT write"); err != nil {
			c.abandon(tx, append(ok, batch[i:]...), err)
			return
		}
		if err := j.fn(tx); err != nil {
			if rerr := rollbackTo(tx); rerr != nil {
				// SQLite ended the whole transaction (disk full, I/O error):
				// nothing of this batch was written.
				j.err <- err
				c.abandon(tx, append(ok, batch[i+1:]...), rerr)
				return
			}
			j.err <- err
			continue
		}
		if _, err := tx.Tx.Exec("RELEASE write"); err != nil {
			c.abandon(tx, append(ok, batch[i:]...), err)
			return
		}
		ok = append(ok, j)
	}
	err = c.commit(tx)
	for _, j := range ok {
		j.err <- err
	}
}

// commit commits tx and, if it took, tells the checkpointer the log grew.
func (c *committer) commit(tx *txn) error {
	err := tx.Commit()
	if err == nil {
		c.committed()
	}
	return commitErr(err)
}

// abandon rolls the batch back and fails the jobs whose writes were lost.
func (c *committer) abandon(tx *txn, lost []*writeJob, cause error) {
	_ = tx.Rollback()
	for _, j := range lost {
		j.err <- fmt.Errorf("write batch failed: %w", cause)
	}
}

// rollbackTo undoes the current job's writes and leaves its savepoint.
func rollbackTo(tx *txn) error {
	if _, err := tx.Tx.Exec("ROLLBACK TO write"); err != nil {
		return err
	}
	_, err := tx.Tx.Exec("RELEASE write")
	return err
}

func commitErr(err error) error {
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// exec runs one write statement as a write of its own.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		res, err = tx.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}
