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

// race runs fn(i) for i in [0, concurrency) at once and returns the errors.
func race(fn func(i int) error) []error {
	errs := make([]error, concurrency)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and the others are
// ErrConflict, and returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("%s: both %d and %d won", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("%s: loser %d got %v, want ErrConflict", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: nobody won: %v", what, errs)
	}
	return winner
}

func testConcurrentCodeRedemption(t *testing.T, s store.Store) {
	ctx := t.Context()
	redeemable(t, s, "ar1", "code")
	errs := race(func(i int) error {
		fam := fmt.Sprintf("fam%d", i)
		return s.IssueTokens(ctx, store.Issue{
			ConsumeCode: "ar1",
			Access:      newAccess(fmt.Sprintf("at%d", i), "u1", fam),
			Refresh:     newRefresh(fmt.Sprintf("rt%d", i), fam, "", "u1"),
		}, t0)
	})
	w := oneWinner(t, "parallel redemptions", errs)

	ar, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	if want := fmt.Sprintf("at%d", w); ar.IssuedAccessTokenID != want {
		t.Errorf("IssuedAccessTokenID = %q, want the winner's %q", ar.IssuedAccessTokenID, want)
	}
	if want := fmt.Sprintf("fam%d", w); ar.IssuedRefreshFamily != want {
		t.Errorf("IssuedRefreshFamily = %q, want the winner's %q", ar.IssuedRefreshFamily, want)
	}
	for i := range concurrency {
		_, errA := s.AccessTokenByID(ctx, fmt.Sprintf("at%d", i))
		_, errR := s.RefreshTokenByID(ctx, fmt.Sprintf("rt%d", i))
		if i == w && (errA != nil || errR != nil) {
			t.Errorf("winner's tokens: %v, %v", errA, errR)
		}
		if i != w && (!errors.Is(errA, store.ErrNotFound) || !errors.Is(errR, store.ErrNotFound)) {
			t.Errorf("loser %d's tokens exist: %v, %v", i, errA, errR)
		}
	}
}

func testConcurrentRefreshRotation(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.IssueTokens(ctx, store.Issue{Access: newAccess("at", "u1", "fam"), Refresh: newRefresh("rt", "fam", "", "u1")}, t0), "issue")
	now := t0.Add(time.Minute)
	errs := race(func(i int) error {
		return s.IssueTokens(ctx, store.Issue{
			RotateFrom: "rt",
			Access:     newAccess(fmt.Sprintf("at%d", i), "u1", "fam"),
			Refresh:    newRefresh(fmt.Sprintf("rt%d", i), "fam", "rt", "u1"),
		}, now)
	})
	w := oneWinner(t, "parallel rotations", errs)
	parent, err := s.RefreshTokenByID(ctx, "rt")
	must(t, err, "parent by id")
	if parent.UsedAt == nil || !parent.UsedAt.Equal(now) {
		t.Errorf("parent UsedAt = %v, want %v", parent.UsedAt, now)
	}
	for i := range concurrency {
		_, err := s.RefreshTokenByID(ctx, fmt.Sprintf("rt%d", i))
		if i == w && err != nil {
			t.Errorf("winner's child: %v", err)
		}
		if i != w && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("loser %d's child: %v, want ErrNotFound", i, err)
		}
	}
}

func testConcurrentKeyRotation(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.RotateSigningKey(ctx, newKey("k0", "RS256", t0), "", time.Time{}), "first key")
	retire := t0.Add(24 * time.Hour)
	errs := race(func(i int) error {
		return s.RotateSigningKey(ctx, newKey(fmt.Sprintf("k%d", i+1), "RS256", t0.Add(time.Hour)), "k0", retire)
	})
	w := oneWinner(t, "parallel key rotations", errs)

	keys, err := s.SigningKeys(ctx)
	must(t, err, "signing keys")
	var got []string
	for _, k := range keys {
		state := "active"
		if k.RetireAt != nil {
			state = "retire@" + k.RetireAt.UTC().Format(time.RFC3339)
		}
		got = append(got, k.ID+":"+state)
	}
	want := []string{fmt.Sprintf("k%d:active", w+1), "k0:retire@" + retire.Format(time.RFC3339)}
	if !slices.Equal(got, want) {
		t.Errorf("keys after parallel rotation = %v, want %v", got, want)
	}
}

func testConcurrentSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	got := make([][]byte, concurrency)
	errs := race(func(i int) error {
		v, err := s.Secret(ctx, "crypto", func() ([]byte, error) {
			return []byte(fmt.Sprintf("secret-%d", i)), nil
		})
		got[i] = v
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Secret %d: %v", i, err)
		}
	}
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Errorf("Secret %d = %q, but Secret 0 = %q", i, got[i], got[0])
		}
	}
	if !bytes.HasPrefix(got[0], []byte("secret-")) {
		t.Errorf("Secret = %q, want one of the generated values", got[0])
	}
	v, err := s.Secret(ctx, "crypto", func() ([]byte, error) {
		t.Error("generate called for a stored secret")
		return []byte("late"), nil
	})
	must(t, err, "secret")
	if !bytes.Equal(v, got[0]) {
		t.Errorf("Secret later = %q, want %q", v, got[0])
	}
}
