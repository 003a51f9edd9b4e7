package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// insertJob is a write that adds one setup token named name, then fails
// with fail when it is set.
func insertJob(ctx context.Context, name string, fail error) *writeJob {
	return &writeJob{ctx: ctx, err: make(chan error, 1), fn: func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?, ?)`,
			[]byte(name), time.Now().Add(time.Hour).Unix()); err != nil {
			return err
		}
		return fail
	}}
}

func tokenNames(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.reader.QueryContext(t.Context(), `SELECT token_hash FROM setup_tokens`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		got[string(b)] = true
	}
	return got
}

// One batch, one commit: each write keeps its own outcome. A write that
// fails leaves nothing behind, one whose caller gave up before it began
// does not run, and the others are committed.
func TestBatchKeepsWritesApart(t *testing.T) {
	s := newTestStore(t)
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	boom := errors.New("boom")
	ctx := t.Context()
	batch := []*writeJob{
		insertJob(ctx, "a", nil),
		insertJob(ctx, "b", boom),
		insertJob(gone, "c", nil),
		insertJob(ctx, "a", nil), // a conflict with the first
		insertJob(ctx, "d", nil),
	}
	s.commits.run(batch)
	errs := make([]error, len(batch))
	for i, j := range batch {
		errs[i] = <-j.err
	}
	var conflict *store.ConflictError
	switch {
	case errs[0] != nil || errs[4] != nil:
		t.Errorf("good writes failed: %v, %v", errs[0], errs[4])
	case !errors.Is(errs[1], boom):
		t.Errorf("failing write: %v", errs[1])
	case !errors.Is(errs[2], context.Canceled):
		t.Errorf("write of a caller who left: %v", errs[2])
	case !errors.As(mapErr(errs[3]), &conflict):
		t.Errorf("conflicting write: %v", errs[3])
	}
	if got := tokenNames(t, s); len(got) != 2 || !got["a"] || !got["d"] {
		t.Errorf("committed %v, want a and d", got)
	}
}

// Many writers at once: every write is answered with its own outcome.
func TestConcurrentWrites(t *testing.T) {
	s := newTestStore(t)
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprint(i % (n / 2)) // every name twice
			var fail error
			if i%7 == 0 {
				fail = errors.New("refused")
			}
			j := insertJob(t.Context(), name, fail)
			errs[i] = s.commits.write(t.Context(), j.fn)
		})
	}
	wg.Wait()
	want := map[string]bool{}
	for i, err := range errs {
		if err == nil {
			name := fmt.Sprint(i % (n / 2))
			if want[name] {
				t.Fatalf("%s written twice", name)
			}
			want[name] = true
		}
	}
	got := tokenNames(t, s)
	if len(got) != len(want) {
		t.Fatalf("%d rows for %d successful writes", len(got), len(want))
	}
	for name := range want {
		if !got[name] {
			t.Errorf("write of %s succeeded but is not there", name)
		}
	}
}

// A closed store answers writes instead of leaving them waiting.
func TestWriteAfterClose(t *testing.T) {
	s := newTestStore(t)
	s.Close()
	if err := s.commits.write(t.Context(), func(*txn) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// A write alone in its transaction stops when its caller gives up; in a
// shared one it runs to the end, so as not to undo the others' writes.
func TestCancelAloneOrShared(t *testing.T) {
	s := newTestStore(t)
	cancelling := func(name string) *writeJob {
		ctx, cancel := context.WithCancel(t.Context())
		j := insertJob(ctx, name, nil)
		insert := j.fn
		j.fn = func(tx *txn) error { cancel(); return insert(tx) }
		return j
	}
	alone := cancelling("alone")
	s.commits.run([]*writeJob{alone})
	if err := <-alone.err; err == nil {
		t.Error("a write alone went on after its caller gave up")
	}
	shared, other := cancelling("shared"), insertJob(t.Context(), "other", nil)
	s.commits.run([]*writeJob{other, shared})
	if err := errors.Join(<-other.err, <-shared.err); err != nil {
		t.Errorf("shared batch: %v", err)
	}
	if got := tokenNames(t, s); len(got) != 2 || !got["shared"] || !got["other"] {
		t.Errorf("committed %v, want shared and other", got)
	}
}
