package storetest

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store/sqlite"
)

// SQLite is a fresh, migrated SQLite store in t's temporary directory,
// closed when t ends: the store most tests want.
func SQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	return SQLiteAt(t, filepath.Join(t.TempDir(), "idp.db"))
}

// SQLiteAt opens and migrates the SQLite database at path (twice for two
// replicas of one file), closed when t ends.
func SQLiteAt(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate %s: %v", path, err)
	}
	return s
}

// Clock is a test's clock: it stands still until told to move, and is
// safe to read from several goroutines.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
