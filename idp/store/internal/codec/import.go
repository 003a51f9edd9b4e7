package codec

import (
	"errors"
	"fmt"
	"io"

	"github.com/communityidp/idp/idp/store"
)

// DurableTables are the tables whose rows make a store "not empty" for
// an import: everything a dump carries (passkeys and snoozes need users).
var DurableTables = []string{"users", "signing_keys", "secrets", "browser_sessions", "refresh_tokens", "access_tokens"}

// WipeOrder is every table an import with wipe empties, rows that refer
// to others first. The audit log is history and stays.
var WipeOrder = []string{"passkeys", "suggestion_snoozes", "browser_sessions", "recovery_links", "users",
	"access_tokens", "refresh_tokens", "auth_requests", "webauthn_ceremonies", "setup_tokens", "signing_keys",
	"secrets", "throttle_failures", "settings"}

// Importer is what an import needs from a dialect, inside its
// transaction: a statement run, whether a table has rows, and one
// record's insert.
type Importer struct {
	Exec    func(query string) error
	HasRows func(table string) (bool, error)
	Insert  func(store.Record) error
}

// Import empties the store (wipe) or checks it is empty, then inserts
// every record next returns, counting them by kind.
func (im Importer) Import(next func() (store.Record, error), wipe bool) (store.ImportStats, error) {
	stats := store.ImportStats{}
	if wipe {
		for _, table := range WipeOrder {
			if err := im.Exec(`DELETE FROM ` + table); err != nil {
				return nil, fmt.Errorf("wipe %s: %w", table, err)
			}
		}
	} else {
		for _, table := range DurableTables {
			rows, err := im.HasRows(table)
			if err != nil {
				return nil, fmt.Errorf("check %s: %w", table, err)
			}
			if rows {
				return nil, fmt.Errorf("table %s has rows: %w", table, store.ErrNotEmpty)
			}
		}
	}
	for n := 1; ; n++ {
		r, err := next()
		if errors.Is(err, io.EOF) {
			return stats, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read record %d: %w", n, err)
		}
		if err := im.Insert(r); err != nil {
			return nil, fmt.Errorf("record %d (%s): %w", n, r.Kind, err)
		}
		stats[r.Kind]++
	}
}
