package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// `idp backup` copies the database of a running provider while members
// sign in, without failing a single sign-in; the copy restores with
// `idp restore` over the database the provider crashed on (kill -9, its
// write-ahead log still next to it), and on the restored database every
// member in the backup signs in, while a member added after the backup
// is gone (kept in the replaced copy).
func TestBackupUnderLoadRestores(t *testing.T) {
	ctx := context.Background()
	s := newSQLiteProcess(t)
	logins := make([]string, 4)
	for i := range logins {
		logins[i] = fmt.Sprintf("member%d", i)
		if err := s.addMember(ctx, logins[i]); err != nil {
			t.Fatal(err)
		}
	}
	p := s.start(t, "backed up")
	oauth := siteOAuth(t, s.issuer)

	type span struct{ start, end time.Time }
	var (
		mu       sync.Mutex
		signIns  []span // successful sign-ins
		failures []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, login := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				_, err := newLoadClient(s.issuer, oauth).signIn(ctx, login, loadPassword)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					signIns = append(signIns, span{start, time.Now()})
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	// A member added while the load runs, before the backup: in the copy.
	if err := s.addMember(ctx, "during"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "idp-backup.db")
	started := time.Now()
	out, err := s.idp(ctx, "", "backup", "--to", backup)
	ended := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	during := 0 // successful sign-ins that overlapped the backup
	for _, sp := range signIns {
		if sp.start.Before(ended) && sp.end.After(started) {
			during++
		}
	}
	t.Logf("idp backup took %v, overlapping %d successful sign-ins (%d in all): %s",
		ended.Sub(started).Round(time.Millisecond), during, len(signIns), strings.TrimSpace(out))
	for _, f := range failures {
		t.Errorf("sign-in failed while the backup ran: %s", f)
	}
	if during == 0 {
		t.Error("no sign-in completed while the backup ran: the test did not overlap them")
	}
	if !strings.Contains(out, "5 member(s)") || !strings.Contains(out, "integrity ok") {
		t.Fatalf("backup summary: %q", out)
	}

	// After the backup: a new member, then a crash.
	if err := s.addMember(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	if out, err := s.idp(ctx, "", "restore", "--from", backup, "--force"); err == nil || !strings.Contains(out, "stop the provider") {
		t.Fatalf("restore while the provider runs: %v %s", err, out)
	}
	kill(t, p)
	if _, err := os.Stat(s.db + "-wal"); err != nil {
		t.Fatalf("no write-ahead log after the kill: %v", err)
	}
	out, err = s.idp(ctx, "", "restore", "--from", backup, "--force")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("idp restore: %s", strings.TrimSpace(out))
	_, kept, ok := strings.Cut(out, "kept as ")
	kept, _, _ = strings.Cut(kept, " ")
	if !ok || !column(t, kept, "SELECT username FROM users")["late"] {
		t.Fatalf("the replaced database was not kept whole (with its write-ahead log): %q", out)
	}

	s.start(t, "restored")
	integrityOK(t, s.db)
	users := column(t, s.db, "SELECT username FROM users")
	if users["late"] || len(users) != 5 {
		t.Fatalf("restored members: %v", users)
	}
	for _, login := range append(logins, "during") {
		if _, err := newLoadClient(s.issuer, oauth).signIn(ctx, login, loadPassword); err != nil {
			t.Errorf("after the restore: %v", err)
		}
	}
}
