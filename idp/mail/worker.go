package mail

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/communityidp/idp/idp/outbox"
	"github.com/communityidp/idp/idp/store"
)

// Kind is the outbox kind of mail.
const Kind = "mail"

// Handler is the outbox handler of mail: it opens a sealed message and
// hands it to sender.
func (o *Outbox) Handler(sender Sender) outbox.Handler {
	return func(ctx context.Context, row store.OutboxMessage) error {
		var m Message
		if err := o.open(row, &m); err != nil {
			return outbox.Permanent(err)
		}
		return sender.Send(ctx, m)
	}
}

func (o *Outbox) open(row store.OutboxMessage, m *Message) error {
	plain, err := o.Sealer.Open(store.PurposeOutbox, row.ID, row.Payload)
	if err != nil {
		return fmt.Errorf("open the message: %w", err)
	}
	if err := json.Unmarshal(plain, m); err != nil {
		return fmt.Errorf("decode the message: %w", err)
	}
	return nil
}
