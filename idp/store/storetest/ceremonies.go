package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testCeremonies(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := t0.Add(5 * time.Minute)
	reg := newCeremony("c-reg", "register", "u1", exp)
	login := newCeremony("c-login", "login", "", exp)
	must(t, s.CreateCeremony(ctx, reg), "create registration")
	must(t, s.CreateCeremony(ctx, login), "create sign-in")
	wantIs(t, s.CreateCeremony(ctx, newCeremony("c-reg", "login", "", exp)), store.ErrConflict, "duplicate ceremony id")

	got, err := s.ConsumeCeremony(ctx, "c-reg", exp.Add(-time.Second))
	must(t, err, "consume registration a second before expiry")
	checkEqual(t, "consumed registration", got, reg)
	got, err = s.ConsumeCeremony(ctx, "c-reg", t0)
	wantIs(t, err, store.ErrNotFound, "second consume")
	if got != nil {
		t.Errorf("second consume returned %+v", got)
	}

	got, err = s.ConsumeCeremony(ctx, "c-login", t0)
	must(t, err, "consume sign-in")
	checkEqual(t, "consumed sign-in", got, login)
	if got.UserID != "" {
		t.Errorf("discoverable sign-in has UserID %q, want empty", got.UserID)
	}

	// Expired at ExpiresAt, and gone after an expired attempt.
	must(t, s.CreateCeremony(ctx, newCeremony("c-old", "login", "", exp)), "create ceremony")
	got, err = s.ConsumeCeremony(ctx, "c-old", exp)
	wantIs(t, err, store.ErrNotFound, "consume at expiry")
	if got != nil {
		t.Errorf("consume at expiry returned %+v", got)
	}
	_, err = s.ConsumeCeremony(ctx, "c-old", t0)
	wantIs(t, err, store.ErrNotFound, "consume after an expired attempt")
	must(t, s.CreateCeremony(ctx, newCeremony("c-older", "register", "u1", exp)), "create ceremony")
	_, err = s.ConsumeCeremony(ctx, "c-older", exp.Add(time.Hour))
	wantIs(t, err, store.ErrNotFound, "consume after expiry")

	_, err = s.ConsumeCeremony(ctx, "nope", t0)
	wantIs(t, err, store.ErrNotFound, "consume unknown ceremony")
}

func testConcurrentCeremonyConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 4 {
		id := fmt.Sprintf("c%d", round)
		c := newCeremony(id, "login", "", t0.Add(5*time.Minute))
		must(t, s.CreateCeremony(ctx, c), "create ceremony")
		got := make([]*store.Ceremony, concurrency)
		errs := race(func(i int) error {
			var err error
			got[i], err = s.ConsumeCeremony(ctx, id, t0)
			return err
		})
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				checkEqual(t, fmt.Sprintf("round %d: ceremony of winner %d", round, i), got[i], c)
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("round %d: loser %d got %v, want ErrNotFound", round, i, err)
			case got[i] != nil:
				t.Errorf("round %d: loser %d got a ceremony", round, i)
			}
		}
		if winners != 1 {
			t.Errorf("round %d: %d callers consumed the ceremony, want exactly 1", round, winners)
		}
	}
}

func testSuggestionSnooze(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	snoozed := func(userID string) time.Time {
		t.Helper()
		until, err := s.SuggestionSnoozedUntil(ctx, userID)
		must(t, err, "snoozed until")
		return until
	}
	if got := snoozed("u1"); !got.IsZero() {
		t.Errorf("never snoozed: %v, want the zero time", got)
	}
	if got := snoozed("nobody"); !got.IsZero() {
		t.Errorf("unknown member: %v, want the zero time", got)
	}

	month := t0.Add(30 * 24 * time.Hour)
	must(t, s.SnoozeSuggestion(ctx, "u1", month), "snooze")
	if got := snoozed("u1"); !got.Equal(month) {
		t.Errorf("snoozed until %v, want %v", got, month)
	}
	// A later answer replaces the earlier one, also with an earlier time.
	hour := t0.Add(time.Hour)
	must(t, s.SnoozeSuggestion(ctx, "u1", hour), "snooze again")
	if got := snoozed("u1"); !got.Equal(hour) {
		t.Errorf("snoozed again until %v, want %v", got, hour)
	}
	if got := snoozed("u2"); !got.IsZero() {
		t.Errorf("another member snoozed until %v, want the zero time", got)
	}
}
