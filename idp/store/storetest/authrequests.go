package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

func testAuthRequestRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()

	// Every field set, MaxAge pointing at 0 (a real value, not "absent").
	zero := int64(0)
	consumed := t0.Add(2 * time.Minute)
	full := &store.AuthRequest{
		ID: "ar-full", ClientID: "app", RedirectURI: "https://app.example/cb?x=1",
		Scopes: []string{"openid", "profile", "email", "offline_access"}, ResponseType: "code",
		ResponseMode: "form_post", State: "st\"ate'", Nonce: "n0nce", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256", Prompt: []string{"login", "consent"}, MaxAge: &zero,
		LoginHint: "Alice@Example.org", UILocales: []string{"de-CH", "en"}, HintSubject: "u9", BrowserBinding: []byte("binding-hash"),
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
		Done: true, Completion: store.Completion{Subject: "u1", AuthTime: t0.Add(time.Minute), AMR: []string{"pwd", "mfa"},
			SessionID: "sess", CodeHash: hash("code"), CodeExpiresAt: t0.Add(3 * time.Minute)}, ConsumedAt: &consumed,
		IssuedAccessTokenID: "at1", IssuedRefreshFamily: "fam1",
	}
	must(t, s.CreateAuthRequest(ctx, full), "create full auth request")
	got, err := s.AuthRequestByID(ctx, "ar-full")
	must(t, err, "auth request by id")
	checkEqual(t, "full auth request", got, full)
	if got.MaxAge == nil || *got.MaxAge != 0 {
		t.Errorf("MaxAge = %v, want a pointer to 0", got.MaxAge)
	}

	// Nothing optional set: nil MaxAge, empty lists.
	maxAge := int64(3600)
	minimal := &store.AuthRequest{
		ID: "ar-min", ClientID: "app", RedirectURI: "https://app.example/cb", Scopes: []string{},
		ResponseType: "code", CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
	}
	must(t, s.CreateAuthRequest(ctx, minimal), "create minimal auth request")
	got, err = s.AuthRequestByID(ctx, "ar-min")
	must(t, err, "auth request by id")
	checkEqual(t, "minimal auth request", got, minimal)
	if got.MaxAge != nil {
		t.Errorf("MaxAge = %d, want nil", *got.MaxAge)
	}
	if len(got.Scopes)+len(got.Prompt)+len(got.UILocales)+len(got.AMR) != 0 || got.ConsumedAt != nil || len(got.CodeHash) != 0 {
		t.Errorf("minimal request came back with values: %+v", got)
	}

	withAge := newAuthRequest("ar-age")
	withAge.MaxAge = &maxAge
	must(t, s.CreateAuthRequest(ctx, withAge), "create auth request with max_age")
	got, err = s.AuthRequestByID(ctx, "ar-age")
	must(t, err, "auth request by id")
	if got.MaxAge == nil || *got.MaxAge != 3600 {
		t.Errorf("MaxAge = %v, want 3600", got.MaxAge)
	}

	err = s.CreateAuthRequest(ctx, newAuthRequest("ar-min"))
	wantIs(t, err, store.ErrConflict, "duplicate auth request id")
	_, err = s.AuthRequestByID(ctx, "nope")
	wantIs(t, err, store.ErrNotFound, "AuthRequestByID(unknown)")
}

func testCompleteAuthRequest(t *testing.T, s store.Store) {
	ctx := t.Context()
	ar := newAuthRequest("ar1")
	must(t, s.CreateAuthRequest(ctx, ar), "create auth request")

	authTime := t0.Add(30 * time.Second)
	now := t0.Add(time.Minute)
	must(t, s.CompleteAuthRequest(ctx, "ar1", store.Completion{Subject: "u1", AuthTime: authTime, AMR: []string{"hwk", "user"}, SessionID: "sess1"}, now), "complete")

	want := *ar
	want.Done, want.Subject, want.AuthTime, want.AMR, want.SessionID = true, "u1", authTime, []string{"hwk", "user"}, "sess1"
	got, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	checkEqual(t, "completed auth request", got, &want)

	err = s.CompleteAuthRequest(ctx, "ar1", store.Completion{Subject: "u2", AuthTime: authTime, AMR: []string{"pwd"}, SessionID: "sess2"}, now)
	wantIs(t, err, store.ErrConflict, "second completion")
	got, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	checkEqual(t, "auth request after second completion", got, &want)

	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar2")), "create auth request")
	err = s.CompleteAuthRequest(ctx, "ar2", store.Completion{Subject: "u1", AuthTime: authTime, SessionID: "sess1"}, ar.ExpiresAt)
	wantIs(t, err, store.ErrNotFound, "completion at expiry")
	got, err = s.AuthRequestByID(ctx, "ar2")
	must(t, err, "expired auth request by id (still readable)")
	if got.Done || got.Subject != "" {
		t.Errorf("expired request was completed: Done=%v Subject=%q", got.Done, got.Subject)
	}
	err = s.CompleteAuthRequest(ctx, "nope", store.Completion{Subject: "u1", AuthTime: authTime, SessionID: "sess1"}, now)
	wantIs(t, err, store.ErrNotFound, "completion of unknown request")
}

func testSaveAuthCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar1")), "create auth request")

	codeExp := t0.Add(2 * time.Minute)
	if err := s.SaveAuthCode(ctx, "ar1", hash("code"), codeExp); err == nil {
		t.Error("SaveAuthCode on a request that is not done succeeded")
	}
	_, err := s.AuthRequestByCodeHash(ctx, hash("code"))
	wantIs(t, err, store.ErrNotFound, "code of a request that is not done")

	must(t, s.CompleteAuthRequest(ctx, "ar1", store.Completion{Subject: "u1", AuthTime: t0, AMR: []string{"pwd"}, SessionID: "sess"}, t0), "complete")
	must(t, s.SaveAuthCode(ctx, "ar1", hash("code"), codeExp), "save auth code")
	got, err := s.AuthRequestByCodeHash(ctx, hash("code"))
	must(t, err, "auth request by code")
	if got.ID != "ar1" || !bytes.Equal(got.CodeHash, hash("code")) || !got.CodeExpiresAt.Equal(codeExp) {
		t.Errorf("by code: ID=%q CodeHash=%x CodeExpiresAt=%v, want ar1, %x, %v",
			got.ID, got.CodeHash, got.CodeExpiresAt, hash("code"), codeExp)
	}

	err = s.SaveAuthCode(ctx, "ar1", hash("code2"), codeExp)
	wantIs(t, err, store.ErrConflict, "second SaveAuthCode")
	_, err = s.AuthRequestByCodeHash(ctx, hash("code2"))
	wantIs(t, err, store.ErrNotFound, "second code")
	got, err = s.AuthRequestByCodeHash(ctx, hash("code"))
	must(t, err, "auth request by first code")
	if got.ID != "ar1" {
		t.Errorf("first code finds %q, want ar1", got.ID)
	}

	// A code hash is unique across requests.
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar2")), "create auth request")
	must(t, s.CompleteAuthRequest(ctx, "ar2", store.Completion{Subject: "u1", AuthTime: t0, AMR: []string{"pwd"}, SessionID: "sess"}, t0), "complete")
	wantIs(t, s.SaveAuthCode(ctx, "ar2", hash("code"), codeExp), store.ErrConflict, "reused code hash")

	err = s.SaveAuthCode(ctx, "nope", hash("code3"), codeExp)
	wantIs(t, err, store.ErrNotFound, "SaveAuthCode(unknown)")
	_, err = s.AuthRequestByCodeHash(ctx, hash("unknown"))
	wantIs(t, err, store.ErrNotFound, "AuthRequestByCodeHash(unknown)")
}

// A sign-in that sends the browser straight back to the client completes
// the request and saves its code in one write.
func testCompleteWithCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar1")), "create auth request")
	codeExp := t0.Add(2 * time.Minute)
	c := store.Completion{Subject: "u1", AuthTime: t0, AMR: []string{"hwk"}, SessionID: "sess",
		CodeHash: hash("code"), CodeExpiresAt: codeExp}
	must(t, s.CompleteAuthRequest(ctx, "ar1", c, t0), "complete with a code")
	got, err := s.AuthRequestByCodeHash(ctx, hash("code"))
	must(t, err, "auth request by code")
	if got.ID != "ar1" || !got.Done || got.Subject != "u1" || got.SessionID != "sess" || !got.CodeExpiresAt.Equal(codeExp) {
		t.Errorf("by code: ID=%q Done=%v Subject=%q SessionID=%q CodeExpiresAt=%v, want ar1, true, u1, sess, %v",
			got.ID, got.Done, got.Subject, got.SessionID, got.CodeExpiresAt, codeExp)
	}
	// The code is the request's one code: no second one, by either path.
	wantIs(t, s.SaveAuthCode(ctx, "ar1", hash("code2"), codeExp), store.ErrConflict, "SaveAuthCode after a completion with a code")
	c.CodeHash = hash("code3")
	wantIs(t, s.CompleteAuthRequest(ctx, "ar1", c, t0), store.ErrConflict, "second completion with a code")
	for _, h := range []string{"code2", "code3"} {
		_, err := s.AuthRequestByCodeHash(ctx, hash(h))
		wantIs(t, err, store.ErrNotFound, "a second code "+h)
	}

	// A code hash is unique across requests: the completion fails whole.
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar2")), "create auth request")
	c.CodeHash = hash("code")
	if err := s.CompleteAuthRequest(ctx, "ar2", c, t0); err == nil {
		t.Error("completing with another request's code hash succeeded")
	}
	got, err = s.AuthRequestByID(ctx, "ar2")
	must(t, err, "auth request by id")
	if got.Done || got.CodeHash != nil {
		t.Errorf("after the failed completion: Done=%v CodeHash=%x, want neither", got.Done, got.CodeHash)
	}
}

func testDeleteAuthRequest(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar1")), "create auth request")
	must(t, s.DeleteAuthRequest(ctx, "ar1"), "delete auth request")
	_, err := s.AuthRequestByID(ctx, "ar1")
	wantIs(t, err, store.ErrNotFound, "deleted auth request")
	must(t, s.DeleteAuthRequest(ctx, "ar1"), "delete it again")

	// A redeemed request stays as a tombstone.
	redeemable(t, s, "ar2", "code2")
	must(t, s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar2", Access: newAccess("at2", "u1", "")}, t0), "issue")
	must(t, s.DeleteAuthRequest(ctx, "ar2"), "delete redeemed auth request")
	got, err := s.AuthRequestByID(ctx, "ar2")
	must(t, err, "redeemed auth request after delete")
	if got.ConsumedAt == nil || got.IssuedAccessTokenID != "at2" {
		t.Errorf("tombstone: ConsumedAt=%v IssuedAccessTokenID=%q, want set and at2", got.ConsumedAt, got.IssuedAccessTokenID)
	}
}
