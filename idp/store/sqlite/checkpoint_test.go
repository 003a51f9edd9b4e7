package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fileSize is the size of the file at path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Commits reach the database file without the writer checkpointing: the
// checkpointer copies the log after them. Far below the writer's own
// checkpoint (writerCheckpointPages), the file grows only if it does.
func TestCheckpointerCopiesTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	s := openMigrated(t, path)
	time.Sleep(2 * minCheckpointPause) // the migration's own checkpoint, if one is due
	before := fileSize(t, path)

	// About 100 pages of rows, in commits of their own.
	for i := range 100 {
		name := fmt.Sprintf("%04d-%s", i, string(make([]byte, 3000)))
		if err := s.commits.write(t.Context(), insertJob(t.Context(), name, nil).fn); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for fileSize(t, path) < before+100*4096 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d -> %d bytes: the log was not copied into it", before, fileSize(t, path))
		}
		time.Sleep(minCheckpointPause)
	}
	if n := len(tokenNames(t, s)); n != 100 {
		t.Errorf("%d rows after the checkpoints, want 100", n)
	}
}

// Close stops the checkpointer: a kick after it starts nothing and does
// not block.
func TestCheckpointerStopsOnClose(t *testing.T) {
	s := newTestStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.checkpoints.done:
	default:
		t.Fatal("the checkpointer still runs after Close")
	}
	s.checkpoints.committed()
	s.checkpoints.committed()
}
