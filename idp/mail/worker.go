package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/store"
)

// Worker sends what the outbox holds.
type Worker struct {
	Store  store.OutboxStore
	Outbox *Outbox
	Sender Sender
	// Metrics counts mail sent and failed (nil: nowhere).
	Metrics *metrics.Metrics
	// Every is how often the outbox is looked at when nothing wakes the
	// worker (another replica's messages, retries).
	Every time.Duration
	// Lease is how long a claim lasts: longer than a send takes.
	Lease time.Duration
}

// GiveUpAfter is how long a message is retried before the outbox keeps
// it as given up (the admins' outbox page shows it).
const GiveUpAfter = 24 * time.Hour

// retryIn is the back-off after the attempts-th failure: 30 s, 2 min,
// 10 min, 30 min, then every hour.
func retryIn(attempts int) time.Duration {
	steps := []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute}
	if attempts-1 < len(steps) {
		return steps[max(attempts-1, 0)]
	}
	return time.Hour
}

// Run sends due messages until ctx ends.
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
		case <-w.Outbox.wake:
		}
	}
}

// Drain sends every message due now, a batch at a time.
func (w *Worker) Drain(ctx context.Context) {
	lease := w.Lease
	if lease <= 0 {
		lease = 2 * time.Minute
	}
	for ctx.Err() == nil {
		batch, err := w.Store.ClaimOutbox(ctx, w.Outbox.Now(), lease, 10)
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
			w.send(ctx, m)
		}
	}
}

func (w *Worker) send(ctx context.Context, row store.OutboxMessage) {
	var m Message
	err := w.open(row, &m)
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = w.Sender.Send(sctx, m)
		cancel()
	}
	now := w.Outbox.Now()
	if err == nil {
		if err := w.Store.OutboxSent(ctx, row.ID, now); err != nil {
			slog.ErrorContext(ctx, "mark mail sent", "outbox", row.ID, "error", err)
		}
		w.Metrics.Mail(row.Topic, "sent")
		slog.InfoContext(ctx, "mail sent", "outbox", row.ID, "topic", row.Topic)
		return
	}
	next := now.Add(retryIn(row.Attempts + 1))
	result := "retry"
	if next.Sub(row.CreatedAt) > GiveUpAfter {
		next, result = time.Time{}, "given_up"
	}
	w.Metrics.Mail(row.Topic, result)
	slog.WarnContext(ctx, "mail not sent", "outbox", row.ID, "topic", row.Topic, "attempt", row.Attempts+1,
		"next", next, "error", err)
	if err := w.Store.OutboxFailed(ctx, row.ID, err.Error(), next); err != nil {
		slog.ErrorContext(ctx, "record a failed mail", "outbox", row.ID, "error", err)
	}
}

func (w *Worker) open(row store.OutboxMessage, m *Message) error {
	plain, err := w.Outbox.Sealer.Open(store.PurposeOutbox, row.ID, row.Payload)
	if err != nil {
		return fmt.Errorf("open the message: %w", err)
	}
	if err := json.Unmarshal(plain, m); err != nil {
		return fmt.Errorf("decode the message: %w", err)
	}
	return nil
}
