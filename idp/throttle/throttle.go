// Package throttle slows down guessing: wrong passwords, bad client
// secrets at the token endpoint, unknown recovery links. Failures are
// counted in the store under keys (a sign-in name, a client address, a
// client at an address), so every replica sharing the database throttles
// alike.
//
// Under a key's free allowance attempts go through; past it each attempt
// must wait, one second doubling with every further failure, up to the
// window; past the hourly limit the key rests for an hour after its last
// failure. A password attempt is reserved (counted as a failure) before
// the hash runs and released when it succeeds, so attempts sent at once
// cannot all pass the check; a member who finally types the right password
// clears their name's count (never an address's).
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

// Login is the password counter of a sign-in name, as typed (case and
// surrounding spaces aside): a username or an email address, of an account
// or of nobody. Counting by name, never by account, keeps the throttle from
// telling which username and which address belong together (a username's
// failures would otherwise throttle its address at once), and makes an
// unknown name behave exactly like a real one. An account has two names,
// so it takes at most twice a name's allowance. The name is hashed:
// non-members' addresses are not kept.
func (t *Throttle) Login(name string) Key {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(name))))
	return Key{Name: "login:" + hex.EncodeToString(sum[:16]), Limits: t.account}
}

// Names are the password counters of both of an account's sign-in names,
// for a password check made by a signed-in member (Settings): failures
// there count as sign-in failures under either name.
func (t *Throttle) Names(u *store.User) []Key {
	keys := []Key{t.Login(u.Username)}
	if u.Email != "" {
		keys = append(keys, t.Login(u.Email))
	}
	return keys
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

// Forgot counts reset links asked for a sign-in name (whether an account
// has it or not), so nobody is flooded with mail.
func (t *Throttle) Forgot(name string) Key {
	k := t.Login(name)
	return Key{Name: "forgot:" + strings.TrimPrefix(k.Name, "login:"), Limits: Limits{Free: 3, Window: t.account.Window, Hourly: 10}}
}

// ForgotAddress counts reset links asked from an address (an IPv6 /64),
// across names: generous, like the password counter of an address.
func (t *Throttle) ForgotAddress(ip string) Key {
	return Key{Name: "forgot-ip:" + clientip.Bucket(ip), Limits: t.server}
}

// Signup counts accounts created from an address (an IPv6 /64):
// generous, since whole schools share one address.
func (t *Throttle) Signup(ip string) Key {
	return Key{Name: "signup:" + clientip.Bucket(ip), Limits: t.server}
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
	q := t.query(k, now)
	var c store.ThrottleCount
	var err error
	if c.Hourly, c.Last, err = t.store.Failures(ctx, k.Name, q.HourSince); err != nil {
		return 0, fmt.Errorf("throttle %s: %w", k.Name, err)
	}
	c.Recent = c.Hourly
	if c.Hourly >= k.Limits.Free && q.WindowSince.After(q.HourSince) {
		if c.Recent, _, err = t.store.Failures(ctx, k.Name, q.WindowSince); err != nil {
			return 0, fmt.Errorf("throttle %s: %w", k.Name, err)
		}
	}
	return waitFor(k.Limits, c, now), nil
}

// query is what a key's decision needs counted.
func (t *Throttle) query(k Key, now time.Time) store.ThrottleQuery {
	window := min(k.Limits.Window, time.Hour)
	return store.ThrottleQuery{Key: k.Name, HourSince: now.Add(-time.Hour), WindowSince: now.Add(-window)}
}

// waitFor decides from a key's counts how long the next attempt waits.
func waitFor(l Limits, c store.ThrottleCount, now time.Time) time.Duration {
	if c.Hourly < l.Free {
		return 0 // the window is shorter than an hour: nothing more to check
	}
	var until time.Time
	if c.Hourly >= l.Hourly {
		until = c.Last.Add(time.Hour)
	}
	if c.Recent >= l.Free {
		if u := c.Last.Add(Backoff(c.Recent-l.Free, l.Window)); u.After(until) {
			until = u
		}
	}
	return max(until.Sub(now), 0)
}

// Reservation is an attempt counted as a failure before it is made.
type Reservation struct {
	t      *Throttle
	ticket string
}

// Reserve decides whether an attempt under keys may be made now and, if
// so, counts it as a failure at once, before the (slow) check runs: of
// attempts made at the same moment, on any replica, each sees the ones
// before it, so no more get through than the keys allow. It returns the
// wait instead (and a nil Reservation) when the attempt must wait.
func (t *Throttle) Reserve(ctx context.Context, keys ...Key) (*Reservation, time.Duration, error) {
	now := t.now()
	qs := make([]store.ThrottleQuery, len(keys))
	for i, k := range keys {
		qs[i] = t.query(k, now)
	}
	var wait time.Duration
	ticket, ok, err := t.store.ReserveAttempt(ctx, qs, now, func(counts []store.ThrottleCount) bool {
		wait = 0
		for i, c := range counts {
			wait = max(wait, waitFor(keys[i].Limits, c, now))
		}
		return wait <= 0
	})
	if err != nil {
		return nil, 0, fmt.Errorf("throttle: %w", err)
	}
	if !ok {
		return nil, wait, nil
	}
	return &Reservation{t: t, ticket: ticket}, 0, nil
}

// Release forgets the reserved attempt: it succeeded.
func (r *Reservation) Release(ctx context.Context) error {
	if err := r.t.store.ReleaseAttempt(ctx, r.ticket); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
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

// Clear forgets a sign-in name's failures after it signed in.
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
