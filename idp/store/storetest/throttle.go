package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testThrottleFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	n, last, err := s.Failures(ctx, "acct:u1", t0.Add(-time.Hour))
	must(t, err, "failures of an unknown key")
	if n != 0 || !last.IsZero() {
		t.Fatalf("unknown key: %d failures, last %v", n, last)
	}
	// Millisecond precision: the back-off starts at one second.
	for i := range 5 {
		at := t0.Add(time.Duration(i) * 1500 * time.Millisecond)
		must(t, s.RecordFailure(ctx, []string{"acct:u1", "ip:192.0.2.1"}, at), "record failure")
	}
	must(t, s.RecordFailure(ctx, []string{"ip:192.0.2.1"}, t0.Add(10*time.Second)), "record failure")

	check := func(key string, since time.Time, wantN int, wantLast time.Time) {
		t.Helper()
		n, last, err := s.Failures(ctx, key, since)
		must(t, err, "failures of "+key)
		if n != wantN || !last.Equal(wantLast) {
			t.Errorf("Failures(%s, since %v) = %d, %v; want %d, %v", key, since.Sub(t0), n, last, wantN, wantLast)
		}
	}
	check("acct:u1", t0, 5, t0.Add(6*time.Second))
	check("acct:u1", t0.Add(3*time.Second), 3, t0.Add(6*time.Second)) // at 3 s, 4.5 s and 6 s
	check("acct:u1", t0.Add(7*time.Second), 0, time.Time{})
	check("ip:192.0.2.1", t0, 6, t0.Add(10*time.Second))

	must(t, s.ClearFailures(ctx, "acct:u1"), "clear failures")
	check("acct:u1", t0, 0, time.Time{})
	check("ip:192.0.2.1", t0, 6, t0.Add(10*time.Second))
	must(t, s.ClearFailures(ctx, "acct:nobody"), "clearing an unknown key")
	must(t, s.RecordFailure(ctx, nil, t0), "recording under no key")
}

func testGCThrottleFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0.Add(2 * time.Hour)
	must(t, s.RecordFailure(ctx, []string{"k"}, now.Add(-store.ThrottleHorizon-time.Second)), "old failure")
	must(t, s.RecordFailure(ctx, []string{"k"}, now.Add(-store.ThrottleHorizon+time.Second)), "recent failure")
	st, err := s.GC(ctx, now)
	must(t, err, "gc")
	if st.Failures != 1 {
		t.Errorf("GC deleted %d failures, want 1", st.Failures)
	}
	if n, _, err := s.Failures(ctx, "k", time.Time{}); err != nil || n != 1 {
		t.Errorf("after GC: %d failures (%v), want 1", n, err)
	}
}

// A refresh token has at most one successor, ever: the used token keeps
// the sealed reply that carried it, and no write, rotation or plain
// insert, gives it a second child.
func testRefreshSingleSuccessor(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.IssueTokens(ctx, store.Issue{Access: newAccess("at1", "u1", "fam"), Refresh: newRefresh("rt1", "fam", "", "u1")}, t0), "first issue")
	rt1, err := s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "rt1")
	if rt1.Reply != nil {
		t.Errorf("an unused token has a reply: %x", rt1.Reply)
	}
	used := t0.Add(time.Minute)
	reply := []byte("sealed reply")
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Reply: reply, Access: newAccess("at2", "u1", "fam"),
		Refresh: newRefresh("rt2", "fam", "rt1", "u1")}, used), "rotate")
	rt1, err = s.RefreshTokenByHash(ctx, hash("refresh-rt1"))
	must(t, err, "rt1 by hash")
	if string(rt1.Reply) != string(reply) || rt1.UsedAt == nil || !rt1.UsedAt.Equal(used) {
		t.Errorf("rt1 after its use: reply %q used %v, want %q at %v", rt1.Reply, rt1.UsedAt, reply, used)
	}

	// A second rotation of rt1 is a conflict, and leaves nothing behind.
	err = s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at3", "u1", "fam"),
		Refresh: newRefresh("rt3", "fam", "rt1", "u1")}, used.Add(time.Second))
	wantIs(t, err, store.ErrConflict, "second rotation")
	_, err = s.AccessTokenByID(ctx, "at3")
	wantIs(t, err, store.ErrNotFound, "access token of the refused rotation")
	// Even a write that skips the rotation cannot give rt1 a second child.
	err = s.IssueTokens(ctx, store.Issue{Access: newAccess("at4", "u1", "fam"), Refresh: newRefresh("rt4", "fam", "rt1", "u1")}, used)
	wantIs(t, err, store.ErrConflict, "second child inserted without a rotation")
	_, err = s.RefreshTokenByID(ctx, "rt4")
	wantIs(t, err, store.ErrNotFound, "the refused second child")
}

// A reservation counts a key's failures as Failures does, records one
// failure per key when allowed, nothing when refused, and a release
// deletes exactly its own rows.
func testReserveAttempt(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.RecordFailure(ctx, []string{"login:a"}, t0.Add(-50*time.Minute)), "old failure")
	must(t, s.RecordFailure(ctx, []string{"login:a", "ip:1"}, t0.Add(-time.Minute)), "recent failure")
	q := []store.ThrottleQuery{
		{Key: "login:a", HourSince: t0.Add(-time.Hour), WindowSince: t0.Add(-15 * time.Minute)},
		{Key: "ip:1", HourSince: t0.Add(-time.Hour), WindowSince: t0.Add(-15 * time.Minute)},
	}
	var seen []store.ThrottleCount
	ticket, ok, err := s.ReserveAttempt(ctx, q, t0, func(c []store.ThrottleCount) bool { seen = c; return false })
	must(t, err, "refused reservation")
	want := []store.ThrottleCount{{Hourly: 2, Recent: 1, Last: t0.Add(-time.Minute)}, {Hourly: 1, Recent: 1, Last: t0.Add(-time.Minute)}}
	same := func(a, b store.ThrottleCount) bool {
		return a.Hourly == b.Hourly && a.Recent == b.Recent && a.Last.Equal(b.Last)
	}
	if ok || ticket != "" || len(seen) != 2 || !same(seen[0], want[0]) || !same(seen[1], want[1]) {
		t.Fatalf("refused reservation: %q %v, counts %+v, want %+v", ticket, ok, seen, want)
	}
	if n, _, _ := s.Failures(ctx, "login:a", time.Time{}); n != 2 {
		t.Fatalf("a refused reservation wrote: %d failures, want 2", n)
	}
	ticket, ok, err = s.ReserveAttempt(ctx, q, t0, func([]store.ThrottleCount) bool { return true })
	must(t, err, "reservation")
	if !ok || ticket == "" {
		t.Fatalf("allowed reservation: %q %v", ticket, ok)
	}
	other, _, err := s.ReserveAttempt(ctx, q[:1], t0.Add(time.Second), func([]store.ThrottleCount) bool { return true })
	must(t, err, "second reservation")
	if n, last, _ := s.Failures(ctx, "login:a", time.Time{}); n != 4 || !last.Equal(t0.Add(time.Second)) {
		t.Fatalf("after two reservations: %d failures, last %v", n, last)
	}
	must(t, s.ReleaseAttempt(ctx, ticket), "release")
	if n, _, _ := s.Failures(ctx, "login:a", time.Time{}); n != 3 {
		t.Errorf("after a release: %d failures of login:a, want 3", n)
	}
	if n, _, _ := s.Failures(ctx, "ip:1", time.Time{}); n != 1 {
		t.Errorf("after a release: %d failures of ip:1, want 1", n)
	}
	must(t, s.ReleaseAttempt(ctx, other), "release the other")
	must(t, s.ReleaseAttempt(ctx, "unknown"), "release an unknown ticket")
}

// Reservations made at the same moment each see the ones before them: with
// an allowance of 3, exactly 3 of many concurrent attempts go ahead.
func testConcurrentReservations(t *testing.T, s store.Store) {
	ctx := t.Context()
	q := []store.ThrottleQuery{{Key: "login:b", HourSince: t0.Add(-time.Hour), WindowSince: t0.Add(-time.Hour)}}
	var allowed atomic.Int32
	errs := race(func(int) error {
		_, ok, err := s.ReserveAttempt(ctx, q, t0, func(c []store.ThrottleCount) bool { return c[0].Recent < 3 })
		if ok {
			allowed.Add(1)
		}
		return err
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("reservation %d", i))
	}
	if n := allowed.Load(); n != 3 {
		t.Errorf("%d of %d concurrent reservations went ahead, want 3", n, concurrency)
	}
}
