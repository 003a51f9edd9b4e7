package outbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/storetest"
)

// A worker delivers only the kinds it has a handler for, and gives up at
// once on a permanent error while it retries a passing one.
func TestKindsAndPermanentErrors(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	t0 := time.Unix(1_800_000_000, 0)
	for _, m := range []*store.OutboxMessage{
		{ID: "a", Kind: "flaky", Recipient: "x", Topic: "t", CreatedAt: t0, NextAttemptAt: t0},
		{ID: "b", Kind: "broken", Recipient: "x", Topic: "t", CreatedAt: t0, NextAttemptAt: t0},
		{ID: "c", Kind: "other", Recipient: "x", Topic: "t", CreatedAt: t0, NextAttemptAt: t0},
	} {
		if err := st.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	results := map[string]string{}
	w := NewWorker(st, map[string]Handler{
		"flaky":  func(context.Context, store.OutboxMessage) error { return errors.New("try later") },
		"broken": func(context.Context, store.OutboxMessage) error { return Permanent(errors.New("never")) },
	}, func() time.Time { return t0.Add(time.Second) })
	w.Result = func(m store.OutboxMessage, r string) { results[m.ID] = r }
	w.Drain(ctx)
	if results["a"] != "retry" || results["b"] != "given_up" || results["c"] != "" {
		t.Fatalf("results %v", results)
	}
	list, err := st.ListOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		switch m.ID {
		case "a":
			if !m.NextAttemptAt.Equal(t0.Add(time.Second + RetryIn(1))) {
				t.Errorf("a retries at %v", m.NextAttemptAt)
			}
		case "b":
			if !m.NextAttemptAt.IsZero() || m.LastError != "never" {
				t.Errorf("b: %+v", m)
			}
		}
	}
	other, _ := st.ClaimOutbox(ctx, t0.Add(time.Minute), time.Minute, 10, "other")
	if len(other) != 1 || other[0].Attempts != 0 {
		t.Errorf("the worker touched a kind it has no handler for: %+v", other)
	}
}
