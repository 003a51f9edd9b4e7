package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// countingTransport counts the requests a flow makes.
type countingTransport struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	paths []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.paths = append(c.paths, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return c.rt.RoundTrip(r)
}

// What one passkey flow costs the provider, counted: requests, store
// reads and write statements (BENCHMARKS.md, "per passkey flow"). A change
// that adds a round trip or reads what a request already read fails here
// rather than only in a benchmark nobody reruns.
func TestPasskeyFlowBudget(t *testing.T) {
	tg, accts, st := benchTargetStore(t)
	a := &accts[0]
	ctx := context.Background()
	if err := tg.registerPasskey(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.authCode(ctx, a, true); err != nil { // warm: statement caches, keys
		t.Fatal(err)
	}
	ct := &countingTransport{rt: tg.client.Transport}
	tg.client.Transport = ct
	var mu sync.Mutex
	var reads, writes []string
	stop := traceStatements(t, st, func(read bool, q string) {
		q = strings.Join(strings.Fields(q), " ")
		mu.Lock()
		defer mu.Unlock()
		if read {
			reads = append(reads, q)
		} else {
			writes = append(writes, q)
		}
	})
	_, err := tg.authCode(ctx, a, true)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	const maxRequests, maxReads, maxWrites = 4, 9, 10
	if len(ct.paths) > maxRequests || len(reads) > maxReads || len(writes) > maxWrites {
		t.Errorf("a passkey flow made %d requests, %d reads, %d write statements; the budget is %d, %d, %d:\n%s",
			len(ct.paths), len(reads), len(writes), maxRequests, maxReads, maxWrites,
			strings.Join(append(append(ct.paths, reads...), writes...), "\n"))
	}
	for _, q := range writes {
		if strings.HasPrefix(q, "DELETE FROM auth_requests") {
			t.Errorf("the flow deletes its authorization request (%s): redemption keeps it as a tombstone", q)
		}
	}
	t.Logf("%d requests, %d reads, %d write statements", len(ct.paths), len(reads), len(writes))
}
