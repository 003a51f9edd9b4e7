package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testIssueConsumesCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	redeemable(t, s, "ar1", "code")
	now := t0.Add(time.Minute)

	at := newAccess("at1", "u1", "fam1")
	rt := newRefresh("rt1", "fam1", "", "u1")
	must(t, s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: at, Refresh: rt}, now), "issue")

	ar, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	if ar.ConsumedAt == nil || !ar.ConsumedAt.Equal(now) {
		t.Errorf("ConsumedAt = %v, want %v", ar.ConsumedAt, now)
	}
	if ar.IssuedAccessTokenID != "at1" || ar.IssuedRefreshFamily != "fam1" {
		t.Errorf("issued = %q, %q, want at1, fam1", ar.IssuedAccessTokenID, ar.IssuedRefreshFamily)
	}
	gotAT, err := s.AccessTokenByID(ctx, "at1")
	must(t, err, "access token by id")
	checkEqual(t, "access token", gotAT, at)
	gotRT, err := s.RefreshTokenByHash(ctx, rt.TokenHash)
	must(t, err, "refresh token by hash")
	checkEqual(t, "refresh token", gotRT, rt)

	// A replay of the code loses and changes nothing.
	err = s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: newAccess("at2", "u1", "fam2"),
		Refresh: newRefresh("rt2", "fam2", "", "u1")}, now.Add(time.Second))
	wantIs(t, err, store.ErrConflict, "second redemption")
	_, err = s.AccessTokenByID(ctx, "at2")
	wantIs(t, err, store.ErrNotFound, "access token of the losing redemption")
	_, err = s.RefreshTokenByID(ctx, "rt2")
	wantIs(t, err, store.ErrNotFound, "refresh token of the losing redemption")
	ar, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	if ar.IssuedAccessTokenID != "at1" || ar.IssuedRefreshFamily != "fam1" || !ar.ConsumedAt.Equal(now) {
		t.Errorf("after replay: issued %q, %q at %v, want at1, fam1 at %v",
			ar.IssuedAccessTokenID, ar.IssuedRefreshFamily, ar.ConsumedAt, now)
	}

	err = s.IssueTokens(ctx, store.Issue{ConsumeCode: "nope", Access: newAccess("at3", "u1", "")}, now)
	if err == nil {
		t.Error("redeeming the code of an unknown request succeeded")
	}
	_, err = s.AccessTokenByID(ctx, "at3")
	wantIs(t, err, store.ErrNotFound, "access token of a failed issue")
}

func testIssueWithoutRefresh(t *testing.T, s store.Store) {
	ctx := t.Context()
	redeemable(t, s, "ar1", "code")
	at := newAccess("at1", "u1", "")
	at.AuthTime = time.Time{} // client_credentials-like: no sign-in
	at.AMR, at.Audience = nil, nil
	must(t, s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: at}, t0), "issue")
	ar, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	if ar.IssuedAccessTokenID != "at1" || ar.IssuedRefreshFamily != "" {
		t.Errorf("issued = %q, %q, want at1 and no family", ar.IssuedAccessTokenID, ar.IssuedRefreshFamily)
	}
	got, err := s.AccessTokenByID(ctx, "at1")
	must(t, err, "access token by id")
	checkEqual(t, "access token", got, at)

	// Neither a code nor a refresh token: a plain issue.
	plain := newAccess("at2", "app", "")
	must(t, s.IssueTokens(ctx, store.Issue{Access: plain}, t0), "plain issue")
	got, err = s.AccessTokenByID(ctx, "at2")
	must(t, err, "access token by id")
	checkEqual(t, "plain access token", got, plain)
}

func testRotateRefreshToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	rt1 := newRefresh("rt1", "fam", "", "u1")
	must(t, s.IssueTokens(ctx, store.Issue{Access: newAccess("at1", "u1", "fam"), Refresh: rt1}, t0), "first issue")

	now := t0.Add(time.Hour)
	rt2 := newRefresh("rt2", "fam", "rt1", "u1")
	rt2.CreatedAt = now
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at2", "u1", "fam"), Refresh: rt2}, now), "rotate")

	got, err := s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "parent by id")
	want := *rt1
	want.UsedAt = &now
	checkEqual(t, "used parent", got, &want)
	got, err = s.RefreshTokenByHash(ctx, rt2.TokenHash)
	must(t, err, "child by hash")
	checkEqual(t, "child", got, rt2)

	// Using the parent again loses and inserts nothing.
	err = s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at3", "u1", "fam"),
		Refresh: newRefresh("rt3", "fam", "rt1", "u1")}, now.Add(time.Second))
	wantIs(t, err, store.ErrConflict, "second rotation of the same token")
	_, err = s.RefreshTokenByID(ctx, "rt3")
	wantIs(t, err, store.ErrNotFound, "child of the losing rotation")
	_, err = s.AccessTokenByID(ctx, "at3")
	wantIs(t, err, store.ErrNotFound, "access token of the losing rotation")
	got, err = s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "parent by id")
	if got.UsedAt == nil || !got.UsedAt.Equal(now) {
		t.Errorf("parent UsedAt = %v after a losing rotation, want %v", got.UsedAt, now)
	}

	// A revoked token cannot be rotated either.
	must(t, s.RevokeRefreshFamily(ctx, "fam", now), "revoke family")
	err = s.IssueTokens(ctx, store.Issue{RotateFrom: "rt2", Access: newAccess("at4", "u1", "fam"),
		Refresh: newRefresh("rt4", "fam", "rt2", "u1")}, now)
	wantIs(t, err, store.ErrConflict, "rotation of a revoked token")

	err = s.IssueTokens(ctx, store.Issue{RotateFrom: "nope", Access: newAccess("at5", "u1", "")}, now)
	if err == nil {
		t.Error("rotating an unknown refresh token succeeded")
	}
}

func testTokenLookups(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.AccessTokenByID(ctx, "nope")
	wantIs(t, err, store.ErrNotFound, "AccessTokenByID(unknown)")
	_, err = s.RefreshTokenByID(ctx, "nope")
	wantIs(t, err, store.ErrNotFound, "RefreshTokenByID(unknown)")
	_, err = s.RefreshTokenByHash(ctx, hash("nope"))
	wantIs(t, err, store.ErrNotFound, "RefreshTokenByHash(unknown)")

	rt := newRefresh("rt1", "fam", "", "u1")
	must(t, s.IssueTokens(ctx, store.Issue{Access: newAccess("at1", "u1", "fam"), Refresh: rt}, t0), "issue")

	// Another token with the same hash is a conflict, and the whole issue
	// is rolled back.
	dup := newRefresh("rt2", "fam2", "", "u1")
	dup.TokenHash = rt.TokenHash
	err = s.IssueTokens(ctx, store.Issue{Access: newAccess("at2", "u1", "fam2"), Refresh: dup}, t0)
	wantIs(t, err, store.ErrConflict, "duplicate refresh token hash")
	_, err = s.AccessTokenByID(ctx, "at2")
	wantIs(t, err, store.ErrNotFound, "access token of the rolled back issue")
	err = s.IssueTokens(ctx, store.Issue{Access: newAccess("at1", "u1", "")}, t0)
	wantIs(t, err, store.ErrConflict, "duplicate access token id")

	must(t, s.DeleteAccessToken(ctx, "at1"), "delete access token")
	_, err = s.AccessTokenByID(ctx, "at1")
	wantIs(t, err, store.ErrNotFound, "deleted access token")
	must(t, s.DeleteAccessToken(ctx, "at1"), "delete it again")
	if _, err := s.RefreshTokenByID(ctx, "rt1"); err != nil {
		t.Errorf("deleting the access token touched its refresh token: %v", err)
	}
}

func testRevokeRefreshFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	issue := func(at, rt, family, parent string) {
		t.Helper()
		is := store.Issue{Access: newAccess(at, "u1", family)}
		if rt != "" {
			is.Refresh = newRefresh(rt, family, parent, "u1")
		}
		must(t, s.IssueTokens(ctx, is, t0), "issue "+at)
	}
	issue("at1", "rt1", "fam", "")
	issue("at2", "rt2", "fam", "rt1")
	issue("at3", "rt3", "other", "")
	issue("at4", "", "", "")

	early, late := t0.Add(time.Minute), t0.Add(time.Hour)
	must(t, s.RevokeRefreshFamily(ctx, "fam", early), "revoke family")
	must(t, s.RevokeRefreshFamily(ctx, "fam", late), "revoke family again")
	must(t, s.RevokeRefreshFamily(ctx, "unknown", late), "revoke unknown family")

	for _, id := range []string{"rt1", "rt2"} {
		rt, err := s.RefreshTokenByID(ctx, id)
		must(t, err, "refresh token "+id)
		if rt.RevokedAt == nil || !rt.RevokedAt.Equal(early) {
			t.Errorf("%s RevokedAt = %v, want the first revocation %v", id, rt.RevokedAt, early)
		}
	}
	rt, err := s.RefreshTokenByID(ctx, "rt3")
	must(t, err, "refresh token rt3")
	if rt.RevokedAt != nil {
		t.Errorf("rt3 of another family revoked at %v", rt.RevokedAt)
	}
	for _, id := range []string{"at1", "at2"} {
		_, err := s.AccessTokenByID(ctx, id)
		wantIs(t, err, store.ErrNotFound, "access token "+id+" of the revoked family")
	}
	for _, id := range []string{"at3", "at4"} {
		if _, err := s.AccessTokenByID(ctx, id); err != nil {
			t.Errorf("access token %s outside the family: %v", id, err)
		}
	}
}

// The apps holding a member's live refresh tokens, one line per app;
// removing one revokes its tokens only and tells it when asked to.
func testGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	issue := func(rt, at, family, client, subject string, created time.Time) {
		t.Helper()
		r := newRefresh(rt, family, "", subject)
		r.ClientID, r.CreatedAt = client, created
		a := newAccess(at, subject, family)
		a.ClientID = client
		must(t, s.IssueTokens(ctx, store.Issue{Access: a, Refresh: r}, created), "issue "+rt)
	}
	issue("rt1", "at1", "fam1", "site", "u1", t0)
	issue("rt2", "at2", "fam2", "site", "u1", t0.Add(time.Hour))
	issue("rt3", "at3", "fam3", "app", "u1", t0.Add(2*time.Hour))
	issue("rt4", "at4", "fam4", "forum", "u1", t0)
	must(t, s.RevokeRefreshFamily(ctx, "fam4", t0), "revoke fam4")
	issue("rt5", "at5", "fam5", "site", "u2", t0)
	now := t0.Add(3 * time.Hour)
	got, err := s.UserGrants(ctx, "u1", now)
	must(t, err, "grants")
	want := []store.Grant{
		{ClientID: "app", FirstAt: t0.Add(2 * time.Hour), LastAt: t0.Add(2 * time.Hour), Families: 1},
		{ClientID: "site", FirstAt: t0, LastAt: t0.Add(time.Hour), Families: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("grants = %+v, want %+v", got, want)
	}
	if late, _ := s.UserGrants(ctx, "u1", t0.Add(48*time.Hour)); len(late) != 0 {
		t.Errorf("expired tokens listed: %+v", late)
	}

	ok, err := s.RevokeGrant(ctx, "u1", "site", now, true)
	must(t, err, "revoke site")
	if !ok {
		t.Error("RevokeGrant found nothing to revoke")
	}
	got, _ = s.UserGrants(ctx, "u1", now)
	if len(got) != 1 || got[0].ClientID != "app" {
		t.Errorf("after removing site: %+v", got)
	}
	_, err = s.AccessTokenByID(ctx, "at1")
	wantIs(t, err, store.ErrNotFound, "site's access token")
	if _, err := s.AccessTokenByID(ctx, "at3"); err != nil {
		t.Errorf("app's access token went too: %v", err)
	}
	if other, _ := s.UserGrants(ctx, "u2", now); len(other) != 1 {
		t.Errorf("another member's grant went too: %+v", other)
	}
	claimed, err := s.ClaimOutbox(ctx, now, time.Minute, 10, store.OutboxBackchannel)
	must(t, err, "claim")
	if len(claimed) != 1 || claimed[0].Recipient != "site" || string(claimed[0].Payload) != `{"sub":"u1"}` {
		t.Errorf("notices: %+v", claimed)
	}
	ok, err = s.RevokeGrant(ctx, "u1", "site", now, false)
	if err != nil || ok {
		t.Errorf("revoking again: %v %v", ok, err)
	}
}

func testRevokeUserTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, tc := range []struct{ at, rt, family, subject string }{
		{"at1", "rt1", "fam1", "u1"},
		{"at2", "rt2", "fam2", "u1"},
		{"at3", "", "", "u1"},
		{"at4", "rt4", "fam4", "u2"},
	} {
		is := store.Issue{Access: newAccess(tc.at, tc.subject, tc.family)}
		if tc.rt != "" {
			is.Refresh = newRefresh(tc.rt, tc.family, "", tc.subject)
		}
		must(t, s.IssueTokens(ctx, is, t0), "issue "+tc.at)
	}
	now := t0.Add(time.Minute)
	must(t, s.RevokeUserTokens(ctx, "u1", now), "revoke user tokens")

	for _, id := range []string{"rt1", "rt2"} {
		rt, err := s.RefreshTokenByID(ctx, id)
		must(t, err, "refresh token "+id)
		if rt.RevokedAt == nil || !rt.RevokedAt.Equal(now) {
			t.Errorf("%s RevokedAt = %v, want %v", id, rt.RevokedAt, now)
		}
	}
	for _, id := range []string{"at1", "at2", "at3"} {
		_, err := s.AccessTokenByID(ctx, id)
		wantIs(t, err, store.ErrNotFound, "access token "+id+" of the user")
	}
	rt, err := s.RefreshTokenByID(ctx, "rt4")
	must(t, err, "refresh token rt4")
	if rt.RevokedAt != nil {
		t.Errorf("another user's token revoked at %v", rt.RevokedAt)
	}
	if _, err := s.AccessTokenByID(ctx, "at4"); err != nil {
		t.Errorf("another user's access token: %v", err)
	}
}
