package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.SQLite(t) })
}

// TestReplicas opens the same file twice, as two replicas or the CLI next
// to the server would. Read-then-write transactions from both must wait
// for each other (BEGIN IMMEDIATE + busy_timeout), not fail with
// SQLITE_BUSY.
func TestReplicas(t *testing.T) {
	storetest.RunReplicas(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "idp.db")
		return storetest.SQLiteAt(t, path), storetest.SQLiteAt(t, path)
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return storetest.SQLite(b) })
}
