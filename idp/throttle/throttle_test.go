package throttle

import (
	"testing"
	"time"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/store/storetest"
)

func newThrottle(t *testing.T) (*Throttle, *storetest.Clock) {
	t.Helper()
	st := storetest.SQLite(t)
	c := storetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	return New(st, config.Default().Throttle, c.Now), c
}

func TestBackoffAfterFreeFailures(t *testing.T) {
	th, c := newThrottle(t)
	ctx := t.Context()
	acct := th.Login("u1")
	for i := range 10 {
		if w, err := th.Wait(ctx, acct); err != nil || w != 0 {
			t.Fatalf("attempt %d: wait %v, %v; the first 10 are free", i+1, w, err)
		}
		if err := th.Fail(ctx, acct); err != nil {
			t.Fatal(err)
		}
		c.Advance(10 * time.Millisecond)
	}
	// The 10th failure was 10 ms ago: 1 s from it.
	if w, _ := th.Wait(ctx, acct); w != 990*time.Millisecond {
		t.Fatalf("after 10 failures wait %v, want 990ms", w)
	}
	// Each further failure doubles the wait.
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		c.Advance(time.Minute)
		if err := th.Fail(ctx, acct); err != nil {
			t.Fatal(err)
		}
		if w, _ := th.Wait(ctx, acct); w != want {
			t.Fatalf("after %d failures wait %v, want %v", 11+i, w, want)
		}
	}
	// Other keys are untouched; a success clears the account.
	if w, _ := th.Wait(ctx, th.Login("u2"), th.Address("192.0.2.1")); w != 0 {
		t.Fatalf("unrelated keys wait %v", w)
	}
	if err := th.Clear(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if w, _ := th.Wait(ctx, acct); w != 0 {
		t.Fatalf("after Clear wait %v", w)
	}
}

func TestWindowForgets(t *testing.T) {
	th, c := newThrottle(t)
	ctx := t.Context()
	acct := th.Login("u1")
	for range 12 {
		th.Fail(ctx, acct)
	}
	if w, _ := th.Wait(ctx, acct); w == 0 {
		t.Fatal("12 failures at once do not throttle")
	}
	c.Advance(15*time.Minute + time.Second)
	if w, _ := th.Wait(ctx, acct); w != 0 {
		t.Fatalf("failures older than the window still throttle: %v", w)
	}
}

func TestHourlyLimit(t *testing.T) {
	th, c := newThrottle(t)
	ctx := t.Context()
	acct := th.Login("u1")
	// 100 failures over 50 minutes: the back-off alone would wait 15
	// minutes; the hourly limit rests the account for an hour.
	for range 100 {
		th.Fail(ctx, acct)
		c.Advance(30 * time.Second)
	}
	w, err := th.Wait(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Hour - 30*time.Second; w != want {
		t.Fatalf("after 100 failures in an hour wait %v, want %v", w, want)
	}
}

func TestAddressAllowsMore(t *testing.T) {
	th, _ := newThrottle(t)
	ctx := t.Context()
	addr := th.Address("2001:db8:1:2::7")
	for range 49 {
		th.Fail(ctx, addr)
	}
	if w, _ := th.Wait(ctx, addr); w != 0 {
		t.Fatalf("49 failures from one address already wait %v", w)
	}
	th.Fail(ctx, addr)
	// Another address in the same /64 shares the count.
	if w, _ := th.Wait(ctx, th.Address("2001:db8:1:2::8")); w == 0 {
		t.Fatal("50 failures from one /64 do not throttle it")
	}
}

func TestKeysDoNotLeakNames(t *testing.T) {
	th, _ := newThrottle(t)
	k := th.Login("Someone@Example.org ")
	if k != th.Login("someone@example.org") {
		t.Error("names differing in case and blanks get different keys")
	}
	for _, name := range []string{k.Name, th.Client("community-site", "192.0.2.1").Name} {
		if len(name) > 80 {
			t.Errorf("key %q is long", name)
		}
	}
	if th.Client("a", "192.0.2.1") == th.Client("a", "192.0.2.2") {
		t.Error("client keys ignore the address")
	}
}

func TestDescribe(t *testing.T) {
	for d, want := range map[time.Duration]string{
		300 * time.Millisecond:  "1 second",
		1500 * time.Millisecond: "2 seconds",
		59 * time.Second:        "59 seconds",
		60 * time.Second:        "1 minute",
		61 * time.Second:        "2 minutes",
		15 * time.Minute:        "15 minutes",
	} {
		if got := Describe(d); got != want {
			t.Errorf("Describe(%v) = %q, want %q", d, got, want)
		}
	}
	if got := RetryAfter(1500 * time.Millisecond); got != "2" {
		t.Errorf("RetryAfter = %q", got)
	}
}

// Reserve counts the attempt before it is made: the free attempts go
// through one by one, the next waits; a released (successful) attempt
// gives its place back.
func TestReserve(t *testing.T) {
	th, c := newThrottle(t)
	ctx := t.Context()
	name, addr := th.Login("alice"), th.Address("192.0.2.1")
	var last *Reservation
	for i := range 10 {
		r, w, err := th.Reserve(ctx, name, addr)
		if err != nil || r == nil || w != 0 {
			t.Fatalf("attempt %d: %v %v %v; the first 10 are free", i+1, r, w, err)
		}
		last = r
	}
	if r, w, err := th.Reserve(ctx, name, addr); err != nil || r != nil || w != time.Second {
		t.Fatalf("11th attempt: %v, wait %v, %v; want a wait of 1s", r, w, err)
	}
	if err := last.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if r, w, err := th.Reserve(ctx, name, addr); err != nil || r == nil {
		t.Fatalf("after a release: %v, wait %v, %v; want its place back", r, w, err)
	}
	c.Advance(time.Second)
	if w, _ := th.Wait(ctx, th.Login("bob"), addr); w != 0 {
		t.Fatalf("another name from the address waits %v", w)
	}
}
