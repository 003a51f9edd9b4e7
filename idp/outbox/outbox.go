// Package outbox delivers what the database's outbox holds: mail and
// back-channel logout notices, written in the same transaction as what
// they tell of. Every replica runs a Worker; a claim with a lease keeps
// two replicas from delivering one message twice, and a failed delivery
// is retried with back-off for a day.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// Handler delivers one message of its kind. An error wrapped by
// Permanent is not retried.
type Handler func(ctx context.Context, m store.OutboxMessage) error

// permanent marks an error a retry cannot fix (the client is gone).
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Permanent wraps err so that the message is given up at once.
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err, or an error it wraps, is Permanent.
func IsPermanent(err error) bool { return errors.As(err, new(permanent)) }

// GiveUpAfter is how long a message is retried before the outbox keeps
// it as given up (the console lists it).
const GiveUpAfter = 24 * time.Hour

// RetryIn is the back-off after the attempts-th failure: 30 s, 2 min,
// 10 min, 30 min, then every hour.
func RetryIn(attempts int) time.Duration {
	steps := []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute}
	if attempts-1 < len(steps) {
		return steps[max(attempts-1, 0)]
	}
	return time.Hour
}

// Worker delivers the kinds it has a Handler for.
type Worker struct {
	Store    store.OutboxStore
	Handlers map[string]Handler
	Now      func() time.Time
	// Result counts each attempt: sent, retry or given_up (nil: nowhere).
	Result func(m store.OutboxMessage, result string)
	// Every is how often the outbox is looked at when nothing nudges the
	// worker (another replica's messages, retries).
	Every time.Duration
	// Lease is how long a claim lasts: longer than a delivery takes.
	Lease time.Duration
	// Timeout bounds one delivery.
	Timeout time.Duration

	nudge chan struct{}
}

// NewWorker returns a Worker over st delivering with handlers.
func NewWorker(st store.OutboxStore, handlers map[string]Handler, now func() time.Time) *Worker {
	if now == nil {
		now = time.Now
	}
	return &Worker{Store: st, Handlers: handlers, Now: now, nudge: make(chan struct{}, 1)}
}

// Nudge tells the worker something was queued, so it need not wait for
// its next round.
func (w *Worker) Nudge() {
	if w == nil {
		return
	}
	select {
	case w.nudge <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	every := w.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		w.Drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.nudge:
		}
	}
}

// Drain delivers every message due now, a batch at a time.
func (w *Worker) Drain(ctx context.Context) {
	lease := w.Lease
	if lease <= 0 {
		lease = 2 * time.Minute
	}
	kinds := slices.Sorted(maps.Keys(w.Handlers))
	for ctx.Err() == nil {
		batch, err := w.Store.ClaimOutbox(ctx, w.Now(), lease, 10, kinds...)
		if err != nil {
			if ctx.Err() == nil {
				slog.ErrorContext(ctx, "claim outbox", "error", err)
			}
			return
		}
		if len(batch) == 0 {
			return
		}
		for _, m := range batch {
			w.deliver(ctx, m)
		}
	}
}

func (w *Worker) deliver(ctx context.Context, row store.OutboxMessage) {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	err := w.Handlers[row.Kind](dctx, row)
	cancel()
	now := w.Now()
	if err == nil {
		if err := w.Store.OutboxSent(ctx, row.ID, now); err != nil {
			slog.ErrorContext(ctx, "mark an outbox message sent", "outbox", row.ID, "error", err)
		}
		w.count(row, "sent")
		slog.InfoContext(ctx, "outbox message delivered", "outbox", row.ID, "kind", row.Kind, "topic", row.Topic)
		return
	}
	next := now.Add(RetryIn(row.Attempts + 1))
	result := "retry"
	if next.Sub(row.CreatedAt) > GiveUpAfter || IsPermanent(err) {
		next, result = time.Time{}, "given_up"
	}
	w.count(row, result)
	slog.WarnContext(ctx, "outbox message not delivered", "outbox", row.ID, "kind", row.Kind, "topic", row.Topic,
		"attempt", row.Attempts+1, "next", next, "error", err)
	if err := w.Store.OutboxFailed(ctx, row.ID, err.Error(), next); err != nil {
		slog.ErrorContext(ctx, "record a failed delivery", "outbox", row.ID, "error", err)
	}
}

func (w *Worker) count(m store.OutboxMessage, result string) {
	if w.Result != nil {
		w.Result(m, result)
	}
}
