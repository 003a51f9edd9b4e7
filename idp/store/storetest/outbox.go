package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func newMail(id string, at time.Time) *store.OutboxMessage {
	return &store.OutboxMessage{ID: id, Kind: "mail", Recipient: id + "@example.org", Topic: "reset",
		Payload: []byte("sealed " + id), CreatedAt: at, NextAttemptAt: at}
}

// A message is claimed by one claimer at a time, for the lease; sent, it
// loses its payload and is never claimed again; failed, it comes back at
// its next attempt, or never.
func testOutbox(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.Enqueue(ctx, newMail("m1", t0), newMail("m2", t0.Add(time.Second))), "enqueue")
	later := newMail("m3", t0)
	later.NextAttemptAt = t0.Add(time.Hour)
	must(t, s.Enqueue(ctx, later), "enqueue a later one")

	logout := &store.OutboxMessage{ID: "b1", Kind: store.OutboxBackchannel, Recipient: "site", Topic: "logout",
		Payload: []byte(`{"sub":"u1"}`), CreatedAt: t0.Add(-time.Second), NextAttemptAt: t0}
	must(t, s.Enqueue(ctx, logout), "enqueue a logout notice")
	// A claimer of some kinds takes only those.
	got, err := s.ClaimOutbox(ctx, t0.Add(time.Minute), time.Minute, 10, store.OutboxBackchannel)
	must(t, err, "claim logout notices")
	if len(got) != 1 || got[0].ID != "b1" {
		t.Fatalf("claim of one kind: %+v", got)
	}
	must(t, s.OutboxSent(ctx, "b1", t0), "sent b1")

	got, err = s.ClaimOutbox(ctx, t0.Add(time.Minute), time.Minute, 10, "mail")
	must(t, err, "claim")
	if len(got) != 2 || got[0].ID != "m1" || got[1].ID != "m2" || string(got[0].Payload) != "sealed m1" {
		t.Fatalf("first claim: %+v", got)
	}
	if again, _ := s.ClaimOutbox(ctx, t0.Add(90*time.Second), time.Minute, 10); len(again) != 0 {
		t.Fatalf("claimed again within the lease: %+v", again)
	}
	must(t, s.OutboxSent(ctx, "m1", t0.Add(2*time.Minute)), "sent")
	must(t, s.OutboxFailed(ctx, "m2", "connection refused", t0.Add(10*time.Minute)), "failed")
	failing, err := s.ListOutbox(ctx, 10)
	must(t, err, "list")
	if len(failing) != 1 || failing[0].ID != "m2" || failing[0].Attempts != 1 || failing[0].LastError != "connection refused" {
		t.Fatalf("failing messages: %+v", failing)
	}
	// After the lease ran out a message is claimable again; sent ones never.
	got, _ = s.ClaimOutbox(ctx, t0.Add(11*time.Minute), time.Minute, 10)
	if len(got) != 1 || got[0].ID != "m2" {
		t.Fatalf("claim after the retry time: %+v", got)
	}
	must(t, s.OutboxFailed(ctx, "m2", "gave up", time.Time{}), "give up")
	if got, _ := s.ClaimOutbox(ctx, t0.Add(2*time.Hour), time.Minute, 10); len(got) != 1 || got[0].ID != "m3" {
		t.Fatalf("claim later: %+v (m2 gave up, m3 due)", got)
	}
	// GC: sent mail goes after a week, mail given up on after 30 days.
	st, err := s.GC(ctx, t0.Add(8*24*time.Hour))
	must(t, err, "gc")
	if st.Outbox != 2 {
		t.Errorf("GC after 8 days deleted %d outbox rows, want 2 (the sent ones)", st.Outbox)
	}
	st, _ = s.GC(ctx, t0.Add(31*24*time.Hour))
	if st.Outbox != 1 {
		t.Errorf("GC after 31 days deleted %d outbox rows, want 1 (the given-up one)", st.Outbox)
	}
}

// Claimers at the same moment (replicas) never take the same message.
func testConcurrentOutboxClaims(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []string
	for i := range 40 {
		id := fmt.Sprintf("m%02d", i)
		all = append(all, id)
		must(t, s.Enqueue(ctx, newMail(id, t0)), "enqueue")
	}
	var mu sync.Mutex
	var claimed []string
	errs := race(func(int) error {
		got, err := s.ClaimOutbox(ctx, t0.Add(time.Minute), time.Minute, 7)
		mu.Lock()
		for _, m := range got {
			claimed = append(claimed, m.ID)
		}
		mu.Unlock()
		return err
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("claim %d", i))
	}
	slices.Sort(claimed)
	if len(claimed) != len(slices.Compact(slices.Clone(claimed))) {
		t.Fatalf("a message was claimed twice: %v", claimed)
	}
	if len(claimed) != min(40, 7*concurrency) {
		t.Errorf("%d messages claimed, want %d", len(claimed), min(40, 7*concurrency))
	}
}
