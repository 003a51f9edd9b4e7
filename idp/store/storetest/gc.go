package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testGC(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	past, future, far := now.Add(-time.Second), now.Add(time.Second), now.Add(72*time.Hour)

	// Auth requests.
	ar := func(id string, expires time.Time, codeExpires time.Time, consumed bool) {
		a := newAuthRequest(id)
		a.ExpiresAt = expires
		if !codeExpires.IsZero() {
			a.Done, a.Subject, a.AuthTime = true, "u1", t0
			a.CodeHash, a.CodeExpiresAt = hash("code-"+id), codeExpires
		}
		if consumed {
			c := t0
			a.ConsumedAt, a.IssuedAccessTokenID = &c, "at-"+id
		}
		must(t, s.CreateAuthRequest(ctx, a), "create auth request "+id)
	}
	ar("ar-expired", past, time.Time{}, false)
	ar("ar-live", future, time.Time{}, false)
	ar("ar-code-live", past, future, false)
	ar("ar-consumed-old", past, past, true)
	ar("ar-tombstone", future, past, true)

	// Access tokens, and refresh tokens each issued with a live access token.
	at := func(id string, expires time.Time) *store.AccessToken {
		a := newAccess(id, "u1", "")
		a.ExpiresAt = expires
		return a
	}
	must(t, s.IssueTokens(ctx, store.Issue{Access: at("at-expired", past)}, t0), "issue")
	must(t, s.IssueTokens(ctx, store.Issue{Access: at("at-live", future)}, t0), "issue")
	rt := func(id string, expires, familyExpires time.Time, used, revoked bool) {
		r := newRefresh(id, "fam-"+id, "", "u1")
		r.ExpiresAt, r.FamilyExpiresAt = expires, familyExpires
		if used {
			r.UsedAt = &t0
		}
		if revoked {
			r.RevokedAt = &t0
		}
		must(t, s.IssueTokens(ctx, store.Issue{Access: at("at-"+id, far), Refresh: r}, t0), "issue "+id)
	}
	rt("rt-expired", past, far, false, false)
	rt("rt-used", past, future, true, false)
	rt("rt-family-over", past, past, true, false)
	rt("rt-live", future, far, false, false)
	rt("rt-revoked", past, far, false, true)
	rt("rt-revoked-live", future, far, false, true)
	rt("rt-used-revoked", past, far, true, true)

	// Sessions.
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	sess := func(id string, idle, abs time.Time) {
		ss := newSession(id, "u1", t0)
		ss.IdleExpiresAt, ss.ExpiresAt = idle, abs
		must(t, s.CreateSession(ctx, ss), "create session "+id)
	}
	sess("s-expired", future, past)
	sess("s-idle", past, far)
	sess("s-live", future, far)

	// Setup tokens.
	must(t, s.CreateSetupToken(ctx, hash("setup-expired"), past), "create setup token")
	must(t, s.CreateSetupToken(ctx, hash("setup-live"), future), "create setup token")

	// Signing keys: k1 retired in the past, k2 retiring later, k3 active.
	must(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0), "", time.Time{}), "k1")
	must(t, s.RotateSigningKey(ctx, newKey("k2", "RS256", t0.Add(time.Second)), "k1", past), "k2")
	must(t, s.RotateSigningKey(ctx, newKey("k3", "RS256", t0.Add(2*time.Second)), "k2", future), "k3")

	st, err := s.GC(ctx, now)
	must(t, err, "gc")
	want := store.GCStats{AuthRequests: 2, AccessTokens: 1, RefreshTokens: 4, Sessions: 2, SetupTokens: 1, SigningKeys: 1}
	if st != want {
		t.Errorf("GC = %+v, want %+v", st, want)
	}

	gone := func(what string, err error) {
		t.Helper()
		wantIs(t, err, store.ErrNotFound, what+" after GC")
	}
	kept := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s after GC: %v, want kept", what, err)
		}
	}
	for id, keep := range map[string]bool{"ar-expired": false, "ar-live": true, "ar-code-live": true, "ar-consumed-old": false, "ar-tombstone": true} {
		_, err := s.AuthRequestByID(ctx, id)
		if keep {
			kept(id, err)
		} else {
			gone(id, err)
		}
	}
	_, err = s.AccessTokenByID(ctx, "at-expired")
	gone("at-expired", err)
	_, err = s.AccessTokenByID(ctx, "at-live")
	kept("at-live", err)
	for id, keep := range map[string]bool{"rt-expired": false, "rt-used": true, "rt-family-over": false, "rt-live": true,
		"rt-revoked": false, "rt-revoked-live": true, "rt-used-revoked": false} {
		_, err := s.RefreshTokenByID(ctx, id)
		if keep {
			kept(id, err)
		} else {
			gone(id, err)
		}
	}
	for id, keep := range map[string]bool{"s-expired": false, "s-idle": false, "s-live": true} {
		_, err := s.SessionByID(ctx, id)
		if keep {
			kept(id, err)
		} else {
			gone(id, err)
		}
	}
	for tok, want := range map[string]bool{"setup-expired": false, "setup-live": true} {
		ok, err := s.SetupTokenValid(ctx, hash(tok), t0)
		must(t, err, "setup token valid")
		if ok != want {
			t.Errorf("setup token %s valid at t0 = %v after GC, want %v", tok, ok, want)
		}
	}
	keys, err := s.SigningKeys(ctx)
	must(t, err, "signing keys")
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if !slices.Equal(ids, []string{"k3", "k2"}) {
		t.Errorf("keys after GC = %v, want [k3 k2]", ids)
	}

	st, err = s.GC(ctx, now)
	must(t, err, "second gc")
	if st.Total() != 0 {
		t.Errorf("second GC at the same time deleted %+v", st)
	}
}

func testGCKeeps(t *testing.T, s store.Store) {
	ctx := t.Context()

	// A redeemed request whose code expired stays until the request itself
	// expires, so a replay can still revoke what it issued.
	redeemable(t, s, "ar1", "code")
	ar, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	at := newAccess("at1", "u1", "fam")
	at.ExpiresAt = ar.ExpiresAt.Add(time.Hour) // outlives the request
	must(t, s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: at,
		Refresh: newRefresh("rt1", "fam", "", "u1")}, t0), "redeem")
	// Redemption extends the tombstone to the access token's expiry.
	ar, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id after redemption")
	if !ar.ExpiresAt.Equal(at.ExpiresAt) {
		t.Fatalf("tombstone expires at %v, want the access token's %v", ar.ExpiresAt, at.ExpiresAt)
	}
	if ar.CodeExpiresAt.After(ar.ExpiresAt) {
		t.Fatalf("fixture: code expires after the request")
	}
	_, err = s.GC(ctx, ar.CodeExpiresAt.Add(time.Second))
	must(t, err, "gc")
	_, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "tombstone after its code expired")
	_, err = s.GC(ctx, ar.ExpiresAt)
	must(t, err, "gc")
	_, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "tombstone at its expiry")
	st, err := s.GC(ctx, ar.ExpiresAt.Add(time.Second))
	must(t, err, "gc")
	_, err = s.AuthRequestByID(ctx, "ar1")
	wantIs(t, err, store.ErrNotFound, "tombstone after its expiry")
	if st.AuthRequests != 1 {
		t.Errorf("GC deleted %d auth requests, want 1", st.AuthRequests)
	}

	// A used refresh token stays after its own expiry until its family
	// expires, so presenting it again is detected as a replay.
	rt1, err := s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "refresh token")
	child := newRefresh("rt2", "fam", "rt1", "u1")
	child.ExpiresAt = child.FamilyExpiresAt // outlives rt1, so only the family expiry removes it
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at2", "u1", "fam"), Refresh: child}, t0), "rotate")
	afterExpiry := rt1.ExpiresAt.Add(time.Second)
	if !afterExpiry.Before(rt1.FamilyExpiresAt) {
		t.Fatalf("fixture: family expires before the token")
	}
	_, err = s.GC(ctx, afterExpiry)
	must(t, err, "gc")
	got, err := s.RefreshTokenByHash(ctx, rt1.TokenHash)
	must(t, err, "used refresh token after its expiry")
	if got.UsedAt == nil {
		t.Error("kept token lost its UsedAt")
	}
	_, err = s.GC(ctx, rt1.FamilyExpiresAt)
	must(t, err, "gc")
	_, err = s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "used refresh token at its family's expiry")
	st, err = s.GC(ctx, rt1.FamilyExpiresAt.Add(time.Second))
	must(t, err, "gc")
	for _, id := range []string{"rt1", "rt2"} {
		_, err = s.RefreshTokenByID(ctx, id)
		wantIs(t, err, store.ErrNotFound, id+" after its family expired")
	}
	if st.RefreshTokens != 2 {
		t.Errorf("GC deleted %d refresh tokens, want 2", st.RefreshTokens)
	}
}

func testGCCeremoniesAndSnoozes(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	past, future := now.Add(-time.Second), now.Add(time.Second)

	must(t, s.CreateCeremony(ctx, newCeremony("c-expired", "login", "", past)), "create ceremony")
	must(t, s.CreateCeremony(ctx, newCeremony("c-at-now", "login", "", now)), "create ceremony")
	must(t, s.CreateCeremony(ctx, newCeremony("c-live", "register", "u3", future)), "create ceremony")
	for _, u := range []struct {
		id    string
		until time.Time
	}{{"u1", past}, {"u2", now}, {"u3", future}} {
		must(t, s.CreateUser(ctx, newUser(u.id, "user-"+u.id, "")), "create user "+u.id)
		must(t, s.SnoozeSuggestion(ctx, u.id, u.until), "snooze "+u.id)
	}
	// A snooze in the past is still reported until GC removes it; callers
	// compare it with their clock.
	until, err := s.SuggestionSnoozedUntil(ctx, "u1")
	must(t, err, "snoozed until")
	if !until.Equal(past) {
		t.Errorf("past snooze before GC = %v, want %v", until, past)
	}

	st, err := s.GC(ctx, now)
	must(t, err, "gc")
	if want := (store.GCStats{Ceremonies: 1, Snoozes: 1}); st != want {
		t.Errorf("GC = %+v, want %+v", st, want)
	}

	// Consumed at t0, when each would still be valid: only GC removes one.
	_, err = s.ConsumeCeremony(ctx, "c-expired", t0)
	wantIs(t, err, store.ErrNotFound, "expired ceremony after GC")
	for _, id := range []string{"c-at-now", "c-live"} {
		if _, err := s.ConsumeCeremony(ctx, id, t0); err != nil {
			t.Errorf("ceremony %s after GC: %v, want kept", id, err)
		}
	}
	for id, want := range map[string]time.Time{"u1": {}, "u2": now, "u3": future} {
		until, err := s.SuggestionSnoozedUntil(ctx, id)
		must(t, err, "snoozed until")
		if !until.Equal(want) {
			t.Errorf("snooze of %s after GC = %v, want %v", id, until, want)
		}
	}

	st, err = s.GC(ctx, now)
	must(t, err, "second gc")
	if st.Total() != 0 {
		t.Errorf("second GC at the same time deleted %+v", st)
	}
}
