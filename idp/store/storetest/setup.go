package storetest

import (
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testSetupTokenValid(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	must(t, s.CreateSetupToken(ctx, hash("setup"), exp), "create setup token")
	for _, tc := range []struct {
		name  string
		token []byte
		now   time.Time
		want  bool
	}{
		{"fresh", hash("setup"), t0, true},
		{"a second before expiry", hash("setup"), exp.Add(-time.Second), true},
		{"at expiry", hash("setup"), exp, false},
		{"after expiry", hash("setup"), exp.Add(time.Second), false},
		{"unknown", hash("other"), t0, false},
	} {
		got, err := s.SetupTokenValid(ctx, tc.token, tc.now)
		if err != nil {
			t.Errorf("%s: SetupTokenValid: %v", tc.name, err)
		} else if got != tc.want {
			t.Errorf("%s: SetupTokenValid = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testCreateFirstAdmin(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateSetupToken(ctx, hash("one"), t0.Add(time.Hour)), "create setup token")
	must(t, s.CreateSetupToken(ctx, hash("two"), t0.Add(time.Hour)), "create second setup token")

	admin := newUser("u1", "Root", "Root@Example.org")
	admin.Role = store.RoleAdmin
	must(t, s.CreateFirstAdmin(ctx, hash("one"), admin, t0), "create first admin")

	got, err := s.UserByLogin(ctx, "root")
	must(t, err, "user by login")
	want := newUser("u1", "root", "root@example.org")
	want.Role = store.RoleAdmin
	checkEqual(t, "first admin", got, want)

	for _, tok := range []string{"one", "two"} {
		ok, err := s.SetupTokenValid(ctx, hash(tok), t0)
		must(t, err, "setup token valid")
		if ok {
			t.Errorf("setup token %q still valid after CreateFirstAdmin; all must be deleted", tok)
		}
	}
	err = s.CreateFirstAdmin(ctx, hash("one"), newUser("u2", "again", "again@example.org"), t0)
	wantIs(t, err, store.ErrNotFound, "second use of the setup token")
	if n := count(t, s); n != 1 {
		t.Errorf("CountUsers = %d, want 1", n)
	}
}

func testCreateFirstAdminBadToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	must(t, s.CreateSetupToken(ctx, hash("setup"), exp), "create setup token")

	err := s.CreateFirstAdmin(ctx, hash("setup"), newUser("u1", "root", "root@example.org"), exp)
	wantIs(t, err, store.ErrNotFound, "expired setup token")
	err = s.CreateFirstAdmin(ctx, hash("unknown"), newUser("u1", "root", "root@example.org"), t0)
	wantIs(t, err, store.ErrNotFound, "unknown setup token")
	if n := count(t, s); n != 0 {
		t.Errorf("CountUsers = %d after failed setups, want 0", n)
	}
	ok, err := s.SetupTokenValid(ctx, hash("setup"), t0)
	must(t, err, "setup token valid")
	if !ok {
		t.Error("a failed CreateFirstAdmin deleted the setup token")
	}
}

func testCreateFirstAdminUserExists(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	must(t, s.CreateSetupToken(ctx, hash("setup"), t0.Add(time.Hour)), "create setup token")

	err := s.CreateFirstAdmin(ctx, hash("setup"), newUser("u2", "root", "root@example.org"), t0)
	wantIs(t, err, store.ErrConflict, "CreateFirstAdmin with a user present")
	if n := count(t, s); n != 1 {
		t.Errorf("CountUsers = %d, want 1", n)
	}
	ok, err := s.SetupTokenValid(ctx, hash("setup"), t0)
	must(t, err, "setup token valid")
	if !ok {
		t.Error("a failed CreateFirstAdmin deleted the setup token")
	}
}
