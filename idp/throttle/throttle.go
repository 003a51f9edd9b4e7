// Package throttle slows down guessing: wrong passwords, bad client
// secrets at the token endpoint, unknown recovery links. Failures are
// counted in the store under keys (an account, a client address, a client
// at an address), so every replica sharing the database throttles alike.
//
// Under a key's free allowance attempts go through; past it each attempt
// must wait, one second doubling with every further failure, up to the
// window; past the hourly limit the key rests for an hour after its last
// failure. Successes are not counted, so a member who finally types the
// right password clears their account's count (never an address's).
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/store"
)

// Limits are one kind of key's allowance.
type Limits struct {
	// Free failures within Window before attempts must wait.
	Free   int
	Window time.Duration
	// Hourly failures after which the key rests for an hour.
	Hourly int
}

// Key is a counter and the limits that apply to it.
type Key struct {
	Name   string
	Limits Limits
}

// Throttle checks and counts failures.
type Throttle struct {
	store           store.ThrottleStore
	account, server Limits
	now             func() time.Time
}

// New returns a throttle with the configured limits. now may be nil.
func New(st store.ThrottleStore, cfg config.Throttle, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{
		store:   st,
		account: Limits{Free: cfg.AccountFailures, Window: cfg.Window.D(), Hourly: cfg.AccountHourlyLimit},
		server:  Limits{Free: cfg.AddressFailures, Window: cfg.Window.D(), Hourly: cfg.AddressHourlyLimit},
		now:     now,
	}
}

// Account is the password counter of a member's account, whatever name
// (username or email) they typed.
func (t *Throttle) Account(userID string) Key {
	return Key{Name: "acct:" + userID, Limits: t.account}
}

// UnknownLogin is the password counter of a name that matches no account,
// throttled exactly like an account so the answers tell nothing about who
// is a member. The name is hashed: non-members' addresses are not kept.
func (t *Throttle) UnknownLogin(login string) Key {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(login))))
	return Key{Name: "login:" + hex.EncodeToString(sum[:16]), Limits: t.account}
}

// Address is the password counter of a client address across accounts.
func (t *Throttle) Address(ip string) Key {
	return Key{Name: "ip:" + clientip.Bucket(ip), Limits: t.server}
}

// Client counts failed client authentications of one client from one
// address: never per client alone, or a stranger could lock the community
// site out of its own token endpoint.
func (t *Throttle) Client(clientID, ip string) Key {
	sum := sha256.Sum256([]byte(clientID))
	return Key{Name: "client:" + hex.EncodeToString(sum[:12]) + "|" + clientip.Bucket(ip), Limits: t.account}
}

// Recovery counts unknown or expired recovery links tried from an address.
func (t *Throttle) Recovery(ip string) Key {
	return Key{Name: "recover:" + clientip.Bucket(ip), Limits: t.account}
}

// Wait returns how long the caller must wait before the next attempt
// under any of keys; 0 means go ahead.
func (t *Throttle) Wait(ctx context.Context, keys ...Key) (time.Duration, error) {
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		w, err := t.wait(ctx, k, now)
		if err != nil {
			return 0, err
		}
		wait = max(wait, w)
	}
	return wait, nil
}

func (t *Throttle) wait(ctx context.Context, k Key, now time.Time) (time.Duration, error) {
	hourly, last, err := t.store.Failures(ctx, k.Name, now.Add(-time.Hour))
	if err != nil {
		return 0, fmt.Errorf("throttle %s: %w", k.Name, err)
	}
	if hourly < k.Limits.Free {
		return 0, nil // the window is shorter than an hour: nothing to check
	}
	var until time.Time
	if hourly >= k.Limits.Hourly {
		until = last.Add(time.Hour)
	}
	recent := hourly
	if k.Limits.Window < time.Hour {
		if recent, _, err = t.store.Failures(ctx, k.Name, now.Add(-k.Limits.Window)); err != nil {
			return 0, fmt.Errorf("throttle %s: %w", k.Name, err)
		}
	}
	if recent >= k.Limits.Free {
		if u := last.Add(Backoff(recent-k.Limits.Free, k.Limits.Window)); u.After(until) {
			until = u
		}
	}
	return max(until.Sub(now), 0), nil
}

// Backoff is the wait after over failures beyond the free allowance:
// 1 s, 2 s, 4 s ... never more than limit.
func Backoff(over int, limit time.Duration) time.Duration {
	if over >= 30 {
		return limit
	}
	return min(time.Second<<over, limit)
}

// Fail counts one failure under each key.
func (t *Throttle) Fail(ctx context.Context, keys ...Key) error {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	if err := t.store.RecordFailure(ctx, names, t.now()); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// Clear forgets an account's failures after it signed in.
func (t *Throttle) Clear(ctx context.Context, k Key) error {
	if err := t.store.ClearFailures(ctx, k.Name); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// Describe says a wait in English, rounded up: "30 seconds", "2
// minutes" (for OAuth error descriptions; pages say it in the member's
// language with i18n's Printer.Wait).
func Describe(d time.Duration) string { return i18n.English().Wait(d) }

// RetryAfter is d in whole seconds, rounded up, for a Retry-After header.
func RetryAfter(d time.Duration) string {
	return fmt.Sprint(int((d + time.Second - 1) / time.Second))
}
