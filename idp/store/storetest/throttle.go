package storetest

import (
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

// A refresh token retried within the grace rotates again and revokes the
// child nobody used; once a child was used, the retry is a conflict.
func testRefreshReuseGrace(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.IssueTokens(ctx, store.Issue{Access: newAccess("at1", "u1", "fam"), Refresh: newRefresh("rt1", "fam", "", "u1")}, t0), "first issue")
	used := t0.Add(time.Minute)
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at2", "u1", "fam"),
		Refresh: newRefresh("rt2", "fam", "rt1", "u1")}, used), "rotate")

	retry := used.Add(10 * time.Second)
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", ReuseSince: retry.Add(-30 * time.Second),
		Access: newAccess("at3", "u1", "fam"), Refresh: newRefresh("rt3", "fam", "rt1", "u1")}, retry), "retry within the grace")
	rt1, err := s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "rt1")
	if rt1.UsedAt == nil || !rt1.UsedAt.Equal(used) {
		t.Errorf("rt1 UsedAt = %v after the retry, want the first use %v", rt1.UsedAt, used)
	}
	rt2, err := s.RefreshTokenByID(ctx, "rt2")
	must(t, err, "rt2")
	if rt2.RevokedAt == nil {
		t.Error("the unused child rt2 is not revoked after the retry")
	}
	rt3, err := s.RefreshTokenByID(ctx, "rt3")
	must(t, err, "rt3")
	if rt3.RevokedAt != nil || rt3.UsedAt != nil {
		t.Errorf("the retry's child rt3: revoked %v used %v", rt3.RevokedAt, rt3.UsedAt)
	}

	// Outside the grace: the first use is before ReuseSince.
	late := used.Add(time.Hour)
	err = s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", ReuseSince: late.Add(-30 * time.Second),
		Access: newAccess("at4", "u1", "fam"), Refresh: newRefresh("rt4", "fam", "rt1", "u1")}, late)
	wantIs(t, err, store.ErrConflict, "retry outside the grace")

	// rt3 used: rt1 is no longer retryable, even within the grace.
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt3", Access: newAccess("at5", "u1", "fam"),
		Refresh: newRefresh("rt5", "fam", "rt3", "u1")}, retry.Add(time.Second)), "use rt3")
	err = s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", ReuseSince: retry.Add(-30 * time.Second),
		Access: newAccess("at6", "u1", "fam"), Refresh: newRefresh("rt6", "fam", "rt1", "u1")}, retry.Add(2*time.Second))
	wantIs(t, err, store.ErrConflict, "retry after a child was used")
	_, err = s.RefreshTokenByID(ctx, "rt6")
	wantIs(t, err, store.ErrNotFound, "child of the refused retry")
	rt5, err := s.RefreshTokenByID(ctx, "rt5")
	must(t, err, "rt5")
	if rt5.RevokedAt != nil {
		t.Error("a refused retry revoked the live token; revoking the family is the caller's decision")
	}
}
