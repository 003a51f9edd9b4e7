package main

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/pgtest"
	"github.com/communityidp/idp/idp/store/postgres"
	"github.com/communityidp/idp/idp/store/sqlite"
)

// The seeding tool, run tiny on both databases: what it writes is what
// the provider reads (members, the admin, passkeys, counts, the log).
func TestSeed(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "seed.db")
		seed(t, options{driver: "sqlite", dsn: path})
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		check(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		seed(t, options{driver: "postgres", dsn: dsn})
		s, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		check(t, s)
	})
}

func seed(t *testing.T, o options) {
	t.Helper()
	o.members, o.passkeys, o.events, o.password = 200, 2, 10, "seeded password"
	if err := run(t.Context(), o, io.Discard); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	if n, err := s.CountUsers(ctx); err != nil || n != 200 {
		t.Errorf("members: %d %v", n, err)
	}
	c, err := s.PasskeyCoverage(ctx)
	if err != nil || c.Admins != 1 || c.AdminsWithPasskey != 1 || c.Members != 199 || c.MembersWithPasskey != 99 {
		t.Errorf("coverage %+v %v", c, err)
	}
	admin, err := s.UserByLogin(ctx, "admin")
	if err != nil || admin.Role != store.RoleAdmin {
		t.Fatalf("admin: %+v %v", admin, err)
	}
	if pks, err := s.PasskeysByUser(ctx, admin.ID); err != nil || len(pks) != 4 {
		t.Errorf("the admin's passkeys: %d %v", len(pks), err)
	}
	rows, err := s.CountAudit(ctx, time.Time{}, nil)
	n := 0
	for _, r := range rows {
		n += r.N
	}
	if err != nil || n != 2000 {
		t.Errorf("audit events: %d %v", n, err)
	}
}
