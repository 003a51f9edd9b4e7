package storetest

// Tests of what the admin console reads and writes: user search, passkey
// coverage, the audit log and recovery links.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// --- user search and coverage ---

func testSearchUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, u := range []struct{ id, username, email, name string }{
		{"u1", "alice", "alice@example.org", "Alice Liddell"},
		{"u2", "bob", "bob@wonder.example", "Robert Paulson"},
		{"u3", "Carol", "carol@example.org", "Carol Danvers"},
		{"u4", "dave", "", "Émilie Dubois"},
		{"u5", "zed", "zed@example.org", "Zed 100%"},
	} {
		nu := newUser(u.id, u.username, u.email)
		nu.Name = u.name
		must(t, s.CreateUser(ctx, nu), "create "+u.username)
	}
	search := func(query string, limit int) []string {
		t.Helper()
		users, err := s.SearchUsers(ctx, query, limit)
		must(t, err, fmt.Sprintf("SearchUsers(%q, %d)", query, limit))
		var names []string
		for _, u := range users {
			names = append(names, u.Username)
		}
		return names
	}
	for _, tc := range []struct {
		query string
		limit int
		want  []string
	}{
		{"ALI", 0, []string{"alice"}},                             // username and name
		{"liddell", 0, []string{"alice"}},                         // name only
		{"WONDER", 0, []string{"bob"}},                            // email only
		{"paulSON", 0, []string{"bob"}},                           // name only, any case
		{"CAROL", 0, []string{"carol"}},                           // stored folded
		{"Example.ORG", 0, []string{"alice", "carol", "zed"}},     // ordered by username
		{"émilie", 0, []string{"dave"}},                           // non-ASCII
		{"ÉMILIE DUBOIS", 0, []string{"dave"}},                    // non-ASCII, folded
		{"%", 0, []string{"zed"}},                                 // no LIKE pattern
		{"_", 0, nil},                                             // no LIKE pattern
		{"nobody", 0, nil},                                        // no match
		{"", 0, []string{"alice", "bob", "carol", "dave", "zed"}}, // everyone
		{"", 2, []string{"alice", "bob"}},
		{"e", 3, []string{"alice", "bob", "carol"}},
		{" ", -1, []string{"alice", "bob", "carol", "dave", "zed"}},
	} {
		if got := search(tc.query, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("SearchUsers(%q, %d) = %v, want %v", tc.query, tc.limit, got, tc.want)
		}
	}

	users, err := s.SearchUsers(ctx, "wonder", 0)
	must(t, err, "search users")
	if len(users) == 1 {
		want := newUser("u2", "bob", "bob@wonder.example")
		want.Name = "Robert Paulson"
		checkEqual(t, "found user", &users[0], want)
	}
}

func testSearchUsersDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range store.DefaultSearchLimit + 5 {
		must(t, s.CreateUser(ctx, newUser(fmt.Sprintf("u%02d", i), fmt.Sprintf("user%02d", i), "")), "create user")
	}
	for _, query := range []string{"", "USER"} {
		users, err := s.SearchUsers(ctx, query, 0)
		must(t, err, "search users")
		if len(users) != store.DefaultSearchLimit {
			t.Fatalf("SearchUsers(%q, 0) returned %d users, want %d", query, len(users), store.DefaultSearchLimit)
		}
		if first, last := users[0].Username, users[len(users)-1].Username; first != "user00" || last != "user49" {
			t.Errorf("SearchUsers(%q, 0) runs from %s to %s, want user00 to user49", query, first, last)
		}
	}
	users, err := s.SearchUsers(ctx, "user", 100)
	must(t, err, "search users")
	if len(users) != store.DefaultSearchLimit+5 {
		t.Errorf("SearchUsers with limit 100 returned %d users, want %d", len(users), store.DefaultSearchLimit+5)
	}
}

func testPasskeyCoverage(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, err := s.PasskeyCoverage(ctx)
	must(t, err, "coverage of an empty store")
	if c != (store.Coverage{}) {
		t.Errorf("coverage of an empty store = %+v, want zeros", c)
	}

	add := func(id string, role store.Role, disabled bool, passkeys int) {
		t.Helper()
		u := newUser(id, "user-"+id, "")
		u.Role, u.Disabled = role, disabled
		must(t, s.CreateUser(ctx, u), "create "+id)
		for i := range passkeys {
			must(t, s.CreatePasskey(ctx, newPasskey(fmt.Sprintf("%s-pk%d", id, i), id, t0)), "create passkey")
		}
	}
	add("m1", store.RoleMember, false, 2) // two passkeys count once
	add("m2", store.RoleMember, false, 1)
	add("m3", store.RoleMember, false, 0)
	add("m4", store.RoleMember, true, 1) // disabled: left out
	add("m5", store.RoleMember, true, 0)
	add("a1", store.RoleAdmin, false, 1)
	add("a2", store.RoleAdmin, false, 0)
	add("a3", store.RoleAdmin, true, 2)

	c, err = s.PasskeyCoverage(ctx)
	must(t, err, "coverage")
	if want := (store.Coverage{Members: 3, MembersWithPasskey: 2, Admins: 2, AdminsWithPasskey: 1}); c != want {
		t.Errorf("coverage = %+v, want %+v", c, want)
	}

	// The counts are kept as members change (the stores keep them by
	// trigger): each step is checked against the counts it implies.
	check := func(step string, want store.Coverage, users int) {
		t.Helper()
		c, err := s.PasskeyCoverage(ctx)
		must(t, err, "coverage after "+step)
		n, err := s.CountUsers(ctx)
		must(t, err, "count after "+step)
		if c != want || n != users {
			t.Errorf("after %s: coverage %+v and %d users, want %+v and %d", step, c, n, want, users)
		}
	}
	must(t, s.DeletePasskey(ctx, "m1", "m1-pk0"), "delete one of two passkeys")
	check("m1 deletes one of two passkeys", store.Coverage{Members: 3, MembersWithPasskey: 2, Admins: 2, AdminsWithPasskey: 1}, 8)
	must(t, s.DeletePasskey(ctx, "m2", "m2-pk0"), "delete the only passkey")
	check("m2 deletes its only passkey", store.Coverage{Members: 3, MembersWithPasskey: 1, Admins: 2, AdminsWithPasskey: 1}, 8)
	_, err = s.UpdateUser(ctx, "m1", func(u *store.User) error { u.Disabled = true; return nil })
	must(t, err, "disable m1")
	check("m1 is disabled", store.Coverage{Members: 2, MembersWithPasskey: 0, Admins: 2, AdminsWithPasskey: 1}, 8)
	_, err = s.UpdateUser(ctx, "a3", func(u *store.User) error { u.Disabled, u.Role = false, store.RoleMember; return nil })
	must(t, err, "enable a3 as a member")
	check("a3 is enabled as a member", store.Coverage{Members: 3, MembersWithPasskey: 1, Admins: 2, AdminsWithPasskey: 1}, 8)
	_, err = s.UpdateUser(ctx, "m3", func(u *store.User) error { u.Name = "renamed"; return nil })
	must(t, err, "rename m3")
	check("m3 is renamed", store.Coverage{Members: 3, MembersWithPasskey: 1, Admins: 2, AdminsWithPasskey: 1}, 8)
	must(t, s.DeleteUser(ctx, "a3"), "delete a3 and its passkeys")
	check("a3 is deleted", store.Coverage{Members: 2, MembersWithPasskey: 0, Admins: 2, AdminsWithPasskey: 1}, 7)
	must(t, s.CreatePasskey(ctx, newPasskey("m3-pk0", "m3", t0)), "m3 adds a passkey")
	check("m3 adds a passkey", store.Coverage{Members: 2, MembersWithPasskey: 1, Admins: 2, AdminsWithPasskey: 1}, 7)
	_, err = s.GC(ctx, t0)
	must(t, err, "gc")
	check("GC (which may fold the counts)", store.Coverage{Members: 2, MembersWithPasskey: 1, Admins: 2, AdminsWithPasskey: 1}, 7)
}

// --- audit log ---

// appendAudit appends e and returns the ID the store gave it.
func appendAudit(t *testing.T, s store.Store, e *store.AuditEvent) int64 {
	t.Helper()
	must(t, s.AppendAudit(t.Context(), e), "append "+e.Kind)
	return e.ID
}

// listIDs returns the IDs ListAudit(f) gives.
func listIDs(t *testing.T, s store.Store, f store.AuditFilter) []int64 {
	t.Helper()
	events, err := s.ListAudit(t.Context(), f)
	must(t, err, fmt.Sprintf("ListAudit(%+v)", f))
	var ids []int64
	for _, e := range events {
		ids = append(ids, e.ID)
	}
	return ids
}

func testAuditAppend(t *testing.T, s store.Store) {
	ctx := t.Context()
	full := &store.AuditEvent{At: t0, Kind: "signin.failure", ActorID: "u1", UserID: "u1", ClientID: "app",
		Method: "passkey", Result: "fail", Code: "PK-CANCELLED", Device: "Chrome on Android", IP: "2001:db8::1",
		UserAgent: "Mozilla/5.0 (Linux; Android 14)",
		Details:   map[string]string{"passkey": `Pixel "8"`, "ünï": "cödé", "empty": ""}}
	minimal := &store.AuditEvent{At: t0.Add(time.Second), Kind: "admin.settings.changed"}
	emptyDetails := &store.AuditEvent{At: t0.Add(2 * time.Second), Kind: "passkey.added", UserID: "u2",
		Details: map[string]string{}}
	var last int64
	for i, e := range []*store.AuditEvent{full, minimal, emptyDetails} {
		id := appendAudit(t, s, e)
		if id <= last {
			t.Errorf("event %d got ID %d after %d; IDs must increase", i, id, last)
		}
		last = id
	}

	got, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err, "list audit events")
	if len(got) != 3 {
		t.Fatalf("ListAudit returned %d events, want 3", len(got))
	}
	checkEqual(t, "event with every field", &got[2], full)
	// nil Details and an empty map both come back as nil.
	checkEqual(t, "event without details", &got[1], minimal)
	want := *emptyDetails
	want.Details = nil
	checkEqual(t, "event with empty details", &got[0], &want)

	// Kind and time are required; a failed append writes nothing.
	for _, e := range []*store.AuditEvent{{Kind: "signin.success"}, {At: t0}} {
		if err := s.AppendAudit(ctx, e); err == nil {
			t.Errorf("AppendAudit(%+v) succeeded, want an error", e)
		}
	}
	if ids := listIDs(t, s, store.AuditFilter{}); len(ids) != 3 {
		t.Errorf("%d events after failed appends, want 3", len(ids))
	}
}

func testListAudit(t *testing.T, s store.Store) {
	ev := func(kind, actor, user string, at time.Time) int64 {
		return appendAudit(t, s, &store.AuditEvent{At: at, Kind: kind, ActorID: actor, UserID: user})
	}
	e1 := ev("signin.success", "u1", "u1", t0)
	e2 := ev("signin.failure", "", "u1", t0.Add(time.Minute))
	e3 := ev("passkey.added", "u2", "u2", t0.Add(2*time.Minute))
	e4 := ev("admin.user.disabled", "u1", "u2", t0.Add(3*time.Minute)) // admin u1 disables u2
	e5 := ev("signin.success", "u3", "u3", t0.Add(4*time.Minute))
	min1, min3 := t0.Add(time.Minute), t0.Add(3*time.Minute)

	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"everything", store.AuditFilter{}, []int64{e5, e4, e3, e2, e1}},
		{"one kind", store.AuditFilter{Kinds: []string{"signin.success"}}, []int64{e5, e1}},
		{"two kinds", store.AuditFilter{Kinds: []string{"signin.success", "signin.failure"}}, []int64{e5, e2, e1}},
		{"unknown kind", store.AuditFilter{Kinds: []string{"nope"}}, nil},
		{"user as subject or actor", store.AuditFilter{UserID: "u1"}, []int64{e4, e2, e1}},
		{"user as subject", store.AuditFilter{UserID: "u2"}, []int64{e4, e3}},
		{"unknown user", store.AuditFilter{UserID: "u9"}, nil},
		{"since (inclusive)", store.AuditFilter{Since: min1}, []int64{e5, e4, e3, e2}},
		{"until (exclusive)", store.AuditFilter{Until: min3}, []int64{e3, e2, e1}},
		{"since and until", store.AuditFilter{Since: min1, Until: min3}, []int64{e3, e2}},
		{"before", store.AuditFilter{Before: e4}, []int64{e3, e2, e1}},
		{"kind and user", store.AuditFilter{Kinds: []string{"signin.success"}, UserID: "u1"}, []int64{e1}},
		{"user and before", store.AuditFilter{UserID: "u1", Before: e4}, []int64{e2, e1}},
		{"page 1", store.AuditFilter{Limit: 2}, []int64{e5, e4}},
		{"page 2", store.AuditFilter{Before: e4, Limit: 2}, []int64{e3, e2}},
		{"page 3", store.AuditFilter{Before: e2, Limit: 2}, []int64{e1}},
		{"past the last page", store.AuditFilter{Before: e1, Limit: 2}, nil},
	} {
		if got := listIDs(t, s, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ListAudit = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testListAuditLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = store.MaxAuditLimit + 5
	var last int64
	for i := range n {
		last = appendAudit(t, s, &store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Kind: "signin.success"})
	}
	for _, tc := range []struct{ limit, want int }{
		{0, store.DefaultAuditLimit},
		{-1, store.DefaultAuditLimit},
		{7, 7},
		{store.MaxAuditLimit, store.MaxAuditLimit},
		{n, store.MaxAuditLimit},
		{10 * n, store.MaxAuditLimit},
	} {
		ids := listIDs(t, s, store.AuditFilter{Limit: tc.limit})
		if len(ids) != tc.want {
			t.Errorf("limit %d: %d events, want %d", tc.limit, len(ids), tc.want)
			continue
		}
		if ids[0] != last || !slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }) {
			t.Errorf("limit %d: IDs start at %d, want the newest (%d) first and descending", tc.limit, ids[0], last)
		}
	}
	// More than one SQLite prune batch.
	pruned, err := s.PruneAudit(ctx, t0.Add(24*time.Hour))
	must(t, err, "prune everything")
	if pruned != n {
		t.Errorf("PruneAudit deleted %d events, want %d", pruned, n)
	}
}

func testCountAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	const android, ios = "Chrome on Android", "Safari on iOS"
	since := t0.Add(time.Hour)
	add := func(at time.Time, kind, method, result, code, device string) {
		t.Helper()
		appendAudit(t, s, &store.AuditEvent{At: at, Kind: kind, UserID: "u1", Method: method, Result: result,
			Code: code, Device: device, IP: "192.0.2.1", UserAgent: "ua-" + device})
	}
	// Before since: left out unless since is zero.
	add(since.Add(-time.Second), "signin.success", "passkey", "ok", "", android)
	// From since on, on two devices: 3 passkey sign-ins, 2 password
	// sign-ins, 1 cancelled passkey sign-in, and a passkey added.
	add(since, "signin.success", "passkey", "ok", "", android)
	add(since.Add(time.Minute), "signin.success", "passkey", "ok", "", ios)
	add(since.Add(2*time.Minute), "signin.success", "passkey", "ok", "", android)
	add(since.Add(3*time.Minute), "signin.success", "pwd", "ok", "", ios)
	add(since.Add(4*time.Minute), "signin.success", "pwd", "ok", "", android)
	add(since.Add(5*time.Minute), "signin.failure", "passkey", "fail", "PK-CANCELLED", android)
	add(since.Add(6*time.Minute), "passkey.added", "", "", "", ios)

	signIns := []store.AuditCount{
		{Kind: "signin.failure", Method: "passkey", Result: "fail", Code: "PK-CANCELLED", Device: android, N: 1},
		{Kind: "signin.success", Method: "passkey", Result: "ok", Device: android, N: 2},
		{Kind: "signin.success", Method: "passkey", Result: "ok", Device: ios, N: 1},
		{Kind: "signin.success", Method: "pwd", Result: "ok", Device: android, N: 1},
		{Kind: "signin.success", Method: "pwd", Result: "ok", Device: ios, N: 1},
	}
	for _, tc := range []struct {
		name  string
		since time.Time
		kinds []string
		want  []store.AuditCount
	}{
		{"sign-ins since", since, []string{"signin.success", "signin.failure"}, signIns},
		{"every kind since", since, nil, append([]store.AuditCount{{Kind: "passkey.added", Device: ios, N: 1}}, signIns...)},
		{"successes ever", time.Time{}, []string{"signin.success"}, []store.AuditCount{
			{Kind: "signin.success", Method: "passkey", Result: "ok", Device: android, N: 3},
			{Kind: "signin.success", Method: "passkey", Result: "ok", Device: ios, N: 1},
			{Kind: "signin.success", Method: "pwd", Result: "ok", Device: android, N: 1},
			{Kind: "signin.success", Method: "pwd", Result: "ok", Device: ios, N: 1},
		}},
		{"after the last event", since.Add(time.Hour), nil, nil},
		{"unknown kind", time.Time{}, []string{"nope"}, nil},
	} {
		got, err := s.CountAudit(ctx, tc.since, tc.kinds)
		must(t, err, "count audit events")
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: CountAudit =\n%+v\nwant\n%+v", tc.name, got, tc.want)
		}
	}
}

func testPruneAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	ev := func(at time.Time) int64 {
		return appendAudit(t, s, &store.AuditEvent{At: at, Kind: "signin.success"})
	}
	ev(t0)
	e2 := ev(t0.Add(time.Minute))
	e3 := ev(t0.Add(2 * time.Minute))

	prune := func(before time.Time, want int64) {
		t.Helper()
		n, err := s.PruneAudit(ctx, before)
		must(t, err, "prune audit events")
		if n != want {
			t.Errorf("PruneAudit(%v) = %d, want %d", before, n, want)
		}
	}
	prune(t0.Add(time.Minute), 1) // before, not at
	if got := listIDs(t, s, store.AuditFilter{}); !slices.Equal(got, []int64{e3, e2}) {
		t.Errorf("after pruning: %v, want %v", got, []int64{e3, e2})
	}
	prune(t0.Add(time.Minute), 0)
	prune(t0.Add(time.Hour), 2)
	if got := listIDs(t, s, store.AuditFilter{}); len(got) != 0 {
		t.Errorf("after pruning everything: %v", got)
	}
	// IDs are a paging cursor: never reused, even once the log is empty.
	if id := ev(t0.Add(time.Hour)); id <= e3 {
		t.Errorf("event after pruning got ID %d, want above %d", id, e3)
	}
}

func testAuditOutlivesUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "")), "create alice")
	must(t, s.CreateUser(ctx, newUser("a1", "root", "")), "create an admin")
	mine := appendAudit(t, s, &store.AuditEvent{At: t0, Kind: "signin.success", ActorID: "u1", UserID: "u1", ClientID: "app",
		IP: "192.0.2.1", UserAgent: "Firefox", Device: "Firefox on Linux", Details: map[string]string{"email": "alice@example.org"}})
	byAdmin := appendAudit(t, s, &store.AuditEvent{At: t0, Kind: "admin.user.disabled", ActorID: "a1", UserID: "u1", IP: "192.0.2.9"})
	others := appendAudit(t, s, &store.AuditEvent{At: t0, Kind: "signin.success", ActorID: "a1", UserID: "a1", IP: "192.0.2.9"})
	must(t, s.DeleteUser(ctx, "u1"), "delete alice")
	// What happened stays, not who it was, from where or with what.
	if got := listIDs(t, s, store.AuditFilter{UserID: "u1"}); len(got) != 0 {
		t.Errorf("events still name the deleted user: %v", got)
	}
	all, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err, "list audit")
	for _, e := range all {
		switch e.ID {
		case mine:
			if e.UserID != "" || e.ActorID != "" || e.IP != "" || e.UserAgent != "" || e.Device != "" || len(e.Details) != 0 ||
				e.Kind != "signin.success" || e.ClientID != "app" || !e.At.Equal(t0) {
				t.Errorf("the deleted member's event: %+v", e)
			}
		case byAdmin:
			if e.UserID != "" || e.ActorID != "a1" || e.IP != "" {
				t.Errorf("an admin's event about the deleted member: %+v", e)
			}
		case others:
			if e.UserID != "a1" || e.IP != "192.0.2.9" {
				t.Errorf("another member's event changed: %+v", e)
			}
		}
	}
	if len(all) != 3 {
		t.Errorf("%d events, want 3: the trace stays", len(all))
	}
}

// The last enabled admin stays: deleting them would leave nobody to run
// the provider. Two admins deleting each other at once leave one.
func testLastAdmin(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"a1", "a2", "a3"} {
		u := newUser(id, "admin-"+id, "")
		u.Role = store.RoleAdmin
		must(t, s.CreateUser(ctx, u), "create "+id)
	}
	_, err := s.UpdateUser(ctx, "a3", func(u *store.User) error { u.Disabled = true; return nil })
	must(t, err, "disable a3")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{"a1", "a2"} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.DeleteUser(ctx, id) }()
	}
	wg.Wait()
	deleted := 0
	for _, err := range errs {
		switch {
		case err == nil:
			deleted++
		case !errors.Is(err, store.ErrLastAdmin):
			t.Errorf("delete: %v", err)
		}
	}
	if deleted != 1 {
		t.Errorf("%d of two admins deleted at once, want 1", deleted)
	}
	// A disabled admin is no admin left: the last enabled one stays even
	// then, and a member goes as ever.
	must(t, s.CreateUser(ctx, newUser("m1", "member", "")), "create a member")
	must(t, s.DeleteUser(ctx, "m1"), "delete a member")
	must(t, s.DeleteUser(ctx, "a3"), "delete the disabled admin")
	// No foreign key: events may name users that never existed.
	appendAudit(t, s, &store.AuditEvent{At: t0, Kind: "signin.failure", UserID: "ghost"})
}

// --- recovery links ---

func newRecoveryLink(token, userID, by string, expires time.Time) *store.RecoveryLink {
	return &store.RecoveryLink{TokenHash: hash("recovery-" + token), UserID: userID, CreatedBy: by,
		CreatedAt: t0, ExpiresAt: expires, Purpose: store.LinkRecovery}
}

func testRecoveryLinks(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "")), "create alice")
	admin := newUser("a1", "root", "")
	admin.Role = store.RoleAdmin
	must(t, s.CreateUser(ctx, admin), "create admin")

	exp := t0.Add(time.Hour)
	l := newRecoveryLink("one", "u1", "a1", exp)
	must(t, s.CreateRecoveryLink(ctx, l), "create recovery link")
	wantConflict(t, s.CreateRecoveryLink(ctx, newRecoveryLink("one", "a1", "a1", exp)), "token_hash", "duplicate token hash")
	wantIs(t, s.CreateRecoveryLink(ctx, newRecoveryLink("ghost", "ghost", "a1", exp)), store.ErrNotFound, "link for an unknown user")

	// Peek: valid until ExpiresAt, exclusive.
	for _, now := range []time.Time{t0, exp.Add(-time.Second)} {
		got, err := s.RecoveryLinkByHash(ctx, l.TokenHash, now)
		must(t, err, "recovery link by hash")
		checkEqual(t, "peeked link", got, l)
	}
	for _, tc := range []struct {
		name string
		hash []byte
		now  time.Time
	}{
		{"at expiry", l.TokenHash, exp},
		{"after expiry", l.TokenHash, exp.Add(time.Hour)},
		{"unknown", hash("recovery-other"), t0},
		{"empty hash", nil, t0},
	} {
		got, err := s.RecoveryLinkByHash(ctx, tc.hash, tc.now)
		wantIs(t, err, store.ErrNotFound, "peek "+tc.name)
		if got != nil {
			t.Errorf("peek %s returned %+v", tc.name, got)
		}
	}

	// Consume: once.
	used := t0.Add(10 * time.Minute)
	got, err := s.ConsumeRecoveryLink(ctx, l.TokenHash, used)
	must(t, err, "consume recovery link")
	want := *l
	want.UsedAt = &used
	checkEqual(t, "consumed link", got, &want)
	_, err = s.RecoveryLinkByHash(ctx, l.TokenHash, used)
	wantIs(t, err, store.ErrNotFound, "peek a used link")
	got, err = s.ConsumeRecoveryLink(ctx, l.TokenHash, used)
	wantIs(t, err, store.ErrNotFound, "consume a used link")
	if got != nil {
		t.Errorf("second consume returned %+v", got)
	}

	// An expired link cannot be consumed, and the attempt does not use it.
	l2 := newRecoveryLink("two", "u1", "a1", exp)
	must(t, s.CreateRecoveryLink(ctx, l2), "create second link")
	_, err = s.ConsumeRecoveryLink(ctx, l2.TokenHash, exp)
	wantIs(t, err, store.ErrNotFound, "consume at expiry")
	got, err = s.RecoveryLinkByHash(ctx, l2.TokenHash, t0)
	must(t, err, "peek after an expired attempt")
	checkEqual(t, "link after an expired attempt", got, l2)

	for name, h := range map[string][]byte{"unknown": hash("recovery-other"), "empty": nil} {
		_, err = s.ConsumeRecoveryLink(ctx, h, t0)
		wantIs(t, err, store.ErrNotFound, "consume "+name+" link")
	}
}

func testConcurrentRecoveryConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "")), "create alice")
	for round := range 4 {
		l := newRecoveryLink(fmt.Sprint(round), "u1", "a1", t0.Add(time.Hour))
		must(t, s.CreateRecoveryLink(ctx, l), "create recovery link")
		got := make([]*store.RecoveryLink, concurrency)
		errs := race(func(i int) error {
			var err error
			got[i], err = s.ConsumeRecoveryLink(ctx, l.TokenHash, t0.Add(time.Duration(i)*time.Second))
			return err
		})
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				if got[i].UsedAt == nil || !got[i].UsedAt.Equal(t0.Add(time.Duration(i)*time.Second)) {
					t.Errorf("round %d: winner %d's link has UsedAt %v", round, i, got[i].UsedAt)
				}
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("round %d: loser %d got %v, want ErrNotFound", round, i, err)
			}
		}
		if winners != 1 {
			t.Errorf("round %d: %d callers consumed the link, want exactly 1", round, winners)
		}
	}
}

func testRecoveryLinksCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"u1", "u2", "a1", "a2"} {
		u := newUser(id, "user-"+id, "")
		if id == "a1" || id == "a2" {
			u.Role = store.RoleAdmin
		}
		must(t, s.CreateUser(ctx, u), "create "+id)
	}
	exp := t0.Add(time.Hour)
	mine := newRecoveryLink("u1", "u1", "a1", exp)
	other := newRecoveryLink("u2", "u2", "a1", exp)
	must(t, s.CreateRecoveryLink(ctx, mine), "create u1's link")
	must(t, s.CreateRecoveryLink(ctx, other), "create u2's link")

	must(t, s.DeleteUser(ctx, "u1"), "delete u1")
	_, err := s.RecoveryLinkByHash(ctx, mine.TokenHash, t0)
	wantIs(t, err, store.ErrNotFound, "link of the deleted user")
	// The link outlives the admin who made it.
	must(t, s.DeleteUser(ctx, "a1"), "delete the admin")
	got, err := s.RecoveryLinkByHash(ctx, other.TokenHash, t0)
	must(t, err, "another user's link")
	checkEqual(t, "another user's link", got, other)
}

func testGCRecoveryLinks(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0.Add(72 * time.Hour)
	day := 24 * time.Hour
	for token, exp := range map[string]time.Time{
		"long-expired":     now.Add(-day - time.Second), // goes
		"expired-a-day":    now.Add(-day),               // stays: not more than a day
		"expired-recently": now.Add(-time.Hour),
		"live":             now.Add(time.Hour),
		"used-long-ago":    now.Add(-day - time.Hour), // goes, used or not
	} {
		// Each its own member's: a newer link replaces a member's older one.
		must(t, s.CreateUser(ctx, newUser("u-"+token, token, "")), "create a member for "+token)
		must(t, s.CreateRecoveryLink(ctx, newRecoveryLink(token, "u-"+token, "a1", exp)), "create "+token)
	}
	_, err := s.ConsumeRecoveryLink(ctx, hash("recovery-used-long-ago"), t0)
	must(t, err, "consume a link")

	st, err := s.GC(ctx, now)
	must(t, err, "gc")
	if want := (store.GCStats{RecoveryLinks: 2}); st != want {
		t.Errorf("GC = %+v, want %+v", st, want)
	}
	if st.Total() != 2 {
		t.Errorf("GCStats.Total = %d, want 2", st.Total())
	}
	for token, keep := range map[string]bool{"long-expired": false, "expired-a-day": true, "expired-recently": true, "live": true} {
		_, err := s.RecoveryLinkByHash(ctx, hash("recovery-"+token), t0)
		switch {
		case keep && err != nil:
			t.Errorf("link %s after GC: %v, want kept", token, err)
		case !keep:
			wantIs(t, err, store.ErrNotFound, "link "+token+" after GC")
		}
	}
	st, err = s.GC(ctx, now)
	must(t, err, "second gc")
	if st.Total() != 0 {
		t.Errorf("second GC at the same time deleted %+v", st)
	}
}

// --- export and import leave the audit log and recovery links alone ---

func testPortLeavesAuditAndRecovery(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := t.Context()
	addBoth := func(s store.Store, token string) (audit int64, link []byte) {
		t.Helper()
		id := appendAudit(t, s, &store.AuditEvent{At: t0, Kind: "admin.recovery.created", ActorID: "u1", UserID: "u2"})
		l := newRecoveryLink(token, "u2", "u1", t0.Add(time.Hour))
		must(t, s.CreateRecoveryLink(ctx, l), "create recovery link")
		return id, l.TokenHash
	}

	src := newStore(t)
	Fill(t, src)
	_, srcLink := addBoth(src, "src")
	dump := Dump(t, src)
	for i, r := range dump {
		if !slices.Contains(store.Kinds, r.Kind) {
			t.Errorf("record %d has kind %q", i, r.Kind)
		}
	}

	// Not moved.
	dst := newStore(t)
	appendAudit(t, dst, &store.AuditEvent{At: t0, Kind: "signin.failure"}) // not "data": Import goes ahead
	before := listIDs(t, dst, store.AuditFilter{})
	_, err := dst.Import(ctx, Feed(dump), false)
	must(t, err, "import into a store with only an audit log")
	if got := listIDs(t, dst, store.AuditFilter{}); !slices.Equal(got, before) {
		t.Errorf("audit log after import = %v, want %v (nothing moved)", got, before)
	}
	_, err = dst.RecoveryLinkByHash(ctx, srcLink, t0)
	wantIs(t, err, store.ErrNotFound, "recovery link after import")

	// A wipe deletes recovery links but keeps the audit log.
	full := newStore(t)
	Fill(t, full)
	auditID, link := addBoth(full, "full")
	_, err = full.Import(ctx, Feed(dump), true)
	must(t, err, "import with wipe")
	_, err = full.RecoveryLinkByHash(ctx, link, t0)
	wantIs(t, err, store.ErrNotFound, "recovery link after a wipe")
	if got := listIDs(t, full, store.AuditFilter{}); !slices.Equal(got, []int64{auditID}) {
		t.Errorf("audit log after a wipe = %v, want [%d]", got, auditID)
	}
}

// A member's unused links that set a password end together: when a newer
// one of the same kind is made, when one is used, when the password is set
// (a rehash of the same password is no change), and when the account is
// disabled. A verify link is apart: only a newer verify link replaces it.
func testRecoveryLinksEndTogether(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "")), "create bob")
	exp := t0.Add(time.Hour)
	n := 0
	link := func(user, purpose string) []byte {
		n++
		l := newRecoveryLink(fmt.Sprintf("link%d", n), user, "", exp)
		l.Purpose = purpose
		if purpose == store.LinkVerify {
			l.Email = user + "@example.org"
		}
		must(t, s.CreateRecoveryLink(ctx, l), "create link")
		return l.TokenHash
	}
	valid := func(h []byte) bool {
		_, err := s.RecoveryLinkByHash(ctx, h, t0)
		return err == nil
	}
	update := func(what string, fn func(*store.User)) {
		_, err := s.UpdateUser(ctx, "u1", func(u *store.User) error { fn(u); return nil })
		must(t, err, what)
	}

	older := link("u1", store.LinkRecovery)
	a, invite, verify, bobs := link("u1", store.LinkRecovery), link("u1", store.LinkInvite), link("u1", store.LinkVerify), link("u2", store.LinkRecovery)
	if valid(older) || !valid(a) {
		t.Fatalf("a newer recovery link: older valid %v (want false), newer %v (want true)", valid(older), valid(a))
	}
	got, err := s.ConsumeRecoveryLink(ctx, a, t0)
	must(t, err, "use a link")
	if got.Purpose != store.LinkRecovery {
		t.Errorf("consumed link purpose %q", got.Purpose)
	}
	if valid(invite) || !valid(verify) || !valid(bobs) {
		t.Fatalf("after using alice's recovery link: her invitation %v (want false), her verify link %v, bob's link %v (want true)",
			valid(invite), valid(verify), valid(bobs))
	}
	v, err := s.ConsumeRecoveryLink(ctx, verify, t0)
	must(t, err, "verify")
	if v.Purpose != store.LinkVerify || v.Email != "u1@example.org" {
		t.Errorf("verify link: %+v", v)
	}

	c := link("u1", store.LinkRecovery)
	update("rehash", func(u *store.User) { u.PasswordHash += "x" })
	update("rename", func(u *store.User) { u.Name = "Alice" })
	if !valid(c) {
		t.Fatal("a rehash or a profile change ended a recovery link")
	}
	verify = link("u1", store.LinkVerify)
	update("set password", func(u *store.User) { u.PasswordChangedAt = t0.Add(time.Minute) })
	if valid(c) || !valid(verify) {
		t.Fatalf("after a password change: recovery link valid %v (want false), verify link %v (want true)", valid(c), valid(verify))
	}

	d := link("u1", store.LinkInvite)
	update("disable", func(u *store.User) { u.Disabled = true })
	update("enable", func(u *store.User) { u.Disabled = false })
	if valid(d) || !valid(bobs) {
		t.Fatalf("after disabling alice: her link valid %v (want false), bob's %v (want true)", valid(d), valid(bobs))
	}
}

// testCountAuditAcrossHours: the counts are exact for any since, though
// the stores keep whole hours (the part of an hour before them is counted
// event by event), and pruning leaves them exact.
func testCountAuditAcrossHours(t *testing.T, s store.Store) {
	ctx := t.Context()
	hour := time.Unix(t0.Unix()-t0.Unix()%3600, 0).UTC()
	for _, at := range []time.Duration{10 * time.Second, 30 * time.Minute, 59*time.Minute + 59*time.Second,
		time.Hour + 5*time.Second, 3*time.Hour + time.Minute} {
		appendAudit(t, s, &store.AuditEvent{At: hour.Add(at), Kind: "signin.success", Method: "pwd", Result: "ok"})
	}
	count := func(since time.Time) int {
		t.Helper()
		rows, err := s.CountAudit(ctx, since, []string{"signin.success"})
		must(t, err, "count audit")
		n := 0
		for _, r := range rows {
			n += r.N
		}
		return n
	}
	for since, want := range map[time.Duration]int{0: 5, 15 * time.Minute: 4, time.Hour: 2, time.Hour + 5*time.Second: 2,
		time.Hour + 6*time.Second: 1, 4 * time.Hour: 0} {
		if got := count(hour.Add(since)); got != want {
			t.Errorf("CountAudit(hour+%s) = %d, want %d", since, got, want)
		}
	}
	days, err := s.CountAuditByDay(ctx, hour.Add(15*time.Minute), []string{"signin.success"})
	must(t, err, "count by day")
	n := 0
	for _, d := range days {
		n += d.N
	}
	if n != 4 {
		t.Errorf("CountAuditByDay(hour+15m) = %d events, want 4", n)
	}
	pruned, err := s.PruneAudit(ctx, hour.Add(time.Hour+6*time.Second))
	must(t, err, "prune")
	if pruned != 4 || count(time.Time{}) != 1 {
		t.Errorf("pruned %d, %d left; want 4 and 1", pruned, count(time.Time{}))
	}
}

// testAdoptionFollowsPasskeys: a member who signs in and adds a passkey
// later the same week counts as having one that week, once, however many
// others signed in that week; a passkey deleted later does not rewrite
// it; since anywhere in a week means that week.
func testAdoptionFollowsPasskeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	monday := time.Date(2030, 1, 7, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"u1", "u2"} {
		must(t, s.CreateUser(ctx, newUser(id, "user-"+id, "")), "create "+id)
		must(t, s.AppendAudit(ctx, &store.AuditEvent{At: monday.Add(time.Hour), Kind: "signin.success", UserID: id, Method: "pwd"}), "sign in")
	}
	want := func(step string, since time.Time, w []store.WeekAdoption) {
		t.Helper()
		got, err := s.PasskeyAdoption(ctx, since, 2)
		must(t, err, "adoption")
		if !slices.Equal(got, w) {
			t.Errorf("%s: adoption %+v, want %+v", step, got, w)
		}
	}
	want("signed in with a password", monday, []store.WeekAdoption{{Week: 0, Active: 2}})
	must(t, s.CreatePasskey(ctx, newPasskey("pk1", "u1", monday.Add(50*time.Hour))), "add a passkey on Wednesday")
	want("a passkey added the same week", monday, []store.WeekAdoption{{Week: 0, Active: 2, WithPasskey: 1}})
	want("since on Thursday of that week", monday.Add(80*time.Hour), []store.WeekAdoption{{Week: 0, Active: 2, WithPasskey: 1}})
	must(t, s.DeletePasskey(ctx, "u1", "pk1"), "delete it the next week")
	want("the passkey deleted later", monday, []store.WeekAdoption{{Week: 0, Active: 2, WithPasskey: 1}})
}
