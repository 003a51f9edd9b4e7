// Package ratelimit caps how often one address may do something that is
// cheap for it and costs the provider a row or a page: open a sign-in
// request, start a passkey ceremony, submit the identifier step, report a
// failed ceremony. Addresses are bucketed like the throttle's (an IPv6
// /64), so a network cannot spread itself over fresh addresses.
//
// Unlike the password throttle, which guards secrets and shares its counts
// through the database, these counts live in this replica's memory: a
// limit is per replica, and costs no write. The defaults are generous,
// since whole schools share one address.
package ratelimit

import (
	"sync"
	"time"

	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/metrics"
)

// maxAddresses bounds the memory a flood of addresses can take (see
// evict).
const maxAddresses = 1 << 16

// Limiter allows each address PerMinute actions a minute, in bursts of up
// to PerMinute (a token bucket).
type Limiter struct {
	name      string
	perMinute float64
	metrics   *metrics.Metrics
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a limiter; perMinute 0 (or less) allows everything. Each
// refusal is counted in m (nil: nowhere) under name.
func New(name string, perMinute int, m *metrics.Metrics, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{name: name, perMinute: float64(perMinute), metrics: m, now: now, buckets: map[string]*bucket{}}
}

// Name says what is limited, for metrics and logs.
func (l *Limiter) Name() string { return l.name }

// Allow takes one action from ip's allowance. When there is none left it
// returns false and how long until there is.
func (l *Limiter) Allow(ip string) (bool, time.Duration) {
	if l == nil || l.perMinute <= 0 {
		return true, 0
	}
	key := clientip.Bucket(ip)
	now := l.now()
	rate := l.perMinute / 60 // per second
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxAddresses {
			l.evict(now, rate)
		}
		b = &bucket{tokens: l.perMinute, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.perMinute, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	l.metrics.RateLimited(l.name)
	wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return false, max(wait, time.Second)
}

// evict makes room for an eighth of maxAddresses at once, so a flood of
// new addresses pays for a scan once in a while, not at every request: it
// forgets the addresses whose allowance is whole again (they lose
// nothing), then arbitrary others (which get a fresh allowance: the limit
// is generous, and a flood that large is the network's business).
func (l *Limiter) evict(now time.Time, rate float64) {
	target := maxAddresses - maxAddresses/8
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*rate >= l.perMinute {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) <= target {
			break
		}
		delete(l.buckets, k)
	}
}
