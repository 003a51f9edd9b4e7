package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// Bench measures the store operations a sign-in and a refresh perform, on
// one store that grows as a real one does (the lookups run against a table
// of earlier rows, not an empty one). Each backend's tests call it:
//
//	go test ./idp/store/sqlite -run '^$' -bench .
//	IDP_TEST_POSTGRES=... go test ./idp/store/postgres -run '^$' -bench .
func Bench(b *testing.B, newStore func(b *testing.B) store.Store) {
	s := newStore(b)
	ctx := context.Background()
	if err := s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")); err != nil {
		b.Fatal(err)
	}
	n := 0
	next := func(prefix string) string { n++; return fmt.Sprintf("%s-%d", prefix, n) }

	// The password and passkey flows' writes, in their order.
	b.Run("CreateAuthRequest", func(b *testing.B) {
		for b.Loop() {
			must(b, s.CreateAuthRequest(ctx, newAuthRequest(next("ar"))), "CreateAuthRequest")
		}
	})
	b.Run("AuthRequestByID", func(b *testing.B) {
		id := next("ar")
		must(b, s.CreateAuthRequest(ctx, newAuthRequest(id)), "CreateAuthRequest")
		for b.Loop() {
			if _, err := s.AuthRequestByID(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CreateSession", func(b *testing.B) {
		for b.Loop() {
			must(b, s.CreateSession(ctx, newSession(next("sess"), "u1", t0)), "CreateSession")
		}
	})
	b.Run("SessionByID", func(b *testing.B) {
		id := next("sess")
		must(b, s.CreateSession(ctx, newSession(id, "u1", t0)), "CreateSession")
		for b.Loop() {
			if _, err := s.SessionByID(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UserByID", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.UserByID(ctx, "u1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Sign-in done: complete the request and store its code.
	b.Run("CompleteAndSaveCode", func(b *testing.B) {
		ids := make([]string, b.N)
		for i := range ids {
			ids[i] = next("ar")
			must(b, s.CreateAuthRequest(ctx, newAuthRequest(ids[i])), "CreateAuthRequest")
		}
		b.ResetTimer()
		for _, id := range ids {
			must(b, s.CompleteAuthRequest(ctx, id, store.Completion{Subject: "u1", AuthTime: t0, AMR: []string{"hwk", "user"}, SessionID: "sess"}, t0), "CompleteAuthRequest")
			must(b, s.SaveAuthCode(ctx, id, hash("code-"+id), t0.Add(time.Minute)), "SaveAuthCode")
		}
	})
	// The token request: find the request by its code, then redeem it and
	// insert the tokens in one transaction.
	b.Run("RedeemCode", func(b *testing.B) {
		ids := make([]string, b.N)
		for i := range ids {
			ids[i] = next("ar")
			must(b, s.CreateAuthRequest(ctx, newAuthRequest(ids[i])), "CreateAuthRequest")
			must(b, s.CompleteAuthRequest(ctx, ids[i], store.Completion{Subject: "u1", AuthTime: t0, AMR: []string{"pwd"}, SessionID: "sess"}, t0), "CompleteAuthRequest")
			must(b, s.SaveAuthCode(ctx, ids[i], hash("code-"+ids[i]), t0.Add(time.Minute)), "SaveAuthCode")
		}
		b.ResetTimer()
		for _, id := range ids {
			if _, err := s.AuthRequestByCodeHash(ctx, hash("code-"+id)); err != nil {
				b.Fatal(err)
			}
			fam := "fam-" + id
			must(b, s.IssueTokens(ctx, store.Issue{ConsumeCode: id, Access: newAccess("at-"+id, "u1", fam),
				Refresh: newRefresh("rt-"+id, fam, "", "u1")}, t0.Add(time.Second)), "IssueTokens")
		}
	})
	// A refresh: look the token up by its hash, then rotate it.
	b.Run("RotateRefresh", func(b *testing.B) {
		fam := next("fam")
		prev := newRefresh(next("rt"), fam, "", "u1")
		must(b, s.IssueTokens(ctx, store.Issue{Access: newAccess(next("at"), "u1", fam), Refresh: prev}, t0), "IssueTokens")
		for b.Loop() {
			if _, err := s.RefreshTokenByHash(ctx, prev.TokenHash); err != nil {
				b.Fatal(err)
			}
			child := newRefresh(next("rt"), fam, prev.ID, "u1")
			must(b, s.IssueTokens(ctx, store.Issue{RotateFrom: prev.ID, Access: newAccess(next("at"), "u1", fam),
				Refresh: child}, t0.Add(time.Minute)), "IssueTokens")
			prev = child
		}
	})
	b.Run("AccessTokenByID", func(b *testing.B) {
		id := next("at")
		must(b, s.IssueTokens(ctx, store.Issue{Access: newAccess(id, "u1", "")}, t0), "IssueTokens")
		for b.Loop() {
			if _, err := s.AccessTokenByID(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The passkey ceremony: store the challenge, consume it once.
	b.Run("CeremonyRoundTrip", func(b *testing.B) {
		for b.Loop() {
			id := next("cer")
			must(b, s.CreateCeremony(ctx, newCeremony(id, "login", "", t0.Add(5*time.Minute))), "CreateCeremony")
			if _, err := s.ConsumeCeremony(ctx, id, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
