package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testCreateAndGetUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("u1", "Alice", "Alice@Example.ORG")
	u.EmailVerified = true
	u.Role = store.RoleAdmin
	u.Disabled = true
	u.PasswordChangedAt = t0.Add(time.Minute)
	must(t, s.CreateUser(ctx, u), "create user")

	want := *u
	want.Username, want.Email = "alice", "alice@example.org"
	if u.Username != want.Username || u.Email != want.Email {
		// Not required by store.go, but every backend folds in place.
		t.Errorf("CreateUser left %q, %q in u, want the stored %q, %q", u.Username, u.Email, want.Username, want.Email)
	}

	got, err := s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	checkEqual(t, "UserByID", got, &want)

	for _, login := range []string{"alice", "ALICE", "aLiCe", "alice@example.org", "ALICE@EXAMPLE.ORG"} {
		got, err := s.UserByLogin(ctx, login)
		if err != nil {
			t.Errorf("UserByLogin(%q): %v", login, err)
			continue
		}
		checkEqual(t, fmt.Sprintf("UserByLogin(%q)", login), got, &want)
	}

	// "@" decides the column: the email's local part is not a username and
	// the username is not an email.
	for _, login := range []string{"alice@", "bob", "alice@example.com", ""} {
		_, err := s.UserByLogin(ctx, login)
		wantIs(t, err, store.ErrNotFound, fmt.Sprintf("UserByLogin(%q)", login))
	}
	_, err = s.UserByID(ctx, "nope")
	wantIs(t, err, store.ErrNotFound, "UserByID(unknown)")
}

func testDuplicateUsername(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	err := s.CreateUser(ctx, newUser("u2", "ALICE", "other@example.org"))
	wantConflict(t, err, "username", "duplicate username")
	if n := count(t, s); n != 1 {
		t.Errorf("CountUsers = %d after a conflict, want 1", n)
	}
}

func testDuplicateEmail(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	err := s.CreateUser(ctx, newUser("u2", "bob", "Alice@Example.org"))
	wantConflict(t, err, "email", "duplicate email")
	if n := count(t, s); n != 1 {
		t.Errorf("CountUsers = %d after a conflict, want 1", n)
	}
}

func testUsersWithoutEmail(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "")), "create user without email")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "")), "create second user without email")
	got, err := s.UserByID(ctx, "u2")
	must(t, err, "user by id")
	if got.Email != "" {
		t.Errorf("Email = %q, want empty", got.Email)
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")

	later := t0.Add(time.Hour)
	got, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
		u.ID = "hijack"
		u.CreatedAt = later
		u.Username = "Alicia"
		u.Email = "ALICIA@example.org"
		u.EmailVerified = true
		u.Name = "Alicia A."
		u.Role = store.RoleAdmin
		u.PasswordHash = "$argon2id$new"
		u.Disabled = true
		u.WebAuthnID = handle("new")
		u.UpdatedAt = later
		u.PasswordChangedAt = later
		return nil
	})
	must(t, err, "update user")

	want := newUser("u1", "alicia", "alicia@example.org")
	want.EmailVerified = true
	want.Name = "Alicia A."
	want.Role = store.RoleAdmin
	want.PasswordHash = "$argon2id$new"
	want.Disabled = true
	want.WebAuthnID = handle("new")
	want.UpdatedAt = later
	want.PasswordChangedAt = later
	checkEqual(t, "UpdateUser result", got, want)

	stored, err := s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	checkEqual(t, "UserByID after update", stored, want)
	_, err = s.UserByID(ctx, "hijack")
	wantIs(t, err, store.ErrNotFound, "UserByID(changed id)")
	_, err = s.UserByLogin(ctx, "alice")
	wantIs(t, err, store.ErrNotFound, "UserByLogin(old username)")

	// Clearing optional fields writes them back too.
	got, err = s.UpdateUser(ctx, "u1", func(u *store.User) error {
		u.PasswordHash = ""
		u.PasswordChangedAt = time.Time{}
		u.Disabled = false
		return nil
	})
	must(t, err, "clear fields")
	if got.PasswordHash != "" || !got.PasswordChangedAt.IsZero() || got.Disabled {
		t.Errorf("after clearing: PasswordHash=%q PasswordChangedAt=%v Disabled=%v, want empty, zero, false",
			got.PasswordHash, got.PasswordChangedAt, got.Disabled)
	}
	stored, err = s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	checkEqual(t, "UserByID after clearing", stored, got)
}

func testUpdateUserConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")

	_, err := s.UpdateUser(ctx, "u2", func(u *store.User) error { u.Username = "Alice"; return nil })
	wantConflict(t, err, "username", "rename to a taken username")
	_, err = s.UpdateUser(ctx, "u2", func(u *store.User) error { u.Email = "ALICE@example.org"; return nil })
	wantConflict(t, err, "email", "change to a taken email")

	got, err := s.UserByID(ctx, "u2")
	must(t, err, "user by id")
	checkEqual(t, "bob after failed updates", got, newUser("u2", "bob", "bob@example.org"))
}

func testUpdateUserErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")

	boom := errors.New("boom")
	_, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
		u.Name = "changed"
		return boom
	})
	wantIs(t, err, boom, "UpdateUser with failing fn")
	got, err := s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	if got.Name != "Name u1" {
		t.Errorf("Name = %q after a failed update, want unchanged %q", got.Name, "Name u1")
	}

	called := false
	_, err = s.UpdateUser(ctx, "nope", func(*store.User) error { called = true; return nil })
	wantIs(t, err, store.ErrNotFound, "UpdateUser(unknown)")
	if called {
		t.Error("UpdateUser called fn for an unknown user")
	}
}

func testListAndCountUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	if n := count(t, s); n != 0 {
		t.Fatalf("CountUsers on an empty store = %d", n)
	}
	users, err := s.ListUsers(ctx)
	must(t, err, "list users")
	if len(users) != 0 {
		t.Fatalf("ListUsers on an empty store = %d users", len(users))
	}
	for _, u := range []*store.User{
		newUser("u1", "carol", "carol@example.org"),
		newUser("u2", "Alice", "alice@example.org"),
		newUser("u3", "bob", "bob@example.org"),
	} {
		must(t, s.CreateUser(ctx, u), "create "+u.Username)
	}
	if n := count(t, s); n != 3 {
		t.Errorf("CountUsers = %d, want 3", n)
	}
	users, err = s.ListUsers(ctx)
	must(t, err, "list users")
	var names []string
	for _, u := range users {
		names = append(names, u.ID+":"+u.Username)
	}
	if want := []string{"u2:alice", "u3:bob", "u1:carol"}; !slices.Equal(names, want) {
		t.Errorf("ListUsers = %v, want %v", names, want)
	}
	if len(users) == 3 {
		checkEqual(t, "ListUsers[1]", &users[1], newUser("u3", "bob", "bob@example.org"))
	}
}

func testWebAuthnIDRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := make([]byte, 64)
	for i := range id {
		id[i] = byte(i * 37)
	}
	id[0], id[1], id[63] = 0x00, 0xff, 0x00 // NUL and high bytes must survive
	u := newUser("u1", "alice", "alice@example.org")
	u.WebAuthnID = slices.Clone(id)
	must(t, s.CreateUser(ctx, u), "create user")
	got, err := s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	if !bytes.Equal(got.WebAuthnID, id) {
		t.Errorf("WebAuthnID = %x, want %x", got.WebAuthnID, id)
	}
}
