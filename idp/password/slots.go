package password

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/communityidp/idp/idp/password/internal/argon2id"
)

// slots bounds how many hashes run at once to the number of cores. Each
// one holds 19 MiB and a core for 20-50 ms: a burst of 32 sign-ins would
// otherwise take 600 MiB and finish no sooner, since the cores are the
// limit either way. Waiting sign-ins queue here instead.
//
// A slot keeps the memory its argon2id hashes use, so a burst of sign-ins
// holds one hash's memory per hash running at once (at most one per
// core), allocated once. (x/crypto's
// argon2 allocated it anew for every hash; collecting after each one to
// keep that bounded cost a tenth of the password throughput, and the
// freed 19 MiB was not always where the next hash could take it whole.)
// Memory a slot has not used for idleAfter goes back to the system.
var slots = newSlots(max(1, runtime.GOMAXPROCS(0)), idleAfter)

// idleAfter is how long a slot keeps memory it does not use (it goes
// within twice that). Within a burst of password sign-ins (a newsletter,
// the morning) a slot is used again far sooner; once the burst is over
// the memory goes, and with it the squeeze it puts on the rest of the
// heap under the soft memory limit: passkey flows cost 7% more CPU while
// two slots held theirs for a minute, and every other kind of load ran
// 20 MB larger. A sign-in on its own pays the allocation, as it did with
// x/crypto's argon2.
const idleAfter = 2 * time.Second

type slot struct {
	mem  argon2id.Memory
	used time.Time
}

type slotPool struct {
	sem chan struct{} // a token per hash running
	mu  sync.Mutex
	// free are the slots not in use, the most recently used last: a
	// hash takes the last, so hashes one after another use one slot's
	// memory, and only as many slots hold memory as hashes ran at once.
	free  []*slot
	idle  time.Duration
	armed bool // a trim timer is pending
}

func newSlots(n int, idle time.Duration) *slotPool {
	p := &slotPool{sem: make(chan struct{}, n), idle: idle}
	for range n {
		p.free = append(p.free, new(slot))
	}
	return p
}

// size is how many hashes may run at once.
func (p *slotPool) size() int { return cap(p.sem) }

// take waits for a free slot. give pushes a slot back before it frees
// its token, so a token always finds one.
func (p *slotPool) take() *slot {
	p.sem <- struct{}{}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return s
}

// give returns a slot; if it holds memory and no trim is pending, one is
// due in idle.
func (p *slotPool) give(s *slot) {
	p.mu.Lock()
	s.used = time.Now()
	p.free = append(p.free, s)
	if !p.armed && s.mem.Size() > 0 {
		p.armed = true
		time.AfterFunc(p.idle, p.expire)
	}
	p.mu.Unlock()
	<-p.sem
}

// expire is the pending trim. A free slot used since the timer was set
// keeps its memory for now, so another trim is due while any does; a
// slot in use sets a timer when it is given back.
func (p *slotPool) expire() {
	p.mu.Lock()
	p.armed = false
	freed, left := p.drop(time.Now())
	if left {
		p.armed = true
		time.AfterFunc(p.idle, p.expire)
	}
	p.mu.Unlock()
	p.release(freed)
}

// trim drops the memory of the free slots unused for idle at now and
// returns how much it dropped.
func (p *slotPool) trim(now time.Time) int {
	p.mu.Lock()
	freed, _ := p.drop(now)
	p.mu.Unlock()
	p.release(freed)
	return freed
}

// drop releases the memory of the free slots unused for idle at now, and
// says whether free slots still hold some. p.mu is held.
func (p *slotPool) drop(now time.Time) (freed int, left bool) {
	for _, s := range p.free {
		switch n := s.mem.Size(); {
		case n > 0 && now.Sub(s.used) >= p.idle:
			s.mem.Release()
			freed += n
		case n > 0:
			left = true
		}
	}
	return freed, left
}

// release returns freed memory to the system when no hash is running.
// While one is, the next burst would only take the pages back: the
// collector and the soft limit return them in their time.
func (p *slotPool) release(freed int) {
	if freed == 0 || len(p.sem) > 0 {
		return
	}
	debug.FreeOSMemory()
}
