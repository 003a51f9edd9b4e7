package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// RunReplicas runs the tests that need two handles on one database, as two
// replicas of the provider (or the CLI next to the server) have. open
// returns two independent handles, each with its own connections, on the
// same fresh, migrated, empty database, and registers their cleanup
// (Close) with t.
//
// What one handle writes, the other must see at once; read-modify-write
// from both must lose nothing; and every single-use or compare-and-swap
// step must let exactly one caller win whichever handle it uses.
func RunReplicas(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		{"ConcurrentWrites", testReplicasConcurrentWrites},
		{"UpdateUser", testReplicasUpdateUser},
		{"RotateSigningKey", testReplicasRotateSigningKey},
		{"Secret", testReplicasSecret},
		{"CodeRedemption", testReplicasCodeRedemption},
		{"ConsumeRecoveryLink", testReplicasConsumeRecoveryLink},
		{"AppendAudit", testReplicasAppendAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}

// testReplicasConcurrentWrites is the "database is locked" regression:
// many goroutines writing at once through one handle must queue, never
// fail, and what they wrote is visible through the other handle at once.
func testReplicasConcurrentWrites(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	now := time.Unix(1700000000, 0)
	must(t, a.CreateUser(ctx, &store.User{ID: "u1", Username: "alice", Role: store.RoleMember, CreatedAt: now, UpdatedAt: now}), "create user")
	const workers, rounds = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				id := fmt.Sprintf("%d-%d", w, i)
				err := a.IssueTokens(ctx, store.Issue{
					Access: &store.AccessToken{ID: "at" + id, ClientID: "app", Subject: "u1", RefreshFamily: "f" + id,
						CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
					Refresh: &store.RefreshToken{ID: "rt" + id, TokenHash: []byte("h" + id), FamilyID: "f" + id,
						ClientID: "app", Subject: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(time.Hour)},
				}, now)
				if err != nil {
					errs <- fmt.Errorf("issue %s: %w", id, err)
				}
				err = a.CreateSession(ctx, &store.Session{ID: "s" + id, UserID: "u1", AuthTime: now, CreatedAt: now,
					LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)})
				if err != nil {
					errs <- fmt.Errorf("session %s: %w", id, err)
				}
				if _, err := b.AccessTokenByID(ctx, "at"+id); err != nil {
					errs <- fmt.Errorf("read %s through the other handle: %w", id, err)
				}
				_, err = a.UpdateUser(ctx, "u1", func(u *store.User) error { u.UpdatedAt = now.Add(time.Second); return nil })
				if err != nil {
					errs <- fmt.Errorf("update user %s: %w", id, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	tokens := 0
	for w := range workers {
		for i := range rounds {
			if _, err := b.RefreshTokenByID(ctx, fmt.Sprintf("rt%d-%d", w, i)); err == nil {
				tokens++
			}
		}
	}
	sessions, err := b.ListUserSessions(ctx, "u1")
	must(t, err, "list sessions")
	if tokens != workers*rounds || len(sessions) != workers*rounds {
		t.Errorf("%d refresh tokens and %d sessions, want %d each", tokens, len(sessions), workers*rounds)
	}
}

// testReplicasUpdateUser: read-modify-write from both handles loses no
// update.
func testReplicasUpdateUser(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	now := time.Unix(1700000000, 0)
	must(t, a.CreateUser(ctx, &store.User{ID: "u1", Username: "alice", Role: store.RoleMember, CreatedAt: now, UpdatedAt: now}), "create user")
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range rounds {
				if _, err := s.UpdateUser(ctx, "u1", func(u *store.User) error { u.Name += "x"; return nil }); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	u, err := b.UserByID(ctx, "u1")
	must(t, err, "user by id")
	if len(u.Name) != workers*rounds {
		t.Errorf("name has %d x, want %d", len(u.Name), workers*rounds)
	}
}

// testReplicasRotateSigningKey: replicas rotating at once produce one key.
func testReplicasRotateSigningKey(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	stores := []store.Store{a, b}
	now := time.Unix(1700000000, 0)
	must(t, a.RotateSigningKey(ctx, &store.SigningKey{ID: "k0", Algorithm: "RS256", PrivateKey: []byte{1}, CreatedAt: now}, "", time.Time{}), "first key")
	errs := race(func(i int) error {
		k := &store.SigningKey{ID: fmt.Sprintf("k%d", i+1), Algorithm: "RS256", PrivateKey: []byte{2}, CreatedAt: now.Add(time.Hour)}
		return stores[i%2].RotateSigningKey(ctx, k, "k0", now.Add(24*time.Hour))
	})
	w := oneWinner(t, "rotations from two replicas", errs)
	for _, s := range stores {
		keys, err := s.SigningKeys(ctx)
		must(t, err, "signing keys")
		if len(keys) != 2 || keys[0].ID != fmt.Sprintf("k%d", w+1) || keys[0].RetireAt != nil || keys[1].ID != "k0" || keys[1].RetireAt == nil {
			t.Errorf("keys %+v; want the winner's active and k0 retiring", keys)
		}
	}
}

// testReplicasSecret: replicas generating a secret at once all end up
// with the same one.
func testReplicasSecret(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	stores := []store.Store{a, b}
	got := make([][]byte, concurrency)
	errs := race(func(i int) error {
		v, err := stores[i%2].Secret(ctx, "crypto", func() ([]byte, error) { return []byte(fmt.Sprintf("secret-%d", i)), nil })
		got[i] = v
		return err
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("Secret %d", i))
	}
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Errorf("Secret %d = %q, but Secret 0 = %q", i, got[i], got[0])
		}
	}
	if !bytes.HasPrefix(got[0], []byte("secret-")) {
		t.Errorf("Secret = %q, want one of the generated values", got[0])
	}
}

// testReplicasCodeRedemption: a code redeemed through both replicas at
// once issues tokens once.
func testReplicasCodeRedemption(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	stores := []store.Store{a, b}
	redeemable(t, a, "ar1", "code")
	errs := race(func(i int) error {
		fam := fmt.Sprintf("fam%d", i)
		return stores[i%2].IssueTokens(ctx, store.Issue{
			ConsumeCode: "ar1",
			Access:      newAccess(fmt.Sprintf("at%d", i), "u1", fam),
			Refresh:     newRefresh(fmt.Sprintf("rt%d", i), fam, "", "u1"),
		}, t0)
	})
	w := oneWinner(t, "redemptions from two replicas", errs)
	ar, err := b.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	if want := fmt.Sprintf("at%d", w); ar.IssuedAccessTokenID != want {
		t.Errorf("IssuedAccessTokenID = %q, want the winner's %q", ar.IssuedAccessTokenID, want)
	}
}

// testReplicasConsumeRecoveryLink: a recovery link used through both
// replicas at once works once.
func testReplicasConsumeRecoveryLink(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	stores := []store.Store{a, b}
	must(t, a.CreateUser(ctx, newUser("u1", "alice", "")), "create alice")
	l := newRecoveryLink("one", "u1", "a1", t0.Add(time.Hour))
	must(t, a.CreateRecoveryLink(ctx, l), "create recovery link")
	errs := race(func(i int) error {
		_, err := stores[i%2].ConsumeRecoveryLink(ctx, l.TokenHash, t0)
		return err
	})
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("loser %d got %v, want ErrNotFound", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%d callers consumed the link, want exactly 1", winners)
	}
}

// testReplicasAppendAudit: both replicas append to one log; IDs are
// distinct, and increase for each writer's successive appends.
func testReplicasAppendAudit(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	stores := []store.Store{a, b}
	const rounds = 10
	ids := make([][]int64, concurrency)
	errs := race(func(i int) error {
		for r := range rounds {
			e := &store.AuditEvent{At: t0.Add(time.Duration(r) * time.Second), Kind: "signin.success", UserID: fmt.Sprint(i)}
			if err := stores[i%2].AppendAudit(ctx, e); err != nil {
				return err
			}
			ids[i] = append(ids[i], e.ID)
		}
		return nil
	})
	var all []int64
	for i, err := range errs {
		must(t, err, fmt.Sprintf("appender %d", i))
		if !slices.IsSorted(ids[i]) || len(slices.Compact(slices.Clone(ids[i]))) != rounds {
			t.Errorf("appender %d got IDs %v, want %d increasing", i, ids[i], rounds)
		}
		all = append(all, ids[i]...)
	}
	slices.Sort(all)
	slices.Reverse(all)
	for _, s := range stores {
		if got := listIDs(t, s, store.AuditFilter{}); !slices.Equal(got, all) {
			t.Errorf("ListAudit = %v, want every appended ID newest first: %v", got, all)
		}
	}
}
