package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// result is one scenario's measurements.
type result struct {
	name             string
	workers          int
	ops, errors      int
	elapsed          time.Duration
	latencies        durations            // sorted
	steps            map[string]durations // parts of an operation, each sorted
	samples          []string             // the first distinct errors
	rssIdle, rssPeak int64                // KiB; 0 without -pid
}

// durations are latencies, sorted before quantile is asked.
type durations []time.Duration

// quantile is the q-quantile (nearest rank).
func (d durations) quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// stepsKey carries a worker's step timings in its operations' context.
type stepsKey struct{}

// timeStep records how long a part of an operation took (the token
// request inside a whole sign-in flow), when the operation is measured:
// the part gets a row of its own under the scenario's.
func timeStep(ctx context.Context, name string, since time.Time) {
	if s, ok := ctx.Value(stepsKey{}).(map[string]durations); ok {
		s[name] = append(s[name], time.Since(since))
	}
}

func header() string {
	return fmt.Sprintf("%-18s %7s %8s %10s %9s %9s %9s %9s %7s %s",
		"scenario", "workers", "ops", "ops/s", "p50", "p90", "p99", "max", "errors", "rss idle/peak")
}

// rows are the scenario's line, then one per timed step ("  token":
// those requests alone, inside the flows that succeeded).
func (r result) rows() string {
	rss := "-"
	if r.rssPeak > 0 {
		rss = fmt.Sprintf("%.1f/%.1f MB", float64(r.rssIdle)/1024, float64(r.rssPeak)/1024)
	}
	line := func(name, workers string, d durations, errors, rss string) string {
		return strings.TrimRight(fmt.Sprintf("%-18s %7s %8d %10.1f %9s %9s %9s %9s %7s %s", name, workers, len(d), float64(len(d))/r.elapsed.Seconds(),
			short(d.quantile(0.50)), short(d.quantile(0.90)), short(d.quantile(0.99)), short(d.quantile(1)), errors, rss), " ")
	}
	out := []string{line(r.name, strconv.Itoa(r.workers), r.latencies, strconv.Itoa(r.errors), rss)}
	names := slices.Sorted(maps.Keys(r.steps))
	for _, n := range names {
		out = append(out, line("  "+n, "", r.steps[n], "", ""))
	}
	return strings.Join(out, "\n")
}

func short(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%dus", d.Microseconds())
	}
}

// runScenario prepares each worker's operation, then runs them all for
// the duration.
func runScenario(ctx context.Context, t *target, o options, name string) (result, error) {
	ops := make([]func(context.Context) error, o.workers)
	accountFor := func(w int) *account { return &o.accounts[w%len(o.accounts)] }
	switch name {
	case "discovery", "jwks", "discovery-floor", "jwks-floor":
		u := strings.TrimSuffix(o.issuer, "/") + "/.well-known/openid-configuration"
		switch name {
		case "jwks":
			u = t.endpoints.jwks
		case "discovery-floor", "jwks-floor":
			if o.floor == "" {
				return result{}, errors.New("needs -floor")
			}
			u = strings.TrimSuffix(o.floor, "/") + "/.well-known/openid-configuration"
			if name == "jwks-floor" {
				u = strings.TrimSuffix(o.floor, "/") + "/keys"
			}
		}
		for w := range ops {
			ops[w] = func(ctx context.Context) error { return t.fetch(ctx, u) }
		}
	case "admin-overview", "admin-rollout", "admin-members", "admin-audit":
		if o.admin == nil {
			return result{}, errors.New("needs -admin")
		}
		path := adminPages[name]
		for w := range ops {
			b, err := t.signedIn(o.admin)
			if err != nil {
				return result{}, err
			}
			ops[w] = func(context.Context) error {
				_, err := b.get(t.issuer.String() + path)
				return err
			}
		}
	case "authcode-engine":
		for w := range ops {
			a := accountFor(w)
			ops[w] = func(ctx context.Context) error {
				_, err := t.authCodeWith(ctx, a, engineSignIn)
				return err
			}
		}
	case "authcode-password", "authcode-passkey":
		passkey := name == "authcode-passkey"
		if passkey {
			n := min(o.workers, len(o.accounts))
			for i := range n {
				if err := t.registerPasskey(ctx, &o.accounts[i]); err != nil {
					return result{}, err
				}
			}
			defer func() {
				for i := range n {
					if err := t.removePasskey(&o.accounts[i]); err != nil {
						fmt.Fprintln(os.Stderr, "load: warning:", err)
					}
					o.accounts[i].key, o.accounts[i].settings = nil, nil
				}
			}()
		}
		for w := range ops {
			a := accountFor(w)
			ops[w] = func(ctx context.Context) error {
				_, err := t.authCode(ctx, a, passkey)
				return err
			}
		}
	case "refresh", "userinfo", "introspect":
		// Each worker signs in once (a password flow) and then uses its
		// own tokens: refresh rotates its own family.
		for w := range ops {
			tok, err := t.authCode(ctx, accountFor(w), false)
			if err != nil {
				return result{}, fmt.Errorf("sign in for the tokens: %w", err)
			}
			switch name {
			case "refresh":
				rt := tok.RefreshToken
				if rt == "" {
					return result{}, fmt.Errorf("no refresh token: does client %s have the refresh_token grant?", o.clientID)
				}
				ops[w] = func(ctx context.Context) error {
					next, err := t.refresh(ctx, rt)
					if err == nil {
						rt = next
					}
					return err
				}
			case "userinfo":
				ops[w] = func(ctx context.Context) error { return t.userinfo(ctx, tok.AccessToken) }
			case "introspect":
				ops[w] = func(ctx context.Context) error { return t.introspect(ctx, tok.AccessToken) }
			}
		}
	default:
		return result{}, fmt.Errorf("unknown scenario")
	}
	return measure(ctx, name, ops, o.duration, o.pid), nil
}

// measure runs each operation in its own goroutine, back to back, until
// the duration is over, and gathers latencies and errors.
func measure(ctx context.Context, name string, ops []func(context.Context) error, d time.Duration, pid int) result {
	r := result{name: name, workers: len(ops), steps: map[string]durations{}}
	rss := newRSSSampler(pid)
	r.rssIdle = rss.read()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stopSampling := rss.start()
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	start := time.Now()
	for _, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make(durations, 0, 1024)
			// Steps are kept only for the operations that count.
			steps, cur := map[string]durations{}, map[string]durations{}
			opCtx := context.WithValue(ctx, stepsKey{}, cur)
			errs := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				err := op(opCtx)
				if ctx.Err() != nil {
					break // cut short by the end of the run: not counted
				}
				lat = append(lat, time.Since(t0))
				for n, d := range cur {
					steps[n] = append(steps[n], d...)
					cur[n] = d[:0]
				}
				if err != nil {
					errs++
					mu.Lock()
					if msg := err.Error(); !seen[msg] && len(r.samples) < 5 {
						seen[msg] = true
						r.samples = append(r.samples, msg)
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			r.latencies = append(r.latencies, lat...)
			for n, d := range steps {
				r.steps[n] = append(r.steps[n], d...)
			}
			r.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.rssPeak = stopSampling()
	r.ops = len(r.latencies)
	slices.Sort(r.latencies)
	for _, d := range r.steps {
		slices.Sort(d)
	}
	return r
}

// rssSampler watches a process's resident memory (Linux /proc).
type rssSampler struct{ pid int }

func newRSSSampler(pid int) rssSampler { return rssSampler{pid} }

// read returns VmRSS in KiB, or 0.
func (s rssSampler) read() int64 {
	if s.pid == 0 {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(s.pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// start samples every 50 ms until the returned function is called, which
// returns the peak.
func (s rssSampler) start() func() int64 {
	if s.pid == 0 {
		return func() int64 { return 0 }
	}
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var p int64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			p = max(p, s.read())
			select {
			case <-done:
				peak <- max(p, s.read())
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 { close(done); return <-peak }
}
