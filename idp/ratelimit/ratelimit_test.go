package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store/storetest"
)

func TestAllowance(t *testing.T) {
	c := storetest.NewClock(time.Unix(1_800_000_000, 0))
	l := New("test", 60, nil, c.Now)
	for i := range 60 {
		if ok, _ := l.Allow("192.0.2.1"); !ok {
			t.Fatalf("action %d refused; a minute's allowance is 60", i+1)
		}
	}
	ok, wait := l.Allow("192.0.2.1")
	if ok || wait != time.Second {
		t.Fatalf("61st action: %v, wait %v; want refused, 1s", ok, wait)
	}
	// Others are not affected; the same /64 is.
	if ok, _ := l.Allow("192.0.2.2"); !ok {
		t.Fatal("another address was refused")
	}
	v6 := New("v6", 1, nil, c.Now)
	v6.Allow("2001:db8:1:2::1")
	if ok, _ := v6.Allow("2001:db8:1:2::99"); ok {
		t.Fatal("another address of the same /64 got a fresh allowance")
	}
	// It refills at the rate.
	c.Advance(2 * time.Second)
	for range 2 {
		if ok, _ := l.Allow("192.0.2.1"); !ok {
			t.Fatal("refused after refilling")
		}
	}
	if ok, _ := l.Allow("192.0.2.1"); ok {
		t.Fatal("allowed more than refilled")
	}
	if ok, _ := New("off", 0, nil, c.Now).Allow("192.0.2.1"); !ok {
		t.Fatal("a limit of 0 refused")
	}
}

// A flood of addresses does not grow memory without bound.
func TestBoundedMemory(t *testing.T) {
	c := storetest.NewClock(time.Unix(1_800_000_000, 0))
	l := New("test", 10, nil, c.Now)
	for i := range maxAddresses + 1000 {
		l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if n := len(l.buckets); n > maxAddresses {
		t.Fatalf("%d addresses remembered, at most %d", n, maxAddresses)
	}
}
