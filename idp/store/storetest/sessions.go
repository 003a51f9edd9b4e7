package storetest

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	sess := newSession("s1", "u1", t0)
	must(t, s.CreateSession(ctx, sess), "create session")
	got, err := s.SessionByID(ctx, "s1")
	must(t, err, "session by id")
	checkEqual(t, "session", got, sess)

	seen, idle := t0.Add(time.Hour), t0.Add(3*time.Hour)
	must(t, s.TouchSession(ctx, "s1", seen, idle), "touch session")
	want := *sess
	want.LastSeenAt, want.IdleExpiresAt = seen, idle
	got, err = s.SessionByID(ctx, "s1")
	must(t, err, "session by id")
	checkEqual(t, "touched session", got, &want)

	wantIs(t, s.TouchSession(ctx, "nope", seen, idle), store.ErrNotFound, "TouchSession(unknown)")
	_, err = s.SessionByID(ctx, "nope")
	wantIs(t, err, store.ErrNotFound, "SessionByID(unknown)")
	wantIs(t, s.CreateSession(ctx, newSession("s1", "u1", t0)), store.ErrConflict, "duplicate session id")

	must(t, s.DeleteSession(ctx, "s1"), "delete session")
	_, err = s.SessionByID(ctx, "s1")
	wantIs(t, err, store.ErrNotFound, "deleted session")
	must(t, s.DeleteSession(ctx, "s1"), "delete it again")
}

func testUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	for _, sess := range []*store.Session{
		newSession("s1", "u1", t0),
		newSession("s2", "u1", t0.Add(time.Minute)),
		newSession("s3", "u1", t0.Add(2*time.Minute)),
		newSession("s4", "u2", t0),
	} {
		must(t, s.CreateSession(ctx, sess), "create session "+sess.ID)
	}
	ids := func(userID string) []string {
		t.Helper()
		l, err := s.ListUserSessions(ctx, userID)
		must(t, err, "list sessions")
		var out []string
		for _, sess := range l {
			if sess.UserID != userID {
				t.Errorf("ListUserSessions(%q) returned %s of %q", userID, sess.ID, sess.UserID)
			}
			out = append(out, sess.ID)
		}
		sort.Strings(out) // the order is not part of the contract
		return out
	}
	if got := ids("u1"); !slices.Equal(got, []string{"s1", "s2", "s3"}) {
		t.Errorf("sessions of u1 = %v, want [s1 s2 s3]", got)
	}
	if got := ids("nobody"); len(got) != 0 {
		t.Errorf("sessions of an unknown user = %v", got)
	}
	l, err := s.ListUserSessions(ctx, "u2")
	must(t, err, "list sessions")
	if len(l) == 1 {
		checkEqual(t, "listed session", &l[0], newSession("s4", "u2", t0))
	} else {
		t.Errorf("u2 has %d sessions, want 1", len(l))
	}

	must(t, s.DeleteUserSessions(ctx, "u1", "s2"), "delete other sessions")
	if got := ids("u1"); !slices.Equal(got, []string{"s2"}) {
		t.Errorf("sessions of u1 after sign out elsewhere = %v, want [s2]", got)
	}
	if got := ids("u2"); !slices.Equal(got, []string{"s4"}) {
		t.Errorf("sessions of u2 = %v, want [s4] (untouched)", got)
	}
	must(t, s.DeleteUserSessions(ctx, "u1", ""), "delete all sessions")
	if got := ids("u1"); len(got) != 0 {
		t.Errorf("sessions of u1 after sign out everywhere = %v", got)
	}
}

// Ending a session queues a back-channel logout notice to each app it
// signed in to, in the same transaction; an expired session collected
// by GC tells nobody.
func testSessionLogoutNotices(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	for _, id := range []string{"s1", "s2", "s3", "s4"} {
		must(t, s.CreateSession(ctx, newSession(id, "u1", t0)), "create "+id)
	}
	must(t, s.AddSessionClient(ctx, "s1", "site"), "add site")
	must(t, s.AddSessionClient(ctx, "s1", "forum"), "add forum")
	must(t, s.AddSessionClient(ctx, "s1", "site"), "add site again")
	for _, id := range []string{"s2", "s3", "s4"} {
		must(t, s.AddSessionClient(ctx, id, "site"), "add site to "+id)
	}
	wantIs(t, s.AddSessionClient(ctx, "nope", "site"), store.ErrNotFound, "AddSessionClient(unknown)")
	got, err := s.SessionByID(ctx, "s1")
	must(t, err, "session by id")
	if !slices.Equal(got.Clients, []string{"site", "forum"}) {
		t.Errorf("clients = %v, want [site forum]", got.Clients)
	}
	notices := func(what string) map[string]int {
		t.Helper()
		claimed, err := s.ClaimOutbox(ctx, t0.Add(24*time.Hour), time.Minute, 100)
		must(t, err, "claim outbox")
		out := map[string]int{}
		for _, m := range claimed {
			var n store.LogoutNotice
			if m.Kind != store.OutboxBackchannel || json.Unmarshal(m.Payload, &n) != nil || n.Subject != "u1" {
				t.Errorf("%s: message %+v", what, m)
			}
			out[m.Recipient+" "+n.SID]++
			must(t, s.OutboxSent(ctx, m.ID, t0), "sent")
		}
		return out
	}
	sid := store.SessionSID
	must(t, s.DeleteSession(ctx, "s1"), "delete s1")
	if got := notices("one session"); len(got) != 2 || got["site "+sid("s1")] != 1 || got["forum "+sid("s1")] != 1 {
		t.Errorf("after DeleteSession: %v", got)
	}
	must(t, s.DeleteUserSessions(ctx, "u1", "s2"), "delete all but s2")
	if got := notices("all but one"); len(got) != 2 || got["site "+sid("s3")] != 1 || got["site "+sid("s4")] != 1 {
		t.Errorf("after DeleteUserSessions: %v", got)
	}
	must(t, s.DeleteUser(ctx, "u1"), "delete alice")
	if got := notices("with the member"); len(got) != 1 || got["site "+sid("s2")] != 1 {
		t.Errorf("after DeleteUser: %v", got)
	}

	// Expired sessions go quietly.
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	must(t, s.CreateSession(ctx, newSession("s5", "u2", t0)), "create s5")
	must(t, s.AddSessionClient(ctx, "s5", "site"), "add site to s5")
	_, err = s.GC(ctx, t0.Add(40*24*time.Hour))
	must(t, err, "gc")
	if got := notices("gc"); len(got) != 0 {
		t.Errorf("an expired session told its apps: %v", got)
	}
	if sid("s1") == sid("s2") || len(sid("s1")) != 22 {
		t.Errorf("sids: %q %q", sid("s1"), sid("s2"))
	}
}
