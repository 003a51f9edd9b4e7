package password

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/password/internal/argon2id"
)

// kept is how many bytes of hashing memory the free slots hold.
func (p *slotPool) kept() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.free {
		n += s.mem.Size()
	}
	return n
}

var hashBytes = int(DefaultParams.Memory) << 10

// TestHashesReuseTheirSlotsMemory: after the first hash, hashing
// allocates next to nothing; with an argon2 that allocates its memory for
// every hash, each one would add 19 MiB.
func TestHashesReuseTheirSlotsMemory(t *testing.T) {
	slots.trim(time.Now().Add(time.Hour)) // what earlier tests left
	h, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 4
	for range n {
		if ok, _, err := Verify(h, "correct horse battery staple"); !ok || err != nil {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	}
	runtime.ReadMemStats(&after)
	if perHash := (after.TotalAlloc - before.TotalAlloc) / n; perHash > 1<<20 {
		t.Errorf("a verification allocated %d bytes; the slot's memory should have been reused", perHash)
	}
	// One hash after another: one slot's memory, however many slots.
	if got := slots.kept(); got != hashBytes {
		t.Errorf("slots keep %d bytes after hashes one at a time, want one hash's %d", got, hashBytes)
	}
}

// TestConcurrentHashesKeepASlotEach: hashes at once each keep a slot's
// memory, and the next hash takes the slot given back last.
func TestConcurrentHashesKeepASlotEach(t *testing.T) {
	p := newSlots(2, time.Hour)
	a, b := p.take(), p.take()
	argon2id.Key(&a.mem, []byte("pw"), []byte("saltsalt"), 1, 1024, 1, 32)
	argon2id.Key(&b.mem, []byte("pw"), []byte("saltsalt"), 1, 1024, 1, 32)
	p.give(a)
	p.give(b)
	if got := p.kept(); got != 2*1024<<10 {
		t.Fatalf("kept %d bytes after two hashes at once, want two hashes' memory", got)
	}
	s := p.take()
	defer p.give(s)
	if s != b {
		t.Error("take did not return the slot given back last")
	}
}

// TestIdleSlotsReturnTheirMemory: memory a slot has not used for
// idleAfter is dropped, and hashing afterwards still works.
func TestIdleSlotsReturnTheirMemory(t *testing.T) {
	slots.trim(time.Now().Add(time.Hour)) // what earlier tests left
	h, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if freed := slots.trim(time.Now()); freed != 0 {
		t.Errorf("trim freed %d bytes of memory used just now", freed)
	}
	if slots.kept() == 0 {
		t.Fatal("nothing kept after a hash")
	}
	if freed := slots.trim(time.Now().Add(idleAfter)); freed < hashBytes {
		t.Errorf("trim after idleAfter freed %d bytes, want at least %d", freed, hashBytes)
	}
	if got := slots.kept(); got != 0 {
		t.Errorf("slots keep %d bytes after trimming", got)
	}
	if ok, _, err := Verify(h, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("Verify after trimming = %v, %v", ok, err)
	}
}

// TestSlotsTrimThemselves: with nothing hashed for the idle time, the
// slots' memory goes without anyone asking.
func TestSlotsTrimThemselves(t *testing.T) {
	p := newSlots(2, 50*time.Millisecond)
	s := p.take()
	argon2id.Key(&s.mem, []byte("pw"), []byte("saltsalt"), 1, 1024, 1, 32)
	p.give(s)
	if p.kept() == 0 {
		t.Fatal("nothing kept after a hash")
	}
	waitTrimmed(t, p)
}

// waitTrimmed waits up to 10 s for p's timer to drop all its memory.
func waitTrimmed(t *testing.T, p *slotPool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.kept() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slots still keep %d bytes 10 s after their last use", p.kept())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSlotUsedAgainIsTrimmedLater: a slot used again after the trim
// timer was set is not idle when it fires; its memory must still go, one
// idle time later.
func TestSlotUsedAgainIsTrimmedLater(t *testing.T) {
	p := newSlots(1, 50*time.Millisecond)
	s := p.take()
	argon2id.Key(&s.mem, []byte("pw"), []byte("saltsalt"), 1, 1024, 1, 32)
	p.give(s) // sets the timer
	time.Sleep(30 * time.Millisecond)
	p.give(p.take()) // used again: not idle when the timer fires
	waitTrimmed(t, p)
}

// TestStrongerImportedHash: a hash of more memory than the current
// parameters verifies, without the slots keeping that much.
func TestStrongerImportedHash(t *testing.T) {
	p := DefaultParams
	p.Memory *= 2
	h, err := HashWith("correct horse battery staple", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "m=38912,") {
		t.Fatalf("hash %s does not have the memory asked for", h)
	}
	if ok, needsRehash, err := Verify(h, "correct horse battery staple"); !ok || needsRehash || err != nil {
		t.Fatalf("Verify = %v, %v, %v", ok, needsRehash, err)
	}
	slots.mu.Lock()
	defer slots.mu.Unlock()
	for _, s := range slots.free {
		if s.mem.Size() > hashBytes {
			t.Errorf("a slot keeps %d bytes after a stronger hash, more than the current parameters' %d", s.mem.Size(), hashBytes)
		}
	}
}
