package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/pgtest"
)

// TestAuditAppendsDoNotWaitForEachOther: every sign-in appends an audit
// event, and the hourly counts kept with them must not make sign-ins on
// different replicas wait for each other's commits.
func TestAuditAppendsDoNotWaitForEachOther(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	at := time.Unix(1_800_000_000, 0)
	// One member's sign-in has appended its event and not committed.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `INSERT INTO audit_events (at, kind, user_id, method, result)
		VALUES ($1, 'signin.success', 'u1', 'passkey', 'ok')`, at.Unix()); err != nil {
		t.Fatal(err)
	}
	// Another member's, of the same kind in the same hour and week, goes
	// ahead meanwhile.
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	e := &store.AuditEvent{At: at, Kind: "signin.success", UserID: "u2", Method: "passkey", Result: "ok"}
	if err := s.AppendAudit(wait, e); err != nil {
		t.Fatalf("an append waited for another transaction's: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := s.CountAudit(ctx, at.Add(-time.Hour), []string{"signin.success"})
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[0].N != 2 {
		t.Errorf("counts = %+v, want the two events in one group", counts)
	}
	weeks, err := s.PasskeyAdoption(ctx, at, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(weeks) != 1 || weeks[0].Active != 2 {
		t.Errorf("adoption = %+v, want the two members active that week", weeks)
	}
}

// TestGCFoldsAuditCounts: the hourly audit counts and the weekly
// adoption counts are kept as a row per append; GC adds up the recent
// rows so readers sum a handful, and every count stays what it was.
func TestGCFoldsAuditCounts(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	// Ten past midnight on a Monday: the half hour before spans this hour
	// and week and the ones before.
	now := time.Date(2026, 11, 30, 0, 10, 0, 0, time.UTC)
	for i := range 30 {
		e := &store.AuditEvent{At: now.Add(-time.Duration(i) * time.Minute), Kind: "signin.success",
			UserID: fmt.Sprintf("u%d", i%10), Method: "pwd", Result: "ok"}
		if i%3 == 0 {
			e.Method = "passkey"
		}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	since := now.Add(-2 * time.Hour)
	read := func() ([]store.AuditCount, []store.WeekAdoption) {
		t.Helper()
		counts, err := s.CountAudit(ctx, since, nil)
		if err != nil {
			t.Fatal(err)
		}
		weeks, err := s.PasskeyAdoption(ctx, since, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(weeks) != 2 {
			t.Fatalf("adoption %+v, want two weeks", weeks)
		}
		return counts, weeks
	}
	counts, weeks := read()
	if _, err := s.GC(ctx, now); err != nil {
		t.Fatal(err)
	}
	if c, w := read(); !slices.Equal(c, counts) || !slices.Equal(w, weeks) {
		t.Errorf("counts before GC %+v %+v, after %+v %+v", counts, weeks, c, w)
	}
	// Folded counts are left alone by the next GC (no rewrite, no WAL
	// each minute on every replica).
	places := func() string {
		t.Helper()
		var p string
		if err := s.pool.QueryRow(ctx, `SELECT string_agg(ctid::text, ' ' ORDER BY ctid) FROM audit_hourly`).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	folded := places()
	if _, err := s.GC(ctx, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if again := places(); again != folded {
		t.Errorf("a second GC rewrote the folded counts: rows at %s, then at %s", folded, again)
	}
	for _, q := range []string{
		`SELECT COUNT(*), COUNT(DISTINCT (hour, kind, method, result, code, device)) FROM audit_hourly`,
		`SELECT COUNT(*), COUNT(DISTINCT week) FROM weekly_adoption`,
	} {
		var rows, groups int
		if err := s.pool.QueryRow(ctx, q).Scan(&rows, &groups); err != nil {
			t.Fatal(err)
		}
		if rows != groups {
			t.Errorf("after GC, %d rows for %d counts: %s", rows, groups, q)
		}
	}
}

// TestConcurrentPrunesCountTheCutHourOnce: every replica prunes the audit
// log each hour, and each counts the hour the cut falls in again. When
// one prunes while another's recount is in flight, the hour must still
// be counted once.
func TestConcurrentPrunesCountTheCutHourOnce(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.NewDatabase(t)
	s, other := openMigrated(t, dsn), open(t, dsn)
	cut := time.Unix(1_800_000_000-1_800_000_000%3600, 0)
	before := cut.Add(30 * time.Minute)
	for _, at := range []time.Duration{10, 10, 40, 40, 40} {
		e := &store.AuditEvent{At: cut.Add(at * time.Minute), Kind: "signin.success", Method: "pwd", Result: "ok"}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM audit_events WHERE at < $1`, before.Unix()); err != nil {
		t.Fatal(err)
	}
	// The other replica's recount, not committed yet.
	tx, err := other.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := recountCutHour(ctx, tx, cut.Unix()); err != nil {
		t.Fatal(err)
	}
	pruned := make(chan error, 1)
	go func() {
		_, err := s.PruneAudit(ctx, before)
		pruned <- err
	}()
	// Until this replica's prune waits for the other's.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second prune never waited for the first")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-pruned; err != nil {
		t.Fatal(err)
	}
	// Read from the hour's start: from its count, not its events.
	counts, err := s.CountAudit(ctx, cut, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[0].N != 3 {
		t.Errorf("counts after two prunes = %+v, want the 3 events kept", counts)
	}
}
