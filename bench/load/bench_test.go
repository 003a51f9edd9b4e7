package main

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/communityidp/idp/idp/store"
)

// The in-process benchmarks run the load tool's own flows against a
// provider in this process (SQLite, loopback HTTP), so a profile shows
// provider and client together:
//
//	go test ./bench/load -run '^$' -bench . -benchmem
//	go test ./bench/load -run '^$' -bench FlowPasskey -cpuprofile cpu.out

// benchTarget starts a provider and points the tool at it.
func benchTarget(b *testing.B) (*target, []account) {
	t, accts, _ := benchTargetStore(b)
	return t, accts
}

// benchTargetStore is benchTarget, with the provider's store.
func benchTargetStore(b testing.TB) (*target, []account, store.Store) {
	b.Helper()
	issuer, st := startProviderStore(b)
	usersFile := writeUsers(b, "bench1:bench password bench1\nbench2:bench password bench2\n")
	o, err := parseFlags([]string{"-issuer", issuer, "-client-id", benchClient, "-client-secret", benchSecret,
		"-redirect-uri", benchRedirect, "-users", usersFile})
	if err != nil {
		b.Fatal(err)
	}
	t, err := newTarget(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	return t, o.accounts, st
}

// countStatements counts the statements the store runs until the
// returned function is called, which reports them per operation as
// reads/op and writes/op.
func countStatements(b *testing.B, st store.Store) func() {
	var reads, writes atomic.Int64
	stop := traceStatements(b, st, func(read bool, _ string) {
		if read {
			reads.Add(1)
		} else {
			writes.Add(1)
		}
	})
	return func() {
		stop()
		b.ReportMetric(float64(reads.Load())/float64(b.N), "reads/op")
		b.ReportMetric(float64(writes.Load())/float64(b.N), "writes/op")
	}
}

// traceStatements calls heard with every statement the store runs, and
// whether it reads (a SELECT) or writes, until the returned stop is
// called. heard must be safe for concurrent use.
func traceStatements(tb testing.TB, st store.Store, heard func(read bool, q string)) (stop func()) {
	tb.Helper()
	ex, ok := store.ExplainerOf(st)
	if !ok {
		tb.Fatalf("%T does not trace its queries", st)
	}
	ex.TraceQueries(func(q string) {
		q = strings.TrimSpace(q)
		heard(strings.HasPrefix(q, "SELECT"), q)
	})
	return func() { ex.TraceQueries(nil) }
}

// parallel runs op from 8 goroutines on 2 cores, like the load tool's
// default 8 workers.
func parallel(b *testing.B, op func() error) {
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A whole authorization-code flow with a passkey: authorize, "Email or
// username", the WebAuthn ceremony, the code, the token request and the ID
// token check. No password hashing anywhere.
func BenchmarkFlowPasskey(b *testing.B) {
	t, accts, st := benchTargetStore(b)
	a := &accts[0]
	if err := t.registerPasskey(context.Background(), a); err != nil {
		b.Fatal(err)
	}
	report := countStatements(b, st)
	parallel(b, func() error { _, err := t.authCode(context.Background(), a, true); return err })
	report()
}

// The same flow with the password: argon2id dominates.
func BenchmarkFlowPassword(b *testing.B) {
	t, accts := benchTarget(b)
	parallel(b, func() error { _, err := t.authCode(context.Background(), &accts[1], false); return err })
}

// The token request alone: a code exchange with PKCE and the ID token
// check, the sign-in before it untimed.
func BenchmarkCodeExchange(b *testing.B) {
	t, accts := benchTarget(b)
	a := &accts[0]
	if err := t.registerPasskey(context.Background(), a); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		g, err := t.authorize(a, t.signIn(true))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		tok, err := t.oauth.Exchange(t.ctx(ctx), g.code, oauth2.VerifierOption(g.verifier))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := t.checkIDToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// Refresh rotation: each goroutine rotates its own token family.
func BenchmarkRefresh(b *testing.B) {
	t, accts := benchTarget(b)
	const parallelism = 4
	b.SetParallelism(parallelism)
	ctx := context.Background()
	// The sign-ins (argon2id) are done before the timer starts.
	families := make(chan string, parallelism*runtime.GOMAXPROCS(0))
	for range cap(families) {
		tok, err := t.authCode(ctx, &accts[1], false)
		if err != nil {
			b.Fatal(err)
		}
		families <- tok.RefreshToken
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rt := <-families
		var err error
		for pb.Next() {
			if rt, err = t.refresh(ctx, rt); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDiscovery(b *testing.B) {
	t, _ := benchTarget(b)
	u := t.issuer.JoinPath("/.well-known/openid-configuration").String()
	parallel(b, func() error { return t.fetch(context.Background(), u) })
}

func BenchmarkJWKS(b *testing.B) {
	t, _ := benchTarget(b)
	parallel(b, func() error { return t.fetch(context.Background(), t.endpoints.jwks) })
}

func BenchmarkUserinfo(b *testing.B) {
	t, accts := benchTarget(b)
	tok, err := t.authCode(context.Background(), &accts[1], false)
	if err != nil {
		b.Fatal(err)
	}
	parallel(b, func() error { return t.userinfo(context.Background(), tok.AccessToken) })
}
