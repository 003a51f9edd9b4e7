// Package storetest is the conformance suite every store.Store backend runs
// from its tests (modelled on Dex's storage/conformance): one subtest per
// behaviour, each on a fresh, migrated, empty store.
//
// The suite states the contract precisely, including what store.go leaves
// to the backend: times round-trip at whole seconds, an empty list may come
// back as nil, deletes of unknown rows succeed, and the compare-and-swap
// operations let exactly one of several concurrent callers win. Times are
// passed in; nothing sleeps.
//
// RunReplicas holds the tests that need two handles on one database (two
// replicas, or the CLI next to the server).
//
// Fill, Dump, Feed and CheckSameDump are exported for tests that move a
// dump between two backends (see idp/store/postgres).
package storetest

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// Run runs the suite. newStore returns a fresh, migrated, empty store and
// registers its cleanup (Close) with t.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateAndGetUser", testCreateAndGetUser},
		{"DuplicateUsername", testDuplicateUsername},
		{"DuplicateEmail", testDuplicateEmail},
		{"UsersWithoutEmail", testUsersWithoutEmail},
		{"UpdateUser", testUpdateUser},
		{"UpdateUserConflict", testUpdateUserConflict},
		{"UpdateUserErrors", testUpdateUserErrors},
		{"ListAndCountUsers", testListAndCountUsers},
		{"WebAuthnIDRoundTrip", testWebAuthnIDRoundTrip},
		{"SetupTokenValid", testSetupTokenValid},
		{"CreateFirstAdmin", testCreateFirstAdmin},
		{"CreateFirstAdminBadToken", testCreateFirstAdminBadToken},
		{"CreateFirstAdminUserExists", testCreateFirstAdminUserExists},
		{"AuthRequestRoundTrip", testAuthRequestRoundTrip},
		{"CompleteAuthRequest", testCompleteAuthRequest},
		{"SaveAuthCode", testSaveAuthCode},
		{"DeleteAuthRequest", testDeleteAuthRequest},
		{"IssueConsumesCode", testIssueConsumesCode},
		{"IssueWithoutRefresh", testIssueWithoutRefresh},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"TokenLookups", testTokenLookups},
		{"RevokeRefreshFamily", testRevokeRefreshFamily},
		{"RevokeUserTokens", testRevokeUserTokens},
		{"Grants", testGrants},
		{"ConcurrentCodeRedemption", testConcurrentCodeRedemption},
		{"ConcurrentRefreshRotation", testConcurrentRefreshRotation},
		{"ConcurrentKeyRotation", testConcurrentKeyRotation},
		{"ConcurrentSecret", testConcurrentSecret},
		{"Sessions", testSessions},
		{"UserSessions", testUserSessions},
		{"SessionLogoutNotices", testSessionLogoutNotices},
		{"RotateSigningKey", testRotateSigningKey},
		{"SigningKeyAlgorithms", testSigningKeyAlgorithms},
		{"Secret", testSecret},
		{"PutAndRewrapSecrets", testPutAndRewrapSecrets},
		{"RevokeSigningKey", testRevokeSigningKey},
		{"GC", testGC},
		{"GCKeepsTombstonesAndUsedTokens", testGCKeeps},
		{"UserByWebAuthnID", testUserByWebAuthnID},
		{"PasskeyRoundTrip", testPasskeyRoundTrip},
		{"DuplicateCredentialID", testDuplicateCredentialID},
		{"PasskeysByUser", testPasskeysByUser},
		{"RecordPasskeyUse", testRecordPasskeyUse},
		{"PasskeyOwnership", testPasskeyOwnership},
		{"DeleteUserCascades", testDeleteUserCascades},
		{"Ceremonies", testCeremonies},
		{"ConcurrentCeremonyConsume", testConcurrentCeremonyConsume},
		{"SuggestionSnooze", testSuggestionSnooze},
		{"GCCeremoniesAndSnoozes", testGCCeremoniesAndSnoozes},
		{"SearchUsers", testSearchUsers},
		{"SearchUsersDefaultLimit", testSearchUsersDefaultLimit},
		{"PasskeyCoverage", testPasskeyCoverage},
		{"AuditAppend", testAuditAppend},
		{"ListAudit", testListAudit},
		{"ListAuditLimits", testListAuditLimits},
		{"CountAudit", testCountAudit},
		{"PruneAudit", testPruneAudit},
		{"AuditOutlivesUser", testAuditOutlivesUser},
		{"LastAdmin", testLastAdmin},
		{"RecoveryLinks", testRecoveryLinks},
		{"ConcurrentRecoveryConsume", testConcurrentRecoveryConsume},
		{"RecoveryLinksCascade", testRecoveryLinksCascade},
		{"RecoveryLinksEndTogether", testRecoveryLinksEndTogether},
		{"Outbox", testOutbox},
		{"ConcurrentOutboxClaims", testConcurrentOutboxClaims},
		{"GCRecoveryLinks", testGCRecoveryLinks},
		{"ThrottleFailures", testThrottleFailures},
		{"GCThrottleFailures", testGCThrottleFailures},
		{"ReserveAttempt", testReserveAttempt},
		{"ConcurrentReservations", testConcurrentReservations},
		{"RefreshSingleSuccessor", testRefreshSingleSuccessor},
		{"ImportMember", testImportMember},
		{"Settings", testSettings},
		{"AuditByDayAndAdoption", testAuditByDayAndAdoption},
		{"ConcurrentImports", testConcurrentImports},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}

	// Export and import need more than one store.
	portTests := []struct {
		name string
		fn   func(t *testing.T, newStore func(t *testing.T) store.Store)
	}{
		{"ExportImportRoundTrip", testExportImportRoundTrip},
		{"ImportNotEmpty", testImportNotEmpty},
		{"ImportWipe", testImportWipe},
		{"ImportAllOrNothing", testImportAllOrNothing},
		{"PortLeavesAuditAndRecovery", testPortLeavesAuditAndRecovery},
	}
	for _, tc := range portTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore) })
	}
}

// concurrency is how many goroutines race in the concurrency tests.
const concurrency = 8

// t0 is the suite's clock origin; every time is t0 plus whole seconds.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// --- users ---

func testCreateAndGetUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("u1", "Alice", "Alice@Example.ORG")
	u.EmailVerified = true
	u.Role = store.RoleAdmin
	u.Disabled = true
	u.PasswordChangedAt = t0.Add(time.Minute)
	must(t, s.CreateUser(ctx, u), "create user")

	want := *u
	want.Username, want.Email = "alice", "alice@example.org"
	if u.Username != want.Username || u.Email != want.Email {
		// Not required by store.go, but every backend folds in place.
		t.Errorf("CreateUser left %q, %q in u, want the stored %q, %q", u.Username, u.Email, want.Username, want.Email)
	}

	got, err := s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	checkEqual(t, "UserByID", got, &want)

	for _, login := range []string{"alice", "ALICE", "aLiCe", "alice@example.org", "ALICE@EXAMPLE.ORG"} {
		got, err := s.UserByLogin(ctx, login)
		if err != nil {
			t.Errorf("UserByLogin(%q): %v", login, err)
			continue
		}
		checkEqual(t, fmt.Sprintf("UserByLogin(%q)", login), got, &want)
	}

	// "@" decides the column: the email's local part is not a username and
	// the username is not an email.
	for _, login := range []string{"alice@", "bob", "alice@example.com", ""} {
		_, err := s.UserByLogin(ctx, login)
		wantIs(t, err, store.ErrNotFound, fmt.Sprintf("UserByLogin(%q)", login))
	}
	_, err = s.UserByID(ctx, "nope")
	wantIs(t, err, store.ErrNotFound, "UserByID(unknown)")
}

func testDuplicateUsername(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	err := s.CreateUser(ctx, newUser("u2", "ALICE", "other@example.org"))
	wantConflict(t, err, "username", "duplicate username")
	if n := count(t, s); n != 1 {
		t.Errorf("CountUsers = %d after a conflict, want 1", n)
	}
}

func testDuplicateEmail(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	err := s.CreateUser(ctx, newUser("u2", "bob", "Alice@Example.org"))
	wantConflict(t, err, "email", "duplicate email")
	if n := count(t, s); n != 1 {
		t.Errorf("CountUsers = %d after a conflict, want 1", n)
	}
}

func testUsersWithoutEmail(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "")), "create user without email")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "")), "create second user without email")
	got, err := s.UserByID(ctx, "u2")
	must(t, err, "user by id")
	if got.Email != "" {
		t.Errorf("Email = %q, want empty", got.Email)
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")

	later := t0.Add(time.Hour)
	got, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
		u.ID = "hijack"
		u.CreatedAt = later
		u.Username = "Alicia"
		u.Email = "ALICIA@example.org"
		u.EmailVerified = true
		u.Name = "Alicia A."
		u.Role = store.RoleAdmin
		u.PasswordHash = "$argon2id$new"
		u.Disabled = true
		u.WebAuthnID = handle("new")
		u.UpdatedAt = later
		u.PasswordChangedAt = later
		return nil
	})
	must(t, err, "update user")

	want := newUser("u1", "alicia", "alicia@example.org")
	want.EmailVerified = true
	want.Name = "Alicia A."
	want.Role = store.RoleAdmin
	want.PasswordHash = "$argon2id$new"
	want.Disabled = true
	want.WebAuthnID = handle("new")
	want.UpdatedAt = later
	want.PasswordChangedAt = later
	checkEqual(t, "UpdateUser result", got, want)

	stored, err := s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	checkEqual(t, "UserByID after update", stored, want)
	_, err = s.UserByID(ctx, "hijack")
	wantIs(t, err, store.ErrNotFound, "UserByID(changed id)")
	_, err = s.UserByLogin(ctx, "alice")
	wantIs(t, err, store.ErrNotFound, "UserByLogin(old username)")

	// Clearing optional fields writes them back too.
	got, err = s.UpdateUser(ctx, "u1", func(u *store.User) error {
		u.PasswordHash = ""
		u.PasswordChangedAt = time.Time{}
		u.Disabled = false
		return nil
	})
	must(t, err, "clear fields")
	if got.PasswordHash != "" || !got.PasswordChangedAt.IsZero() || got.Disabled {
		t.Errorf("after clearing: PasswordHash=%q PasswordChangedAt=%v Disabled=%v, want empty, zero, false",
			got.PasswordHash, got.PasswordChangedAt, got.Disabled)
	}
	stored, err = s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	checkEqual(t, "UserByID after clearing", stored, got)
}

func testUpdateUserConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")

	_, err := s.UpdateUser(ctx, "u2", func(u *store.User) error { u.Username = "Alice"; return nil })
	wantConflict(t, err, "username", "rename to a taken username")
	_, err = s.UpdateUser(ctx, "u2", func(u *store.User) error { u.Email = "ALICE@example.org"; return nil })
	wantConflict(t, err, "email", "change to a taken email")

	got, err := s.UserByID(ctx, "u2")
	must(t, err, "user by id")
	checkEqual(t, "bob after failed updates", got, newUser("u2", "bob", "bob@example.org"))
}

func testUpdateUserErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")

	boom := errors.New("boom")
	_, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
		u.Name = "changed"
		return boom
	})
	wantIs(t, err, boom, "UpdateUser with failing fn")
	got, err := s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	if got.Name != "Name u1" {
		t.Errorf("Name = %q after a failed update, want unchanged %q", got.Name, "Name u1")
	}

	called := false
	_, err = s.UpdateUser(ctx, "nope", func(*store.User) error { called = true; return nil })
	wantIs(t, err, store.ErrNotFound, "UpdateUser(unknown)")
	if called {
		t.Error("UpdateUser called fn for an unknown user")
	}
}

func testListAndCountUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	if n := count(t, s); n != 0 {
		t.Fatalf("CountUsers on an empty store = %d", n)
	}
	users, err := s.ListUsers(ctx)
	must(t, err, "list users")
	if len(users) != 0 {
		t.Fatalf("ListUsers on an empty store = %d users", len(users))
	}
	for _, u := range []*store.User{
		newUser("u1", "carol", "carol@example.org"),
		newUser("u2", "Alice", "alice@example.org"),
		newUser("u3", "bob", "bob@example.org"),
	} {
		must(t, s.CreateUser(ctx, u), "create "+u.Username)
	}
	if n := count(t, s); n != 3 {
		t.Errorf("CountUsers = %d, want 3", n)
	}
	users, err = s.ListUsers(ctx)
	must(t, err, "list users")
	var names []string
	for _, u := range users {
		names = append(names, u.ID+":"+u.Username)
	}
	if want := []string{"u2:alice", "u3:bob", "u1:carol"}; !slices.Equal(names, want) {
		t.Errorf("ListUsers = %v, want %v", names, want)
	}
	if len(users) == 3 {
		checkEqual(t, "ListUsers[1]", &users[1], newUser("u3", "bob", "bob@example.org"))
	}
}

func testWebAuthnIDRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := make([]byte, 64)
	for i := range id {
		id[i] = byte(i * 37)
	}
	id[0], id[1], id[63] = 0x00, 0xff, 0x00 // NUL and high bytes must survive
	u := newUser("u1", "alice", "alice@example.org")
	u.WebAuthnID = slices.Clone(id)
	must(t, s.CreateUser(ctx, u), "create user")
	got, err := s.UserByID(ctx, "u1")
	must(t, err, "user by id")
	if !bytes.Equal(got.WebAuthnID, id) {
		t.Errorf("WebAuthnID = %x, want %x", got.WebAuthnID, id)
	}
}

// --- setup ---

func testSetupTokenValid(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	must(t, s.CreateSetupToken(ctx, hash("setup"), exp), "create setup token")
	for _, tc := range []struct {
		name  string
		token []byte
		now   time.Time
		want  bool
	}{
		{"fresh", hash("setup"), t0, true},
		{"a second before expiry", hash("setup"), exp.Add(-time.Second), true},
		{"at expiry", hash("setup"), exp, false},
		{"after expiry", hash("setup"), exp.Add(time.Second), false},
		{"unknown", hash("other"), t0, false},
	} {
		got, err := s.SetupTokenValid(ctx, tc.token, tc.now)
		if err != nil {
			t.Errorf("%s: SetupTokenValid: %v", tc.name, err)
		} else if got != tc.want {
			t.Errorf("%s: SetupTokenValid = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testCreateFirstAdmin(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateSetupToken(ctx, hash("one"), t0.Add(time.Hour)), "create setup token")
	must(t, s.CreateSetupToken(ctx, hash("two"), t0.Add(time.Hour)), "create second setup token")

	admin := newUser("u1", "Root", "Root@Example.org")
	admin.Role = store.RoleAdmin
	must(t, s.CreateFirstAdmin(ctx, hash("one"), admin, t0), "create first admin")

	got, err := s.UserByLogin(ctx, "root")
	must(t, err, "user by login")
	want := newUser("u1", "root", "root@example.org")
	want.Role = store.RoleAdmin
	checkEqual(t, "first admin", got, want)

	for _, tok := range []string{"one", "two"} {
		ok, err := s.SetupTokenValid(ctx, hash(tok), t0)
		must(t, err, "setup token valid")
		if ok {
			t.Errorf("setup token %q still valid after CreateFirstAdmin; all must be deleted", tok)
		}
	}
	err = s.CreateFirstAdmin(ctx, hash("one"), newUser("u2", "again", "again@example.org"), t0)
	wantIs(t, err, store.ErrNotFound, "second use of the setup token")
	if n := count(t, s); n != 1 {
		t.Errorf("CountUsers = %d, want 1", n)
	}
}

func testCreateFirstAdminBadToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	must(t, s.CreateSetupToken(ctx, hash("setup"), exp), "create setup token")

	err := s.CreateFirstAdmin(ctx, hash("setup"), newUser("u1", "root", "root@example.org"), exp)
	wantIs(t, err, store.ErrNotFound, "expired setup token")
	err = s.CreateFirstAdmin(ctx, hash("unknown"), newUser("u1", "root", "root@example.org"), t0)
	wantIs(t, err, store.ErrNotFound, "unknown setup token")
	if n := count(t, s); n != 0 {
		t.Errorf("CountUsers = %d after failed setups, want 0", n)
	}
	ok, err := s.SetupTokenValid(ctx, hash("setup"), t0)
	must(t, err, "setup token valid")
	if !ok {
		t.Error("a failed CreateFirstAdmin deleted the setup token")
	}
}

func testCreateFirstAdminUserExists(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	must(t, s.CreateSetupToken(ctx, hash("setup"), t0.Add(time.Hour)), "create setup token")

	err := s.CreateFirstAdmin(ctx, hash("setup"), newUser("u2", "root", "root@example.org"), t0)
	wantIs(t, err, store.ErrConflict, "CreateFirstAdmin with a user present")
	if n := count(t, s); n != 1 {
		t.Errorf("CountUsers = %d, want 1", n)
	}
	ok, err := s.SetupTokenValid(ctx, hash("setup"), t0)
	must(t, err, "setup token valid")
	if !ok {
		t.Error("a failed CreateFirstAdmin deleted the setup token")
	}
}

// --- auth requests ---

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
		Done: true, Subject: "u1", AuthTime: t0.Add(time.Minute), AMR: []string{"pwd", "mfa"}, SessionID: "sess",
		CodeHash: hash("code"), CodeExpiresAt: t0.Add(3 * time.Minute), ConsumedAt: &consumed,
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
	must(t, s.CompleteAuthRequest(ctx, "ar1", "u1", authTime, []string{"hwk", "user"}, "sess1", now), "complete")

	want := *ar
	want.Done, want.Subject, want.AuthTime, want.AMR, want.SessionID = true, "u1", authTime, []string{"hwk", "user"}, "sess1"
	got, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	checkEqual(t, "completed auth request", got, &want)

	err = s.CompleteAuthRequest(ctx, "ar1", "u2", authTime, []string{"pwd"}, "sess2", now)
	wantIs(t, err, store.ErrConflict, "second completion")
	got, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	checkEqual(t, "auth request after second completion", got, &want)

	must(t, s.CreateAuthRequest(ctx, newAuthRequest("ar2")), "create auth request")
	err = s.CompleteAuthRequest(ctx, "ar2", "u1", authTime, nil, "sess1", ar.ExpiresAt)
	wantIs(t, err, store.ErrNotFound, "completion at expiry")
	got, err = s.AuthRequestByID(ctx, "ar2")
	must(t, err, "expired auth request by id (still readable)")
	if got.Done || got.Subject != "" {
		t.Errorf("expired request was completed: Done=%v Subject=%q", got.Done, got.Subject)
	}
	err = s.CompleteAuthRequest(ctx, "nope", "u1", authTime, nil, "sess1", now)
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

	must(t, s.CompleteAuthRequest(ctx, "ar1", "u1", t0, []string{"pwd"}, "sess", t0), "complete")
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
	must(t, s.CompleteAuthRequest(ctx, "ar2", "u1", t0, []string{"pwd"}, "sess", t0), "complete")
	wantIs(t, s.SaveAuthCode(ctx, "ar2", hash("code"), codeExp), store.ErrConflict, "reused code hash")

	err = s.SaveAuthCode(ctx, "nope", hash("code3"), codeExp)
	wantIs(t, err, store.ErrNotFound, "SaveAuthCode(unknown)")
	_, err = s.AuthRequestByCodeHash(ctx, hash("unknown"))
	wantIs(t, err, store.ErrNotFound, "AuthRequestByCodeHash(unknown)")
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

// --- tokens ---

func testIssueConsumesCode(t *testing.T, s store.Store) {
	ctx := t.Context()
	redeemable(t, s, "ar1", "code")
	now := t0.Add(time.Minute)

	at := newAccess("at1", "u1", "fam1")
	rt := newRefresh("rt1", "fam1", "", "u1")
	must(t, s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: at, Refresh: rt}, now), "issue")

	ar, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	if ar.ConsumedAt == nil || !ar.ConsumedAt.Equal(now) {
		t.Errorf("ConsumedAt = %v, want %v", ar.ConsumedAt, now)
	}
	if ar.IssuedAccessTokenID != "at1" || ar.IssuedRefreshFamily != "fam1" {
		t.Errorf("issued = %q, %q, want at1, fam1", ar.IssuedAccessTokenID, ar.IssuedRefreshFamily)
	}
	gotAT, err := s.AccessTokenByID(ctx, "at1")
	must(t, err, "access token by id")
	checkEqual(t, "access token", gotAT, at)
	gotRT, err := s.RefreshTokenByHash(ctx, rt.TokenHash)
	must(t, err, "refresh token by hash")
	checkEqual(t, "refresh token", gotRT, rt)

	// A replay of the code loses and changes nothing.
	err = s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: newAccess("at2", "u1", "fam2"),
		Refresh: newRefresh("rt2", "fam2", "", "u1")}, now.Add(time.Second))
	wantIs(t, err, store.ErrConflict, "second redemption")
	_, err = s.AccessTokenByID(ctx, "at2")
	wantIs(t, err, store.ErrNotFound, "access token of the losing redemption")
	_, err = s.RefreshTokenByID(ctx, "rt2")
	wantIs(t, err, store.ErrNotFound, "refresh token of the losing redemption")
	ar, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	if ar.IssuedAccessTokenID != "at1" || ar.IssuedRefreshFamily != "fam1" || !ar.ConsumedAt.Equal(now) {
		t.Errorf("after replay: issued %q, %q at %v, want at1, fam1 at %v",
			ar.IssuedAccessTokenID, ar.IssuedRefreshFamily, ar.ConsumedAt, now)
	}

	err = s.IssueTokens(ctx, store.Issue{ConsumeCode: "nope", Access: newAccess("at3", "u1", "")}, now)
	if err == nil {
		t.Error("redeeming the code of an unknown request succeeded")
	}
	_, err = s.AccessTokenByID(ctx, "at3")
	wantIs(t, err, store.ErrNotFound, "access token of a failed issue")
}

func testIssueWithoutRefresh(t *testing.T, s store.Store) {
	ctx := t.Context()
	redeemable(t, s, "ar1", "code")
	at := newAccess("at1", "u1", "")
	at.AuthTime = time.Time{} // client_credentials-like: no sign-in
	at.AMR, at.Audience = nil, nil
	must(t, s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: at}, t0), "issue")
	ar, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	if ar.IssuedAccessTokenID != "at1" || ar.IssuedRefreshFamily != "" {
		t.Errorf("issued = %q, %q, want at1 and no family", ar.IssuedAccessTokenID, ar.IssuedRefreshFamily)
	}
	got, err := s.AccessTokenByID(ctx, "at1")
	must(t, err, "access token by id")
	checkEqual(t, "access token", got, at)

	// Neither a code nor a refresh token: a plain issue.
	plain := newAccess("at2", "app", "")
	must(t, s.IssueTokens(ctx, store.Issue{Access: plain}, t0), "plain issue")
	got, err = s.AccessTokenByID(ctx, "at2")
	must(t, err, "access token by id")
	checkEqual(t, "plain access token", got, plain)
}

func testRotateRefreshToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	rt1 := newRefresh("rt1", "fam", "", "u1")
	must(t, s.IssueTokens(ctx, store.Issue{Access: newAccess("at1", "u1", "fam"), Refresh: rt1}, t0), "first issue")

	now := t0.Add(time.Hour)
	rt2 := newRefresh("rt2", "fam", "rt1", "u1")
	rt2.CreatedAt = now
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at2", "u1", "fam"), Refresh: rt2}, now), "rotate")

	got, err := s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "parent by id")
	want := *rt1
	want.UsedAt = &now
	checkEqual(t, "used parent", got, &want)
	got, err = s.RefreshTokenByHash(ctx, rt2.TokenHash)
	must(t, err, "child by hash")
	checkEqual(t, "child", got, rt2)

	// Using the parent again loses and inserts nothing.
	err = s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at3", "u1", "fam"),
		Refresh: newRefresh("rt3", "fam", "rt1", "u1")}, now.Add(time.Second))
	wantIs(t, err, store.ErrConflict, "second rotation of the same token")
	_, err = s.RefreshTokenByID(ctx, "rt3")
	wantIs(t, err, store.ErrNotFound, "child of the losing rotation")
	_, err = s.AccessTokenByID(ctx, "at3")
	wantIs(t, err, store.ErrNotFound, "access token of the losing rotation")
	got, err = s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "parent by id")
	if got.UsedAt == nil || !got.UsedAt.Equal(now) {
		t.Errorf("parent UsedAt = %v after a losing rotation, want %v", got.UsedAt, now)
	}

	// A revoked token cannot be rotated either.
	must(t, s.RevokeRefreshFamily(ctx, "fam", now), "revoke family")
	err = s.IssueTokens(ctx, store.Issue{RotateFrom: "rt2", Access: newAccess("at4", "u1", "fam"),
		Refresh: newRefresh("rt4", "fam", "rt2", "u1")}, now)
	wantIs(t, err, store.ErrConflict, "rotation of a revoked token")

	err = s.IssueTokens(ctx, store.Issue{RotateFrom: "nope", Access: newAccess("at5", "u1", "")}, now)
	if err == nil {
		t.Error("rotating an unknown refresh token succeeded")
	}
}

func testTokenLookups(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.AccessTokenByID(ctx, "nope")
	wantIs(t, err, store.ErrNotFound, "AccessTokenByID(unknown)")
	_, err = s.RefreshTokenByID(ctx, "nope")
	wantIs(t, err, store.ErrNotFound, "RefreshTokenByID(unknown)")
	_, err = s.RefreshTokenByHash(ctx, hash("nope"))
	wantIs(t, err, store.ErrNotFound, "RefreshTokenByHash(unknown)")

	rt := newRefresh("rt1", "fam", "", "u1")
	must(t, s.IssueTokens(ctx, store.Issue{Access: newAccess("at1", "u1", "fam"), Refresh: rt}, t0), "issue")

	// Another token with the same hash is a conflict, and the whole issue
	// is rolled back.
	dup := newRefresh("rt2", "fam2", "", "u1")
	dup.TokenHash = rt.TokenHash
	err = s.IssueTokens(ctx, store.Issue{Access: newAccess("at2", "u1", "fam2"), Refresh: dup}, t0)
	wantIs(t, err, store.ErrConflict, "duplicate refresh token hash")
	_, err = s.AccessTokenByID(ctx, "at2")
	wantIs(t, err, store.ErrNotFound, "access token of the rolled back issue")
	err = s.IssueTokens(ctx, store.Issue{Access: newAccess("at1", "u1", "")}, t0)
	wantIs(t, err, store.ErrConflict, "duplicate access token id")

	must(t, s.DeleteAccessToken(ctx, "at1"), "delete access token")
	_, err = s.AccessTokenByID(ctx, "at1")
	wantIs(t, err, store.ErrNotFound, "deleted access token")
	must(t, s.DeleteAccessToken(ctx, "at1"), "delete it again")
	if _, err := s.RefreshTokenByID(ctx, "rt1"); err != nil {
		t.Errorf("deleting the access token touched its refresh token: %v", err)
	}
}

func testRevokeRefreshFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	issue := func(at, rt, family, parent string) {
		t.Helper()
		is := store.Issue{Access: newAccess(at, "u1", family)}
		if rt != "" {
			is.Refresh = newRefresh(rt, family, parent, "u1")
		}
		must(t, s.IssueTokens(ctx, is, t0), "issue "+at)
	}
	issue("at1", "rt1", "fam", "")
	issue("at2", "rt2", "fam", "rt1")
	issue("at3", "rt3", "other", "")
	issue("at4", "", "", "")

	early, late := t0.Add(time.Minute), t0.Add(time.Hour)
	must(t, s.RevokeRefreshFamily(ctx, "fam", early), "revoke family")
	must(t, s.RevokeRefreshFamily(ctx, "fam", late), "revoke family again")
	must(t, s.RevokeRefreshFamily(ctx, "unknown", late), "revoke unknown family")

	for _, id := range []string{"rt1", "rt2"} {
		rt, err := s.RefreshTokenByID(ctx, id)
		must(t, err, "refresh token "+id)
		if rt.RevokedAt == nil || !rt.RevokedAt.Equal(early) {
			t.Errorf("%s RevokedAt = %v, want the first revocation %v", id, rt.RevokedAt, early)
		}
	}
	rt, err := s.RefreshTokenByID(ctx, "rt3")
	must(t, err, "refresh token rt3")
	if rt.RevokedAt != nil {
		t.Errorf("rt3 of another family revoked at %v", rt.RevokedAt)
	}
	for _, id := range []string{"at1", "at2"} {
		_, err := s.AccessTokenByID(ctx, id)
		wantIs(t, err, store.ErrNotFound, "access token "+id+" of the revoked family")
	}
	for _, id := range []string{"at3", "at4"} {
		if _, err := s.AccessTokenByID(ctx, id); err != nil {
			t.Errorf("access token %s outside the family: %v", id, err)
		}
	}
}

// The apps holding a member's live refresh tokens, one line per app;
// removing one revokes its tokens only and tells it when asked to.
func testGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	issue := func(rt, at, family, client, subject string, created time.Time) {
		t.Helper()
		r := newRefresh(rt, family, "", subject)
		r.ClientID, r.CreatedAt = client, created
		a := newAccess(at, subject, family)
		a.ClientID = client
		must(t, s.IssueTokens(ctx, store.Issue{Access: a, Refresh: r}, created), "issue "+rt)
	}
	issue("rt1", "at1", "fam1", "site", "u1", t0)
	issue("rt2", "at2", "fam2", "site", "u1", t0.Add(time.Hour))
	issue("rt3", "at3", "fam3", "app", "u1", t0.Add(2*time.Hour))
	issue("rt4", "at4", "fam4", "forum", "u1", t0)
	must(t, s.RevokeRefreshFamily(ctx, "fam4", t0), "revoke fam4")
	issue("rt5", "at5", "fam5", "site", "u2", t0)
	now := t0.Add(3 * time.Hour)
	got, err := s.UserGrants(ctx, "u1", now)
	must(t, err, "grants")
	want := []store.Grant{
		{ClientID: "app", FirstAt: t0.Add(2 * time.Hour), LastAt: t0.Add(2 * time.Hour), Families: 1},
		{ClientID: "site", FirstAt: t0, LastAt: t0.Add(time.Hour), Families: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("grants = %+v, want %+v", got, want)
	}
	if late, _ := s.UserGrants(ctx, "u1", t0.Add(48*time.Hour)); len(late) != 0 {
		t.Errorf("expired tokens listed: %+v", late)
	}

	ok, err := s.RevokeGrant(ctx, "u1", "site", now, true)
	must(t, err, "revoke site")
	if !ok {
		t.Error("RevokeGrant found nothing to revoke")
	}
	got, _ = s.UserGrants(ctx, "u1", now)
	if len(got) != 1 || got[0].ClientID != "app" {
		t.Errorf("after removing site: %+v", got)
	}
	_, err = s.AccessTokenByID(ctx, "at1")
	wantIs(t, err, store.ErrNotFound, "site's access token")
	if _, err := s.AccessTokenByID(ctx, "at3"); err != nil {
		t.Errorf("app's access token went too: %v", err)
	}
	if other, _ := s.UserGrants(ctx, "u2", now); len(other) != 1 {
		t.Errorf("another member's grant went too: %+v", other)
	}
	claimed, err := s.ClaimOutbox(ctx, now, time.Minute, 10, store.OutboxBackchannel)
	must(t, err, "claim")
	if len(claimed) != 1 || claimed[0].Recipient != "site" || string(claimed[0].Payload) != `{"sub":"u1"}` {
		t.Errorf("notices: %+v", claimed)
	}
	ok, err = s.RevokeGrant(ctx, "u1", "site", now, false)
	if err != nil || ok {
		t.Errorf("revoking again: %v %v", ok, err)
	}
}

func testRevokeUserTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, tc := range []struct{ at, rt, family, subject string }{
		{"at1", "rt1", "fam1", "u1"},
		{"at2", "rt2", "fam2", "u1"},
		{"at3", "", "", "u1"},
		{"at4", "rt4", "fam4", "u2"},
	} {
		is := store.Issue{Access: newAccess(tc.at, tc.subject, tc.family)}
		if tc.rt != "" {
			is.Refresh = newRefresh(tc.rt, tc.family, "", tc.subject)
		}
		must(t, s.IssueTokens(ctx, is, t0), "issue "+tc.at)
	}
	now := t0.Add(time.Minute)
	must(t, s.RevokeUserTokens(ctx, "u1", now), "revoke user tokens")

	for _, id := range []string{"rt1", "rt2"} {
		rt, err := s.RefreshTokenByID(ctx, id)
		must(t, err, "refresh token "+id)
		if rt.RevokedAt == nil || !rt.RevokedAt.Equal(now) {
			t.Errorf("%s RevokedAt = %v, want %v", id, rt.RevokedAt, now)
		}
	}
	for _, id := range []string{"at1", "at2", "at3"} {
		_, err := s.AccessTokenByID(ctx, id)
		wantIs(t, err, store.ErrNotFound, "access token "+id+" of the user")
	}
	rt, err := s.RefreshTokenByID(ctx, "rt4")
	must(t, err, "refresh token rt4")
	if rt.RevokedAt != nil {
		t.Errorf("another user's token revoked at %v", rt.RevokedAt)
	}
	if _, err := s.AccessTokenByID(ctx, "at4"); err != nil {
		t.Errorf("another user's access token: %v", err)
	}
}

// --- concurrency ---

// race runs fn(i) for i in [0, concurrency) at once and returns the errors.
func race(fn func(i int) error) []error {
	errs := make([]error, concurrency)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and the others are
// ErrConflict, and returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("%s: both %d and %d won", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("%s: loser %d got %v, want ErrConflict", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: nobody won: %v", what, errs)
	}
	return winner
}

func testConcurrentCodeRedemption(t *testing.T, s store.Store) {
	ctx := t.Context()
	redeemable(t, s, "ar1", "code")
	errs := race(func(i int) error {
		fam := fmt.Sprintf("fam%d", i)
		return s.IssueTokens(ctx, store.Issue{
			ConsumeCode: "ar1",
			Access:      newAccess(fmt.Sprintf("at%d", i), "u1", fam),
			Refresh:     newRefresh(fmt.Sprintf("rt%d", i), fam, "", "u1"),
		}, t0)
	})
	w := oneWinner(t, "parallel redemptions", errs)

	ar, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	if want := fmt.Sprintf("at%d", w); ar.IssuedAccessTokenID != want {
		t.Errorf("IssuedAccessTokenID = %q, want the winner's %q", ar.IssuedAccessTokenID, want)
	}
	if want := fmt.Sprintf("fam%d", w); ar.IssuedRefreshFamily != want {
		t.Errorf("IssuedRefreshFamily = %q, want the winner's %q", ar.IssuedRefreshFamily, want)
	}
	for i := range concurrency {
		_, errA := s.AccessTokenByID(ctx, fmt.Sprintf("at%d", i))
		_, errR := s.RefreshTokenByID(ctx, fmt.Sprintf("rt%d", i))
		if i == w && (errA != nil || errR != nil) {
			t.Errorf("winner's tokens: %v, %v", errA, errR)
		}
		if i != w && (!errors.Is(errA, store.ErrNotFound) || !errors.Is(errR, store.ErrNotFound)) {
			t.Errorf("loser %d's tokens exist: %v, %v", i, errA, errR)
		}
	}
}

func testConcurrentRefreshRotation(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.IssueTokens(ctx, store.Issue{Access: newAccess("at", "u1", "fam"), Refresh: newRefresh("rt", "fam", "", "u1")}, t0), "issue")
	now := t0.Add(time.Minute)
	errs := race(func(i int) error {
		return s.IssueTokens(ctx, store.Issue{
			RotateFrom: "rt",
			Access:     newAccess(fmt.Sprintf("at%d", i), "u1", "fam"),
			Refresh:    newRefresh(fmt.Sprintf("rt%d", i), "fam", "rt", "u1"),
		}, now)
	})
	w := oneWinner(t, "parallel rotations", errs)
	parent, err := s.RefreshTokenByID(ctx, "rt")
	must(t, err, "parent by id")
	if parent.UsedAt == nil || !parent.UsedAt.Equal(now) {
		t.Errorf("parent UsedAt = %v, want %v", parent.UsedAt, now)
	}
	for i := range concurrency {
		_, err := s.RefreshTokenByID(ctx, fmt.Sprintf("rt%d", i))
		if i == w && err != nil {
			t.Errorf("winner's child: %v", err)
		}
		if i != w && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("loser %d's child: %v, want ErrNotFound", i, err)
		}
	}
}

func testConcurrentKeyRotation(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.RotateSigningKey(ctx, newKey("k0", "RS256", t0), "", time.Time{}), "first key")
	retire := t0.Add(24 * time.Hour)
	errs := race(func(i int) error {
		return s.RotateSigningKey(ctx, newKey(fmt.Sprintf("k%d", i+1), "RS256", t0.Add(time.Hour)), "k0", retire)
	})
	w := oneWinner(t, "parallel key rotations", errs)

	keys, err := s.SigningKeys(ctx)
	must(t, err, "signing keys")
	var got []string
	for _, k := range keys {
		state := "active"
		if k.RetireAt != nil {
			state = "retire@" + k.RetireAt.UTC().Format(time.RFC3339)
		}
		got = append(got, k.ID+":"+state)
	}
	want := []string{fmt.Sprintf("k%d:active", w+1), "k0:retire@" + retire.Format(time.RFC3339)}
	if !slices.Equal(got, want) {
		t.Errorf("keys after parallel rotation = %v, want %v", got, want)
	}
}

func testConcurrentSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	got := make([][]byte, concurrency)
	errs := race(func(i int) error {
		v, err := s.Secret(ctx, "crypto", func() ([]byte, error) {
			return []byte(fmt.Sprintf("secret-%d", i)), nil
		})
		got[i] = v
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Secret %d: %v", i, err)
		}
	}
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Errorf("Secret %d = %q, but Secret 0 = %q", i, got[i], got[0])
		}
	}
	if !bytes.HasPrefix(got[0], []byte("secret-")) {
		t.Errorf("Secret = %q, want one of the generated values", got[0])
	}
	v, err := s.Secret(ctx, "crypto", func() ([]byte, error) {
		t.Error("generate called for a stored secret")
		return []byte("late"), nil
	})
	must(t, err, "secret")
	if !bytes.Equal(v, got[0]) {
		t.Errorf("Secret later = %q, want %q", v, got[0])
	}
}

// --- sessions ---

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	sess := newSession("s1", "u1", t0)
	must(t, s.CreateSession(ctx, sess), "create session")
	got, err := s.SessionByID(ctx, "s1")
	must(t, err, "session by id")
	checkEqual(t, "session", got, sess)

	seen, idle := t0.Add(time.Hour), t0.Add(3*time.Hour)
	must(t, s.TouchSession(ctx, "s1", seen, idle), "touch session")
	want := *sess
	want.LastSeenAt, want.IdleExpiresAt = seen, idle
	got, err = s.SessionByID(ctx, "s1")
	must(t, err, "session by id")
	checkEqual(t, "touched session", got, &want)

	wantIs(t, s.TouchSession(ctx, "nope", seen, idle), store.ErrNotFound, "TouchSession(unknown)")
	_, err = s.SessionByID(ctx, "nope")
	wantIs(t, err, store.ErrNotFound, "SessionByID(unknown)")
	wantIs(t, s.CreateSession(ctx, newSession("s1", "u1", t0)), store.ErrConflict, "duplicate session id")

	must(t, s.DeleteSession(ctx, "s1"), "delete session")
	_, err = s.SessionByID(ctx, "s1")
	wantIs(t, err, store.ErrNotFound, "deleted session")
	must(t, s.DeleteSession(ctx, "s1"), "delete it again")
}

func testUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	for _, sess := range []*store.Session{
		newSession("s1", "u1", t0),
		newSession("s2", "u1", t0.Add(time.Minute)),
		newSession("s3", "u1", t0.Add(2*time.Minute)),
		newSession("s4", "u2", t0),
	} {
		must(t, s.CreateSession(ctx, sess), "create session "+sess.ID)
	}
	ids := func(userID string) []string {
		t.Helper()
		l, err := s.ListUserSessions(ctx, userID)
		must(t, err, "list sessions")
		var out []string
		for _, sess := range l {
			if sess.UserID != userID {
				t.Errorf("ListUserSessions(%q) returned %s of %q", userID, sess.ID, sess.UserID)
			}
			out = append(out, sess.ID)
		}
		sort.Strings(out) // the order is not part of the contract
		return out
	}
	if got := ids("u1"); !slices.Equal(got, []string{"s1", "s2", "s3"}) {
		t.Errorf("sessions of u1 = %v, want [s1 s2 s3]", got)
	}
	if got := ids("nobody"); len(got) != 0 {
		t.Errorf("sessions of an unknown user = %v", got)
	}
	l, err := s.ListUserSessions(ctx, "u2")
	must(t, err, "list sessions")
	if len(l) == 1 {
		checkEqual(t, "listed session", &l[0], newSession("s4", "u2", t0))
	} else {
		t.Errorf("u2 has %d sessions, want 1", len(l))
	}

	must(t, s.DeleteUserSessions(ctx, "u1", "s2"), "delete other sessions")
	if got := ids("u1"); !slices.Equal(got, []string{"s2"}) {
		t.Errorf("sessions of u1 after sign out elsewhere = %v, want [s2]", got)
	}
	if got := ids("u2"); !slices.Equal(got, []string{"s4"}) {
		t.Errorf("sessions of u2 = %v, want [s4] (untouched)", got)
	}
	must(t, s.DeleteUserSessions(ctx, "u1", ""), "delete all sessions")
	if got := ids("u1"); len(got) != 0 {
		t.Errorf("sessions of u1 after sign out everywhere = %v", got)
	}
}

// Ending a session queues a back-channel logout notice to each app it
// signed in to, in the same transaction; an expired session collected
// by GC tells nobody.
func testSessionLogoutNotices(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	for _, id := range []string{"s1", "s2", "s3", "s4"} {
		must(t, s.CreateSession(ctx, newSession(id, "u1", t0)), "create "+id)
	}
	must(t, s.AddSessionClient(ctx, "s1", "site"), "add site")
	must(t, s.AddSessionClient(ctx, "s1", "forum"), "add forum")
	must(t, s.AddSessionClient(ctx, "s1", "site"), "add site again")
	for _, id := range []string{"s2", "s3", "s4"} {
		must(t, s.AddSessionClient(ctx, id, "site"), "add site to "+id)
	}
	wantIs(t, s.AddSessionClient(ctx, "nope", "site"), store.ErrNotFound, "AddSessionClient(unknown)")
	got, err := s.SessionByID(ctx, "s1")
	must(t, err, "session by id")
	if !slices.Equal(got.Clients, []string{"site", "forum"}) {
		t.Errorf("clients = %v, want [site forum]", got.Clients)
	}
	notices := func(what string) map[string]int {
		t.Helper()
		claimed, err := s.ClaimOutbox(ctx, t0.Add(24*time.Hour), time.Minute, 100)
		must(t, err, "claim outbox")
		out := map[string]int{}
		for _, m := range claimed {
			var n store.LogoutNotice
			if m.Kind != store.OutboxBackchannel || json.Unmarshal(m.Payload, &n) != nil || n.Subject != "u1" {
				t.Errorf("%s: message %+v", what, m)
			}
			out[m.Recipient+" "+n.SID]++
			must(t, s.OutboxSent(ctx, m.ID, t0), "sent")
		}
		return out
	}
	sid := store.SessionSID
	must(t, s.DeleteSession(ctx, "s1"), "delete s1")
	if got := notices("one session"); len(got) != 2 || got["site "+sid("s1")] != 1 || got["forum "+sid("s1")] != 1 {
		t.Errorf("after DeleteSession: %v", got)
	}
	must(t, s.DeleteUserSessions(ctx, "u1", "s2"), "delete all but s2")
	if got := notices("all but one"); len(got) != 2 || got["site "+sid("s3")] != 1 || got["site "+sid("s4")] != 1 {
		t.Errorf("after DeleteUserSessions: %v", got)
	}
	must(t, s.DeleteUser(ctx, "u1"), "delete alice")
	if got := notices("with the member"); len(got) != 1 || got["site "+sid("s2")] != 1 {
		t.Errorf("after DeleteUser: %v", got)
	}

	// Expired sessions go quietly.
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	must(t, s.CreateSession(ctx, newSession("s5", "u2", t0)), "create s5")
	must(t, s.AddSessionClient(ctx, "s5", "site"), "add site to s5")
	_, err = s.GC(ctx, t0.Add(40*24*time.Hour))
	must(t, err, "gc")
	if got := notices("gc"); len(got) != 0 {
		t.Errorf("an expired session told its apps: %v", got)
	}
	if sid("s1") == sid("s2") || len(sid("s1")) != 22 {
		t.Errorf("sids: %q %q", sid("s1"), sid("s2"))
	}
}

// --- keys and secrets ---

func testRotateSigningKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	keys, err := s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 0 {
		t.Fatalf("%d keys in an empty store", len(keys))
	}

	k1 := newKey("k1", "RS256", t0)
	wantIs(t, s.RotateSigningKey(ctx, k1, "k0", t0), store.ErrConflict, "rotation expecting a key when there is none")
	must(t, s.RotateSigningKey(ctx, k1, "", time.Time{}), "first rotation")
	keys, err = s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 1 {
		t.Fatalf("%d keys after the first rotation, want 1", len(keys))
	}
	checkEqual(t, "first key", &keys[0], k1)

	k2 := newKey("k2", "RS256", t0.Add(time.Hour))
	wantIs(t, s.RotateSigningKey(ctx, k2, "", t0), store.ErrConflict, "rotation expecting no key")
	wantIs(t, s.RotateSigningKey(ctx, k2, "wrong", t0), store.ErrConflict, "rotation expecting the wrong key")
	keys, err = s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 1 || keys[0].RetireAt != nil {
		t.Fatalf("failed rotations changed the keys: %+v", keys)
	}

	retire := t0.Add(25 * time.Hour)
	must(t, s.RotateSigningKey(ctx, k2, "k1", retire), "second rotation")
	keys, err = s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 2 {
		t.Fatalf("%d keys after the second rotation, want 2", len(keys))
	}
	retired := *k1
	retired.RetireAt = &retire
	checkEqual(t, "newest key", &keys[0], k2)
	checkEqual(t, "retiring key", &keys[1], &retired)

	// Rotating to a key id that exists is a conflict, not a second row.
	wantIs(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0.Add(2*time.Hour)), "k2", retire), store.ErrConflict, "reused key id")
	keys, err = s.SigningKeys(ctx)
	must(t, err, "signing keys")
	if len(keys) != 2 || keys[0].ID != "k2" || keys[0].RetireAt != nil {
		t.Errorf("a failed rotation changed the keys: %+v", keys)
	}
}

func testSigningKeyAlgorithms(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.RotateSigningKey(ctx, newKey("b-rs", "RS256", t0), "", time.Time{}), "RS256 key")
	must(t, s.RotateSigningKey(ctx, newKey("a-es", "ES256", t0), "", time.Time{}), "ES256 key")
	keys, err := s.SigningKeys(ctx)
	must(t, err, "signing keys")
	var got []string
	for _, k := range keys {
		got = append(got, k.ID)
		if k.RetireAt != nil {
			t.Errorf("key %s of its own algorithm was retired", k.ID)
		}
	}
	// Same CreatedAt: ties break by ID.
	if want := []string{"a-es", "b-rs"}; !slices.Equal(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
}

func testSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	boom := errors.New("no entropy")
	_, err := s.Secret(ctx, "csrf", func() ([]byte, error) { return nil, boom })
	wantIs(t, err, boom, "failing generate")

	calls := 0
	gen := func(v string) func() ([]byte, error) {
		return func() ([]byte, error) { calls++; return []byte(v), nil }
	}
	v, err := s.Secret(ctx, "csrf", gen("\x00first\xff"))
	must(t, err, "secret")
	if string(v) != "\x00first\xff" || calls != 1 {
		t.Errorf("Secret = %q after %d calls, want the generated value after 1", v, calls)
	}
	v, err = s.Secret(ctx, "csrf", gen("second"))
	must(t, err, "secret")
	if string(v) != "\x00first\xff" || calls != 1 {
		t.Errorf("Secret = %q after %d calls, want the stored value without generating", v, calls)
	}
	v, err = s.Secret(ctx, "crypto", gen("other"))
	must(t, err, "secret")
	if string(v) != "other" {
		t.Errorf("Secret(crypto) = %q, want other", v)
	}
}

// --- GC ---

func testGC(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	past, future, far := now.Add(-time.Second), now.Add(time.Second), now.Add(72*time.Hour)

	// Auth requests.
	ar := func(id string, expires time.Time, codeExpires time.Time, consumed bool) {
		a := newAuthRequest(id)
		a.ExpiresAt = expires
		if !codeExpires.IsZero() {
			a.Done, a.Subject, a.AuthTime = true, "u1", t0
			a.CodeHash, a.CodeExpiresAt = hash("code-"+id), codeExpires
		}
		if consumed {
			c := t0
			a.ConsumedAt, a.IssuedAccessTokenID = &c, "at-"+id
		}
		must(t, s.CreateAuthRequest(ctx, a), "create auth request "+id)
	}
	ar("ar-expired", past, time.Time{}, false)
	ar("ar-live", future, time.Time{}, false)
	ar("ar-code-live", past, future, false)
	ar("ar-consumed-old", past, past, true)
	ar("ar-tombstone", future, past, true)

	// Access tokens, and refresh tokens each issued with a live access token.
	at := func(id string, expires time.Time) *store.AccessToken {
		a := newAccess(id, "u1", "")
		a.ExpiresAt = expires
		return a
	}
	must(t, s.IssueTokens(ctx, store.Issue{Access: at("at-expired", past)}, t0), "issue")
	must(t, s.IssueTokens(ctx, store.Issue{Access: at("at-live", future)}, t0), "issue")
	rt := func(id string, expires, familyExpires time.Time, used, revoked bool) {
		r := newRefresh(id, "fam-"+id, "", "u1")
		r.ExpiresAt, r.FamilyExpiresAt = expires, familyExpires
		if used {
			r.UsedAt = &t0
		}
		if revoked {
			r.RevokedAt = &t0
		}
		must(t, s.IssueTokens(ctx, store.Issue{Access: at("at-"+id, far), Refresh: r}, t0), "issue "+id)
	}
	rt("rt-expired", past, far, false, false)
	rt("rt-used", past, future, true, false)
	rt("rt-family-over", past, past, true, false)
	rt("rt-live", future, far, false, false)
	rt("rt-revoked", past, far, false, true)
	rt("rt-revoked-live", future, far, false, true)
	rt("rt-used-revoked", past, far, true, true)

	// Sessions.
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	sess := func(id string, idle, abs time.Time) {
		ss := newSession(id, "u1", t0)
		ss.IdleExpiresAt, ss.ExpiresAt = idle, abs
		must(t, s.CreateSession(ctx, ss), "create session "+id)
	}
	sess("s-expired", future, past)
	sess("s-idle", past, far)
	sess("s-live", future, far)

	// Setup tokens.
	must(t, s.CreateSetupToken(ctx, hash("setup-expired"), past), "create setup token")
	must(t, s.CreateSetupToken(ctx, hash("setup-live"), future), "create setup token")

	// Signing keys: k1 retired in the past, k2 retiring later, k3 active.
	must(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0), "", time.Time{}), "k1")
	must(t, s.RotateSigningKey(ctx, newKey("k2", "RS256", t0.Add(time.Second)), "k1", past), "k2")
	must(t, s.RotateSigningKey(ctx, newKey("k3", "RS256", t0.Add(2*time.Second)), "k2", future), "k3")

	st, err := s.GC(ctx, now)
	must(t, err, "gc")
	want := store.GCStats{AuthRequests: 2, AccessTokens: 1, RefreshTokens: 4, Sessions: 2, SetupTokens: 1, SigningKeys: 1}
	if st != want {
		t.Errorf("GC = %+v, want %+v", st, want)
	}

	gone := func(what string, err error) {
		t.Helper()
		wantIs(t, err, store.ErrNotFound, what+" after GC")
	}
	kept := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s after GC: %v, want kept", what, err)
		}
	}
	for id, keep := range map[string]bool{"ar-expired": false, "ar-live": true, "ar-code-live": true, "ar-consumed-old": false, "ar-tombstone": true} {
		_, err := s.AuthRequestByID(ctx, id)
		if keep {
			kept(id, err)
		} else {
			gone(id, err)
		}
	}
	_, err = s.AccessTokenByID(ctx, "at-expired")
	gone("at-expired", err)
	_, err = s.AccessTokenByID(ctx, "at-live")
	kept("at-live", err)
	for id, keep := range map[string]bool{"rt-expired": false, "rt-used": true, "rt-family-over": false, "rt-live": true,
		"rt-revoked": false, "rt-revoked-live": true, "rt-used-revoked": false} {
		_, err := s.RefreshTokenByID(ctx, id)
		if keep {
			kept(id, err)
		} else {
			gone(id, err)
		}
	}
	for id, keep := range map[string]bool{"s-expired": false, "s-idle": false, "s-live": true} {
		_, err := s.SessionByID(ctx, id)
		if keep {
			kept(id, err)
		} else {
			gone(id, err)
		}
	}
	for tok, want := range map[string]bool{"setup-expired": false, "setup-live": true} {
		ok, err := s.SetupTokenValid(ctx, hash(tok), t0)
		must(t, err, "setup token valid")
		if ok != want {
			t.Errorf("setup token %s valid at t0 = %v after GC, want %v", tok, ok, want)
		}
	}
	keys, err := s.SigningKeys(ctx)
	must(t, err, "signing keys")
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if !slices.Equal(ids, []string{"k3", "k2"}) {
		t.Errorf("keys after GC = %v, want [k3 k2]", ids)
	}

	st, err = s.GC(ctx, now)
	must(t, err, "second gc")
	if st.Total() != 0 {
		t.Errorf("second GC at the same time deleted %+v", st)
	}
}

func testGCKeeps(t *testing.T, s store.Store) {
	ctx := t.Context()

	// A redeemed request whose code expired stays until the request itself
	// expires, so a replay can still revoke what it issued.
	redeemable(t, s, "ar1", "code")
	ar, err := s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id")
	at := newAccess("at1", "u1", "fam")
	at.ExpiresAt = ar.ExpiresAt.Add(time.Hour) // outlives the request
	must(t, s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: at,
		Refresh: newRefresh("rt1", "fam", "", "u1")}, t0), "redeem")
	// Redemption extends the tombstone to the access token's expiry.
	ar, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "auth request by id after redemption")
	if !ar.ExpiresAt.Equal(at.ExpiresAt) {
		t.Fatalf("tombstone expires at %v, want the access token's %v", ar.ExpiresAt, at.ExpiresAt)
	}
	if ar.CodeExpiresAt.After(ar.ExpiresAt) {
		t.Fatalf("fixture: code expires after the request")
	}
	_, err = s.GC(ctx, ar.CodeExpiresAt.Add(time.Second))
	must(t, err, "gc")
	_, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "tombstone after its code expired")
	_, err = s.GC(ctx, ar.ExpiresAt)
	must(t, err, "gc")
	_, err = s.AuthRequestByID(ctx, "ar1")
	must(t, err, "tombstone at its expiry")
	st, err := s.GC(ctx, ar.ExpiresAt.Add(time.Second))
	must(t, err, "gc")
	_, err = s.AuthRequestByID(ctx, "ar1")
	wantIs(t, err, store.ErrNotFound, "tombstone after its expiry")
	if st.AuthRequests != 1 {
		t.Errorf("GC deleted %d auth requests, want 1", st.AuthRequests)
	}

	// A used refresh token stays after its own expiry until its family
	// expires, so presenting it again is detected as a replay.
	rt1, err := s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "refresh token")
	child := newRefresh("rt2", "fam", "rt1", "u1")
	child.ExpiresAt = child.FamilyExpiresAt // outlives rt1, so only the family expiry removes it
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at2", "u1", "fam"), Refresh: child}, t0), "rotate")
	afterExpiry := rt1.ExpiresAt.Add(time.Second)
	if !afterExpiry.Before(rt1.FamilyExpiresAt) {
		t.Fatalf("fixture: family expires before the token")
	}
	_, err = s.GC(ctx, afterExpiry)
	must(t, err, "gc")
	got, err := s.RefreshTokenByHash(ctx, rt1.TokenHash)
	must(t, err, "used refresh token after its expiry")
	if got.UsedAt == nil {
		t.Error("kept token lost its UsedAt")
	}
	_, err = s.GC(ctx, rt1.FamilyExpiresAt)
	must(t, err, "gc")
	_, err = s.RefreshTokenByID(ctx, "rt1")
	must(t, err, "used refresh token at its family's expiry")
	st, err = s.GC(ctx, rt1.FamilyExpiresAt.Add(time.Second))
	must(t, err, "gc")
	for _, id := range []string{"rt1", "rt2"} {
		_, err = s.RefreshTokenByID(ctx, id)
		wantIs(t, err, store.ErrNotFound, id+" after its family expired")
	}
	if st.RefreshTokens != 2 {
		t.Errorf("GC deleted %d refresh tokens, want 2", st.RefreshTokens)
	}
}

// --- passkeys ---

func testUserByWebAuthnID(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "Alice", "Alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	noHandle := newUser("u3", "carol", "carol@example.org")
	noHandle.WebAuthnID = nil
	must(t, s.CreateUser(ctx, noHandle), "create carol without a handle")

	for _, want := range []*store.User{newUser("u1", "alice", "alice@example.org"), newUser("u2", "bob", "bob@example.org")} {
		got, err := s.UserByWebAuthnID(ctx, handle(want.ID))
		if err != nil {
			t.Errorf("UserByWebAuthnID(handle of %s): %v", want.ID, err)
			continue
		}
		checkEqual(t, "UserByWebAuthnID(handle of "+want.ID+")", got, want)
	}
	for name, h := range map[string][]byte{
		"unknown handle":     handle("u9"),
		"prefix of a handle": handle("u1")[:32],
		"handle plus a byte": append(handle("u1"), 0),
		"nil handle":         nil,
		"empty handle":       {},
	} {
		got, err := s.UserByWebAuthnID(ctx, h)
		wantIs(t, err, store.ErrNotFound, "UserByWebAuthnID("+name+")")
		if got != nil {
			t.Errorf("UserByWebAuthnID(%s) returned user %q", name, got.ID)
		}
	}
}

func testPasskeyRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")

	// Every field set, flags all true, the largest sign count.
	used := t0.Add(90 * time.Minute)
	full := &store.Passkey{
		ID: "pk-full", UserID: "u1", CredentialID: credentialID("full"), RPID: "idp.example",
		Name: `Alice's "YubiKey" 5C`, PublicKey: append([]byte{0xa5, 0x01, 0x02, 0x00}, hash("pub-full")...),
		AttestationType: "basic_full", AttestationFormat: "packed",
		Transports: []string{"usb", "nfc", "ble", "internal", "hybrid"}, AAGUID: hash("aaguid")[:16],
		SignCount: math.MaxUint32, CloneWarning: true, Attachment: "cross-platform", UserPresent: true,
		UserVerified: true, BackupEligible: true, BackupState: true, AutoCreated: true,
		CreatedAt: t0, CreatedUA: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		LastUsedAt: &used, LastUsedUA: "Mozilla/5.0 (iPhone) Safari/605.1.15",
	}
	// Nothing optional: never used, no transports, no AAGUID, flags false.
	minimal := &store.Passkey{
		ID: "pk-min", UserID: "u1", CredentialID: credentialID("min"), PublicKey: hash("pub-min"),
		Transports: []string{}, CreatedAt: t0.Add(time.Second),
	}
	// An all-zero AAGUID (attestation "none") is a value, not "absent";
	// a sign count above the int32 range must not wrap.
	zeroAAGUID := newPasskey("pk-zero-aaguid", "u1", t0.Add(2*time.Second))
	zeroAAGUID.AAGUID = make([]byte, 16)
	zeroAAGUID.SignCount = 1<<31 + 5
	zeroAAGUID.Transports = []string{"internal"}
	all := []*store.Passkey{full, minimal, zeroAAGUID}
	// One flag set per passkey, so that swapped columns show.
	flags := []func(*store.Passkey) *bool{
		func(p *store.Passkey) *bool { return &p.CloneWarning },
		func(p *store.Passkey) *bool { return &p.UserPresent },
		func(p *store.Passkey) *bool { return &p.UserVerified },
		func(p *store.Passkey) *bool { return &p.BackupEligible },
		func(p *store.Passkey) *bool { return &p.BackupState },
		func(p *store.Passkey) *bool { return &p.AutoCreated },
	}
	for i, flag := range flags {
		p := newPasskey(fmt.Sprintf("pk-flag%d", i), "u1", t0.Add(time.Duration(3+i)*time.Second))
		p.CloneWarning, p.UserPresent, p.UserVerified, p.BackupEligible, p.BackupState, p.AutoCreated =
			false, false, false, false, false, false
		*flag(p) = true
		all = append(all, p)
	}
	for _, p := range all {
		must(t, s.CreatePasskey(ctx, p), "create passkey "+p.ID)
	}

	for _, want := range all {
		got, err := s.PasskeyByCredentialID(ctx, want.CredentialID)
		if err != nil {
			t.Errorf("PasskeyByCredentialID(%s): %v", want.ID, err)
			continue
		}
		checkEqual(t, "PasskeyByCredentialID("+want.ID+")", got, want)
	}
	got, err := s.PasskeyByCredentialID(ctx, minimal.CredentialID)
	must(t, err, "minimal passkey")
	if got.LastUsedAt != nil || len(got.Transports) != 0 || len(got.AAGUID) != 0 {
		t.Errorf("minimal passkey: LastUsedAt=%v Transports=%q AAGUID=%x, want nil, empty, empty",
			got.LastUsedAt, got.Transports, got.AAGUID)
	}
	got, err = s.PasskeyByCredentialID(ctx, zeroAAGUID.CredentialID)
	must(t, err, "zero AAGUID passkey")
	if !bytes.Equal(got.AAGUID, make([]byte, 16)) {
		t.Errorf("AAGUID = %x, want 16 zero bytes", got.AAGUID)
	}

	list, err := s.PasskeysByUser(ctx, "u1")
	must(t, err, "passkeys by user")
	if len(list) != len(all) {
		t.Fatalf("PasskeysByUser = %d passkeys, want %d", len(list), len(all))
	}
	for i, want := range all {
		checkEqual(t, fmt.Sprintf("PasskeysByUser[%d]", i), &list[i], want)
	}

	for name, id := range map[string][]byte{
		"unknown":             credentialID("unknown"),
		"prefix":              full.CredentialID[:16],
		"nil":                 nil,
		"empty":               {},
		"a user's webauthnID": handle("u1"),
	} {
		_, err := s.PasskeyByCredentialID(ctx, id)
		wantIs(t, err, store.ErrNotFound, "PasskeyByCredentialID("+name+")")
	}
}

func testDuplicateCredentialID(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	p1 := newPasskey("pk1", "u1", t0)
	must(t, s.CreatePasskey(ctx, p1), "create passkey")

	same := newPasskey("pk2", "u1", t0.Add(time.Second))
	same.CredentialID = slices.Clone(p1.CredentialID)
	wantConflict(t, s.CreatePasskey(ctx, same), "credential_id", "credential ID registered twice by one member")
	other := newPasskey("pk3", "u2", t0.Add(time.Second))
	other.CredentialID = slices.Clone(p1.CredentialID)
	wantConflict(t, s.CreatePasskey(ctx, other), "credential_id", "credential ID registered by another member")

	list, err := s.PasskeysByUser(ctx, "u1")
	must(t, err, "passkeys of u1")
	if len(list) != 1 {
		t.Fatalf("u1 has %d passkeys after conflicts, want 1", len(list))
	}
	checkEqual(t, "u1's passkey after conflicts", &list[0], p1)
	list, err = s.PasskeysByUser(ctx, "u2")
	must(t, err, "passkeys of u2")
	if len(list) != 0 {
		t.Errorf("u2 has %d passkeys after a conflict, want 0", len(list))
	}
	got, err := s.PasskeyByCredentialID(ctx, p1.CredentialID)
	must(t, err, "passkey by credential id")
	if got.ID != "pk1" || got.UserID != "u1" {
		t.Errorf("credential ID belongs to %s of %s, want pk1 of u1", got.ID, got.UserID)
	}

	// IDs compare as bytes: one more trailing NUL is another credential.
	longer := newPasskey("pk4", "u2", t0)
	longer.CredentialID = append(slices.Clone(p1.CredentialID), 0x00)
	must(t, s.CreatePasskey(ctx, longer), "credential ID with a trailing NUL")
	got, err = s.PasskeyByCredentialID(ctx, longer.CredentialID)
	must(t, err, "passkey by longer credential id")
	if got.ID != "pk4" {
		t.Errorf("longer credential ID finds %s, want pk4", got.ID)
	}

	// A taken passkey ID is a conflict too.
	wantIs(t, s.CreatePasskey(ctx, newPasskey("pk1", "u2", t0)), store.ErrConflict, "duplicate passkey id")
	_, err = s.PasskeyByCredentialID(ctx, credentialID("pk1-dup"))
	wantIs(t, err, store.ErrNotFound, "passkey of the duplicate id")

	// A passkey of an unknown member is refused.
	ghost := newPasskey("pk5", "ghost", t0)
	if err := s.CreatePasskey(ctx, ghost); err == nil {
		t.Error("CreatePasskey for an unknown member succeeded")
	}
	_, err = s.PasskeyByCredentialID(ctx, ghost.CredentialID)
	wantIs(t, err, store.ErrNotFound, "passkey of an unknown member")
}

func testPasskeysByUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	// Inserted out of order; pk-b and pk-z were created in the same second.
	for _, p := range []*store.Passkey{
		newPasskey("pk-c", "u1", t0.Add(2*time.Minute)),
		newPasskey("pk-z", "u1", t0),
		newPasskey("pk-0", "u2", t0),
		newPasskey("pk-a", "u1", t0.Add(time.Minute)),
		newPasskey("pk-b", "u1", t0),
	} {
		must(t, s.CreatePasskey(ctx, p), "create passkey "+p.ID)
	}
	ids := func(userID string) []string {
		t.Helper()
		l, err := s.PasskeysByUser(ctx, userID)
		must(t, err, "passkeys of "+userID)
		var out []string
		for _, p := range l {
			if p.UserID != userID {
				t.Errorf("PasskeysByUser(%q) returned %s of %q", userID, p.ID, p.UserID)
			}
			out = append(out, p.ID)
		}
		return out
	}
	// Oldest first; passkeys created in the same second by ID.
	if got, want := ids("u1"), []string{"pk-b", "pk-z", "pk-a", "pk-c"}; !slices.Equal(got, want) {
		t.Errorf("passkeys of u1 = %v, want %v", got, want)
	}
	if got, want := ids("u2"), []string{"pk-0"}; !slices.Equal(got, want) {
		t.Errorf("passkeys of u2 = %v, want %v", got, want)
	}
	if got := ids("nobody"); len(got) != 0 {
		t.Errorf("passkeys of an unknown member = %v", got)
	}
}

func testRecordPasskeyUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create user")
	p := newPasskey("pk1", "u1", t0)
	p.SignCount, p.CloneWarning, p.UserVerified, p.BackupState = 5, false, false, false
	must(t, s.CreatePasskey(ctx, p), "create passkey")
	other := newPasskey("pk2", "u1", t0)
	must(t, s.CreatePasskey(ctx, other), "create other passkey")

	check := func(what string, want *store.Passkey) {
		t.Helper()
		got, err := s.PasskeyByCredentialID(ctx, want.CredentialID)
		must(t, err, what)
		checkEqual(t, what, got, want)
	}

	at1 := t0.Add(time.Hour)
	must(t, s.RecordPasskeyUse(ctx, "pk1", store.PasskeyUse{SignCount: 6, CloneWarning: true, UserVerified: true,
		BackupEligible: true, BackupState: true, At: at1, UserAgent: "Mozilla/5.0 (Use 1)"}), "first use")
	want := *p
	want.SignCount, want.CloneWarning, want.UserVerified, want.BackupEligible, want.BackupState = 6, true, true, true, true
	want.LastUsedAt, want.LastUsedUA = &at1, "Mozilla/5.0 (Use 1)"
	check("after the first use", &want)

	// UserVerified and CloneWarning stay set once set; the other values are
	// written as given, a lower sign count too.
	at2 := t0.Add(2 * time.Hour)
	must(t, s.RecordPasskeyUse(ctx, "pk1", store.PasskeyUse{SignCount: math.MaxUint32, At: at2,
		UserAgent: "Mozilla/5.0 (Use 2)"}), "second use")
	want.SignCount, want.CloneWarning, want.UserVerified, want.BackupEligible, want.BackupState = math.MaxUint32, true, true, false, false
	want.LastUsedAt, want.LastUsedUA = &at2, "Mozilla/5.0 (Use 2)"
	check("after the second use", &want)

	at3 := t0.Add(3 * time.Hour)
	must(t, s.RecordPasskeyUse(ctx, "pk1", store.PasskeyUse{SignCount: 1, CloneWarning: true, At: at3}), "third use")
	want.SignCount, want.CloneWarning, want.LastUsedAt, want.LastUsedUA = 1, true, &at3, ""
	check("after the third use", &want)

	check("the other passkey", other)
	wantIs(t, s.RecordPasskeyUse(ctx, "nope", store.PasskeyUse{SignCount: 1, At: at3}), store.ErrNotFound,
		"RecordPasskeyUse(unknown)")
}

func testPasskeyOwnership(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	mine, theirs := newPasskey("pk1", "u1", t0), newPasskey("pk2", "u2", t0)
	must(t, s.CreatePasskey(ctx, mine), "create alice's passkey")
	must(t, s.CreatePasskey(ctx, theirs), "create bob's passkey")
	check := func(what string, want *store.Passkey) {
		t.Helper()
		got, err := s.PasskeyByCredentialID(ctx, want.CredentialID)
		must(t, err, what)
		checkEqual(t, what, got, want)
	}

	wantIs(t, s.RenamePasskey(ctx, "u1", "pk2", "Stolen"), store.ErrNotFound, "renaming another member's passkey")
	wantIs(t, s.DeletePasskey(ctx, "u1", "pk2"), store.ErrNotFound, "deleting another member's passkey")
	wantIs(t, s.RenamePasskey(ctx, "u1", "nope", "X"), store.ErrNotFound, "renaming an unknown passkey")
	wantIs(t, s.DeletePasskey(ctx, "u1", "nope"), store.ErrNotFound, "deleting an unknown passkey")
	wantIs(t, s.RenamePasskey(ctx, "", "pk2", "X"), store.ErrNotFound, "renaming without a member")
	check("bob's passkey after alice's attempts", theirs)
	check("alice's passkey after her attempts", mine)

	must(t, s.RenamePasskey(ctx, "u1", "pk1", "Laptop – Touch ID"), "rename own passkey")
	renamed := *mine
	renamed.Name = "Laptop – Touch ID"
	check("renamed passkey", &renamed)
	// Renaming to the current name changes nothing and is no error.
	must(t, s.RenamePasskey(ctx, "u1", "pk1", "Laptop – Touch ID"), "rename to the same name")
	check("passkey renamed to its own name", &renamed)
	check("bob's passkey after alice's rename", theirs)

	must(t, s.DeletePasskey(ctx, "u2", "pk2"), "delete own passkey")
	_, err := s.PasskeyByCredentialID(ctx, theirs.CredentialID)
	wantIs(t, err, store.ErrNotFound, "deleted passkey")
	wantIs(t, s.DeletePasskey(ctx, "u2", "pk2"), store.ErrNotFound, "deleting it again")
	list, err := s.PasskeysByUser(ctx, "u2")
	must(t, err, "passkeys of bob")
	if len(list) != 0 {
		t.Errorf("bob has %d passkeys after deleting his only one", len(list))
	}
	check("alice's passkey after bob's delete", &renamed)
}

func testDeleteUserCascades(t *testing.T, s store.Store) {
	d := s
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	pk1, pk2, pk3 := newPasskey("pk1", "u1", t0), newPasskey("pk2", "u1", t0), newPasskey("pk3", "u2", t0)
	for _, p := range []*store.Passkey{pk1, pk2, pk3} {
		must(t, s.CreatePasskey(ctx, p), "create passkey "+p.ID)
	}
	must(t, s.SnoozeSuggestion(ctx, "u1", t0.Add(time.Hour)), "snooze alice")
	must(t, s.SnoozeSuggestion(ctx, "u2", t0.Add(2*time.Hour)), "snooze bob")
	must(t, s.CreateSession(ctx, newSession("s1", "u1", t0)), "create alice's session")

	must(t, d.DeleteUser(ctx, "u1"), "delete alice")
	_, err := s.UserByID(ctx, "u1")
	wantIs(t, err, store.ErrNotFound, "deleted user")
	_, err = s.UserByWebAuthnID(ctx, handle("u1"))
	wantIs(t, err, store.ErrNotFound, "deleted user by WebAuthn ID")
	for _, p := range []*store.Passkey{pk1, pk2} {
		_, err := s.PasskeyByCredentialID(ctx, p.CredentialID)
		wantIs(t, err, store.ErrNotFound, "passkey "+p.ID+" of the deleted user")
	}
	list, err := s.PasskeysByUser(ctx, "u1")
	must(t, err, "passkeys of the deleted user")
	if len(list) != 0 {
		t.Errorf("the deleted user still has %d passkeys", len(list))
	}
	until, err := s.SuggestionSnoozedUntil(ctx, "u1")
	must(t, err, "snooze of the deleted user")
	if !until.IsZero() {
		t.Errorf("the deleted user's snooze survived: %v", until)
	}
	_, err = s.SessionByID(ctx, "s1")
	wantIs(t, err, store.ErrNotFound, "session of the deleted user")

	got, err := s.PasskeyByCredentialID(ctx, pk3.CredentialID)
	must(t, err, "bob's passkey")
	checkEqual(t, "bob's passkey", got, pk3)
	until, err = s.SuggestionSnoozedUntil(ctx, "u2")
	must(t, err, "bob's snooze")
	if !until.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("bob's snooze = %v, want %v", until, t0.Add(2*time.Hour))
	}

	// The deleted member's credential ID can be registered again.
	again := newPasskey("pk1-again", "u2", t0)
	again.CredentialID = slices.Clone(pk1.CredentialID)
	must(t, s.CreatePasskey(ctx, again), "register the deleted member's credential ID again")
	wantIs(t, d.DeleteUser(ctx, "u1"), store.ErrNotFound, "deleting the user again")
}

// --- ceremonies ---

func testCeremonies(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := t0.Add(5 * time.Minute)
	reg := newCeremony("c-reg", "register", "u1", exp)
	login := newCeremony("c-login", "login", "", exp)
	must(t, s.CreateCeremony(ctx, reg), "create registration")
	must(t, s.CreateCeremony(ctx, login), "create sign-in")
	wantIs(t, s.CreateCeremony(ctx, newCeremony("c-reg", "login", "", exp)), store.ErrConflict, "duplicate ceremony id")

	got, err := s.ConsumeCeremony(ctx, "c-reg", exp.Add(-time.Second))
	must(t, err, "consume registration a second before expiry")
	checkEqual(t, "consumed registration", got, reg)
	got, err = s.ConsumeCeremony(ctx, "c-reg", t0)
	wantIs(t, err, store.ErrNotFound, "second consume")
	if got != nil {
		t.Errorf("second consume returned %+v", got)
	}

	got, err = s.ConsumeCeremony(ctx, "c-login", t0)
	must(t, err, "consume sign-in")
	checkEqual(t, "consumed sign-in", got, login)
	if got.UserID != "" {
		t.Errorf("discoverable sign-in has UserID %q, want empty", got.UserID)
	}

	// Expired at ExpiresAt, and gone after an expired attempt.
	must(t, s.CreateCeremony(ctx, newCeremony("c-old", "login", "", exp)), "create ceremony")
	got, err = s.ConsumeCeremony(ctx, "c-old", exp)
	wantIs(t, err, store.ErrNotFound, "consume at expiry")
	if got != nil {
		t.Errorf("consume at expiry returned %+v", got)
	}
	_, err = s.ConsumeCeremony(ctx, "c-old", t0)
	wantIs(t, err, store.ErrNotFound, "consume after an expired attempt")
	must(t, s.CreateCeremony(ctx, newCeremony("c-older", "register", "u1", exp)), "create ceremony")
	_, err = s.ConsumeCeremony(ctx, "c-older", exp.Add(time.Hour))
	wantIs(t, err, store.ErrNotFound, "consume after expiry")

	_, err = s.ConsumeCeremony(ctx, "nope", t0)
	wantIs(t, err, store.ErrNotFound, "consume unknown ceremony")
}

func testConcurrentCeremonyConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 4 {
		id := fmt.Sprintf("c%d", round)
		c := newCeremony(id, "login", "", t0.Add(5*time.Minute))
		must(t, s.CreateCeremony(ctx, c), "create ceremony")
		got := make([]*store.Ceremony, concurrency)
		errs := race(func(i int) error {
			var err error
			got[i], err = s.ConsumeCeremony(ctx, id, t0)
			return err
		})
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				checkEqual(t, fmt.Sprintf("round %d: ceremony of winner %d", round, i), got[i], c)
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("round %d: loser %d got %v, want ErrNotFound", round, i, err)
			case got[i] != nil:
				t.Errorf("round %d: loser %d got a ceremony", round, i)
			}
		}
		if winners != 1 {
			t.Errorf("round %d: %d callers consumed the ceremony, want exactly 1", round, winners)
		}
	}
}

// --- suggestion snoozes ---

func testSuggestionSnooze(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org")), "create alice")
	must(t, s.CreateUser(ctx, newUser("u2", "bob", "bob@example.org")), "create bob")
	snoozed := func(userID string) time.Time {
		t.Helper()
		until, err := s.SuggestionSnoozedUntil(ctx, userID)
		must(t, err, "snoozed until")
		return until
	}
	if got := snoozed("u1"); !got.IsZero() {
		t.Errorf("never snoozed: %v, want the zero time", got)
	}
	if got := snoozed("nobody"); !got.IsZero() {
		t.Errorf("unknown member: %v, want the zero time", got)
	}

	month := t0.Add(30 * 24 * time.Hour)
	must(t, s.SnoozeSuggestion(ctx, "u1", month), "snooze")
	if got := snoozed("u1"); !got.Equal(month) {
		t.Errorf("snoozed until %v, want %v", got, month)
	}
	// A later answer replaces the earlier one, also with an earlier time.
	hour := t0.Add(time.Hour)
	must(t, s.SnoozeSuggestion(ctx, "u1", hour), "snooze again")
	if got := snoozed("u1"); !got.Equal(hour) {
		t.Errorf("snoozed again until %v, want %v", got, hour)
	}
	if got := snoozed("u2"); !got.IsZero() {
		t.Errorf("another member snoozed until %v, want the zero time", got)
	}
}

// --- GC of ceremonies and snoozes ---

func testGCCeremoniesAndSnoozes(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	past, future := now.Add(-time.Second), now.Add(time.Second)

	must(t, s.CreateCeremony(ctx, newCeremony("c-expired", "login", "", past)), "create ceremony")
	must(t, s.CreateCeremony(ctx, newCeremony("c-at-now", "login", "", now)), "create ceremony")
	must(t, s.CreateCeremony(ctx, newCeremony("c-live", "register", "u3", future)), "create ceremony")
	for _, u := range []struct {
		id    string
		until time.Time
	}{{"u1", past}, {"u2", now}, {"u3", future}} {
		must(t, s.CreateUser(ctx, newUser(u.id, "user-"+u.id, "")), "create user "+u.id)
		must(t, s.SnoozeSuggestion(ctx, u.id, u.until), "snooze "+u.id)
	}
	// A snooze in the past is still reported until GC removes it; callers
	// compare it with their clock.
	until, err := s.SuggestionSnoozedUntil(ctx, "u1")
	must(t, err, "snoozed until")
	if !until.Equal(past) {
		t.Errorf("past snooze before GC = %v, want %v", until, past)
	}

	st, err := s.GC(ctx, now)
	must(t, err, "gc")
	if want := (store.GCStats{Ceremonies: 1, Snoozes: 1}); st != want {
		t.Errorf("GC = %+v, want %+v", st, want)
	}

	// Consumed at t0, when each would still be valid: only GC removes one.
	_, err = s.ConsumeCeremony(ctx, "c-expired", t0)
	wantIs(t, err, store.ErrNotFound, "expired ceremony after GC")
	for _, id := range []string{"c-at-now", "c-live"} {
		if _, err := s.ConsumeCeremony(ctx, id, t0); err != nil {
			t.Errorf("ceremony %s after GC: %v, want kept", id, err)
		}
	}
	for id, want := range map[string]time.Time{"u1": {}, "u2": now, "u3": future} {
		until, err := s.SuggestionSnoozedUntil(ctx, id)
		must(t, err, "snoozed until")
		if !until.Equal(want) {
			t.Errorf("snooze of %s after GC = %v, want %v", id, until, want)
		}
	}

	st, err = s.GC(ctx, now)
	must(t, err, "second gc")
	if st.Total() != 0 {
		t.Errorf("second GC at the same time deleted %+v", st)
	}
}

// --- export and import ---

// Fill gives s rows of every kind a dump carries, with optional fields
// both set and unset: two users, their passkeys, a retiring and an active
// RS256 key and an ES256 key, two secrets, a session, a refresh family with
// a used parent and a live child, access tokens and a snooze. It also adds
// what a dump leaves out (an auth request, a ceremony, a setup token).
func Fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()

	alice := newUser("u1", "alice", "alice@example.org")
	alice.Role, alice.EmailVerified, alice.PasswordChangedAt = store.RoleAdmin, true, t0.Add(time.Minute)
	bob := newUser("u2", "bob", "")
	bob.WebAuthnID, bob.PasswordHash, bob.Disabled, bob.UpdatedAt = nil, "", true, t0.Add(time.Hour)
	must(t, s.CreateUser(ctx, alice), "fill: create alice")
	must(t, s.CreateUser(ctx, bob), "fill: create bob")

	full := newPasskey("pk1", "u1", t0)
	full.SignCount, full.CloneWarning, full.AutoCreated = math.MaxUint32, true, true
	minimal := &store.Passkey{ID: "pk2", UserID: "u1", CredentialID: credentialID("pk2"), PublicKey: hash("pub-pk2"),
		SignCount: 1<<31 + 5, CreatedAt: t0.Add(time.Second)}
	for _, p := range []*store.Passkey{full, minimal, newPasskey("pk3", "u2", t0)} {
		must(t, s.CreatePasskey(ctx, p), "fill: create passkey "+p.ID)
	}
	must(t, s.RecordPasskeyUse(ctx, "pk1", store.PasskeyUse{SignCount: 7, UserVerified: true, BackupState: true,
		At: t0.Add(2 * time.Hour), UserAgent: "Mozilla/5.0 (Fill)"}), "fill: use passkey")
	must(t, s.SnoozeSuggestion(ctx, "u2", t0.Add(30*24*time.Hour)), "fill: snooze")
	_, _, err := s.ImportMember(ctx, store.ImportedMember{User: newUser("u3", "carol", "carol@example.org"),
		RowDigest: hash("row"), PasswordDigest: hash("pw")}, t0)
	must(t, err, "fill: import carol")
	must(t, s.PutSetting(ctx, &store.Setting{Name: "passkeys.rollout", Value: []byte(`{"stage":"group"}`), UpdatedAt: t0,
		UpdatedBy: "u1"}), "fill: setting")

	must(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0), "", time.Time{}), "fill: first key")
	must(t, s.RotateSigningKey(ctx, newKey("k2", "RS256", t0.Add(time.Hour)), "k1", t0.Add(25*time.Hour)), "fill: rotate key")
	must(t, s.RotateSigningKey(ctx, newKey("k3", "ES256", t0), "", time.Time{}), "fill: ES256 key")
	for name, v := range map[string]string{"crypto": "\x00crypto\xff", "csrf": "csrf-key"} {
		_, err := s.Secret(ctx, name, func() ([]byte, error) { return []byte(v), nil })
		must(t, err, "fill: secret "+name)
	}

	must(t, s.CreateSession(ctx, newSession("s1", "u1", t0)), "fill: session")
	redeemable(t, s, "ar1", "code")
	must(t, s.IssueTokens(ctx, store.Issue{ConsumeCode: "ar1", Access: newAccess("at1", "u1", "fam"),
		Refresh: newRefresh("rt1", "fam", "", "u1")}, t0), "fill: redeem code")
	child := newRefresh("rt2", "fam", "rt1", "u1")
	child.CreatedAt = t0.Add(time.Hour)
	must(t, s.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at2", "u1", "fam"), Refresh: child},
		t0.Add(time.Hour)), "fill: rotate refresh token")
	machine := newAccess("at3", "app", "")
	machine.AuthTime, machine.AMR, machine.Audience = time.Time{}, nil, nil
	must(t, s.IssueTokens(ctx, store.Issue{Access: machine}, t0), "fill: client credentials token")

	must(t, s.CreateSetupToken(ctx, hash("setup"), t0.Add(time.Hour)), "fill: setup token")
	must(t, s.CreateCeremony(ctx, newCeremony("c1", "login", "", t0.Add(5*time.Minute))), "fill: ceremony")
}

// Dump exports s into a slice.
func Dump(t *testing.T, s store.Store) []store.Record {
	t.Helper()
	var out []store.Record
	must(t, s.Export(t.Context(), func(r store.Record) error {
		out = append(out, r)
		return nil
	}), "export")
	return out
}

// Feed returns the records one by one, then io.EOF: Import's next.
func Feed(recs []store.Record) func() (store.Record, error) {
	i := 0
	return func() (store.Record, error) {
		if i == len(recs) {
			return store.Record{}, io.EOF
		}
		i++
		return recs[i-1], nil
	}
}

// CheckSameDump reports every record where got and want are not exactly
// equal (reflect.DeepEqual: same order, same fields, same nil-ness).
func CheckSameDump(t *testing.T, what string, got, want []store.Record) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: record %d missing, want %s", what, i, showRecord(want[i]))
		case i >= len(want):
			t.Errorf("%s: extra record %d: %s", what, i, showRecord(got[i]))
		case !reflect.DeepEqual(got[i], want[i]):
			t.Errorf("%s: record %d\n got %s\nwant %s", what, i, showRecord(got[i]), showRecord(want[i]))
		}
	}
}

func showRecord(r store.Record) string {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf("%+v", r)
	}
	return string(b)
}

// checkDumpOfStore checks that dump holds every row Fill wrote, in kind
// order, each equal to what the store's getters return: a field Export
// left out would survive a round trip unnoticed otherwise.
func checkDumpOfStore(t *testing.T, s store.Store, dump []store.Record) {
	t.Helper()
	ctx := t.Context()
	counts := map[string]int{}
	last := -1
	for i, r := range dump {
		k := slices.Index(store.Kinds, r.Kind)
		if k < last {
			t.Errorf("record %d is a %s after a %s: kinds out of order", i, r.Kind, store.Kinds[last])
		}
		last = max(last, k)
		counts[r.Kind]++
		switch r.Kind {
		case store.KindSecret:
			v, err := s.Secret(ctx, r.Secret.Name, func() ([]byte, error) { return nil, errors.New("secret missing") })
			must(t, err, "secret "+r.Secret.Name)
			checkEqual(t, "exported secret "+r.Secret.Name, r.Secret, &store.Secret{Name: r.Secret.Name, Value: v})
		case store.KindSigningKey:
			keys, err := s.SigningKeys(ctx)
			must(t, err, "signing keys")
			j := slices.IndexFunc(keys, func(k store.SigningKey) bool { return k.ID == r.SigningKey.ID })
			if j < 0 {
				t.Errorf("exported key %s is not in SigningKeys", r.SigningKey.ID)
				continue
			}
			checkEqual(t, "exported key "+r.SigningKey.ID, r.SigningKey, &keys[j])
		case store.KindUser:
			u, err := s.UserByID(ctx, r.User.ID)
			must(t, err, "user "+r.User.ID)
			checkEqual(t, "exported user "+r.User.ID, r.User, u)
		case store.KindSetting:
			v, err := s.Setting(ctx, r.Setting.Name)
			must(t, err, "setting "+r.Setting.Name)
			checkEqual(t, "exported setting "+r.Setting.Name, r.Setting, v)
		case store.KindUserImport:
			v, err := s.UserImportOf(ctx, r.UserImport.UserID)
			must(t, err, "import record of "+r.UserImport.UserID)
			checkEqual(t, "exported import record of "+r.UserImport.UserID, r.UserImport, v)
		case store.KindPasskey:
			p, err := s.PasskeyByCredentialID(ctx, r.Passkey.CredentialID)
			must(t, err, "passkey "+r.Passkey.ID)
			checkEqual(t, "exported passkey "+r.Passkey.ID, r.Passkey, p)
		case store.KindSnooze:
			until, err := s.SuggestionSnoozedUntil(ctx, r.Snooze.UserID)
			must(t, err, "snooze of "+r.Snooze.UserID)
			checkEqual(t, "exported snooze of "+r.Snooze.UserID, r.Snooze, &store.Snooze{UserID: r.Snooze.UserID, Until: until})
		case store.KindSession:
			v, err := s.SessionByID(ctx, r.Session.ID)
			must(t, err, "session "+r.Session.ID)
			checkEqual(t, "exported session "+r.Session.ID, r.Session, v)
		case store.KindRefreshToken:
			v, err := s.RefreshTokenByID(ctx, r.RefreshToken.ID)
			must(t, err, "refresh token "+r.RefreshToken.ID)
			checkEqual(t, "exported refresh token "+r.RefreshToken.ID, r.RefreshToken, v)
		case store.KindAccessToken:
			v, err := s.AccessTokenByID(ctx, r.AccessToken.ID)
			must(t, err, "access token "+r.AccessToken.ID)
			checkEqual(t, "exported access token "+r.AccessToken.ID, r.AccessToken, v)
		default:
			t.Errorf("record %d has unknown kind %q", i, r.Kind)
		}
	}
	want := map[string]int{store.KindSecret: 2, store.KindSigningKey: 3, store.KindUser: 3, store.KindUserImport: 1, store.KindSetting: 1, store.KindPasskey: 3,
		store.KindSnooze: 1, store.KindSession: 1, store.KindRefreshToken: 2, store.KindAccessToken: 3}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("dump has %v, want %v", counts, want)
	}
}

// checkNotMoved checks that what Fill adds outside a dump is not in s.
func checkNotMoved(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	_, err := s.AuthRequestByID(ctx, "ar1")
	wantIs(t, err, store.ErrNotFound, "auth request after import")
	_, err = s.ConsumeCeremony(ctx, "c1", t0)
	wantIs(t, err, store.ErrNotFound, "ceremony after import")
	ok, err := s.SetupTokenValid(ctx, hash("setup"), t0)
	must(t, err, "setup token valid")
	if ok {
		t.Error("setup token valid after import")
	}
}

func testExportImportRoundTrip(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := t.Context()
	src := newStore(t)
	Fill(t, src)
	dump := Dump(t, src)
	checkDumpOfStore(t, src, dump)

	dst := newStore(t)
	stats, err := dst.Import(ctx, Feed(dump), false)
	must(t, err, "import into an empty store")
	want := store.ImportStats{}
	for _, r := range dump {
		want[r.Kind]++
	}
	if !reflect.DeepEqual(stats, want) {
		t.Errorf("ImportStats = %v, want %v", stats, want)
	}
	CheckSameDump(t, "dump of the imported store", Dump(t, dst), dump)
	checkNotMoved(t, dst)

	// The imported store works like the original.
	u, err := dst.UserByLogin(ctx, "ALICE@example.org")
	must(t, err, "imported user by login")
	if u.ID != "u1" || u.Role != store.RoleAdmin {
		t.Errorf("imported alice = %s, %s; want u1, admin", u.ID, u.Role)
	}
	rt, err := dst.RefreshTokenByHash(ctx, hash("refresh-rt2"))
	must(t, err, "imported refresh token by hash")
	if rt.ParentID != "rt1" || rt.UsedAt != nil {
		t.Errorf("imported child: ParentID %q, UsedAt %v; want rt1, nil", rt.ParentID, rt.UsedAt)
	}
	err = dst.IssueTokens(ctx, store.Issue{RotateFrom: "rt1", Access: newAccess("at9", "u1", "fam"),
		Refresh: newRefresh("rt9", "fam", "rt1", "u1")}, t0.Add(2*time.Hour))
	wantIs(t, err, store.ErrConflict, "rotating the imported used parent")
	must(t, dst.RotateSigningKey(ctx, newKey("k4", "RS256", t0.Add(2*time.Hour)), "k2", t0.Add(26*time.Hour)),
		"rotating from the imported active key")

	// emit's error stops Export and comes back.
	stop := errors.New("disk full")
	n := 0
	err = src.Export(ctx, func(store.Record) error { n++; return stop })
	wantIs(t, err, stop, "Export with a failing emit")
	if n != 1 {
		t.Errorf("Export called emit %d times after it failed, want 1", n)
	}
}

func testImportNotEmpty(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := t.Context()
	src := newStore(t)
	Fill(t, src)
	dump := Dump(t, src)

	for _, tc := range []struct {
		name string
		fill func(s store.Store) error
	}{
		{"a user", func(s store.Store) error { return s.CreateUser(ctx, newUser("u9", "zed", "")) }},
		{"a secret", func(s store.Store) error {
			_, err := s.Secret(ctx, "other", func() ([]byte, error) { return []byte("x"), nil })
			return err
		}},
		{"a signing key", func(s store.Store) error {
			return s.RotateSigningKey(ctx, newKey("k9", "EdDSA", t0), "", time.Time{})
		}},
		{"a token", func(s store.Store) error {
			return s.IssueTokens(ctx, store.Issue{Access: newAccess("at9", "app", "")}, t0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := newStore(t)
			must(t, tc.fill(dst), "fill")
			before := Dump(t, dst)
			_, err := dst.Import(ctx, Feed(dump), false)
			wantIs(t, err, store.ErrNotEmpty, "import into a store with "+tc.name)
			CheckSameDump(t, "store after a refused import", Dump(t, dst), before)
		})
	}
}

func testImportWipe(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := t.Context()
	src := newStore(t)
	Fill(t, src)
	dump := Dump(t, src)

	// dst holds other rows of every table, some with the dump's keys.
	dst := newStore(t)
	Fill(t, dst)
	must(t, dst.CreateUser(ctx, newUser("u9", "zed", "zed@example.org")), "create zed")
	_, err := dst.UpdateUser(ctx, "u1", func(u *store.User) error { u.Name = "Changed"; return nil })
	must(t, err, "update alice")
	must(t, dst.CreateAuthRequest(ctx, newAuthRequest("ar9")), "create auth request")

	stats, err := dst.Import(ctx, Feed(dump), true)
	must(t, err, "import with wipe")
	if stats[store.KindUser] != 3 || stats[store.KindUserImport] != 1 {
		t.Errorf("ImportStats = %v, want 3 users, 1 import record", stats)
	}
	CheckSameDump(t, "dump of the wiped and imported store", Dump(t, dst), dump)
	checkNotMoved(t, dst)
	_, err = dst.AuthRequestByID(ctx, "ar9")
	wantIs(t, err, store.ErrNotFound, "auth request after a wipe")
	_, err = dst.UserByLogin(ctx, "zed")
	wantIs(t, err, store.ErrNotFound, "user zed after a wipe")
}

func testImportAllOrNothing(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := t.Context()
	src := newStore(t)
	Fill(t, src)
	dump := Dump(t, src)
	if len(dump) < 4 {
		t.Fatalf("dump has %d records", len(dump))
	}
	readErr := errors.New("truncated dump")
	failing := func(recs []store.Record) func() (store.Record, error) {
		next := Feed(recs)
		return func() (store.Record, error) {
			r, err := next()
			if errors.Is(err, io.EOF) {
				return r, readErr
			}
			return r, err
		}
	}

	dst := newStore(t)
	for _, tc := range []struct {
		name string
		next func() func() (store.Record, error)
		want string
	}{
		{"unknown kind", func() func() (store.Record, error) {
			return Feed(append(slices.Clone(dump), store.Record{Kind: "client"}))
		}, `"client"`},
		{"kind without its row", func() func() (store.Record, error) {
			return Feed(append(slices.Clone(dump[:3]), store.Record{Kind: store.KindUser}))
		}, store.KindUser},
		{"duplicate row", func() func() (store.Record, error) {
			return Feed(append(slices.Clone(dump), dump[len(dump)-1]))
		}, "already exists"},
		{"failing reader", func() func() (store.Record, error) { return failing(dump) }, readErr.Error()},
	} {
		for _, wipe := range []bool{false, true} {
			_, err := dst.Import(ctx, tc.next(), wipe)
			if err == nil {
				t.Errorf("import with %s (wipe %v) succeeded", tc.name, wipe)
			} else if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("import with %s: error %q does not mention %s", tc.name, err, tc.want)
			}
			if got := Dump(t, dst); len(got) != 0 {
				t.Errorf("failed import with %s (wipe %v) left %d records", tc.name, wipe, len(got))
			}
		}
	}

	// A failed import with wipe keeps what was there.
	must(t, dst.CreateUser(ctx, newUser("u9", "zed", "")), "create zed")
	before := Dump(t, dst)
	_, err := dst.Import(ctx, Feed(append(slices.Clone(dump), store.Record{Kind: "client"})), true)
	if err == nil {
		t.Fatal("import with an unknown kind and wipe succeeded")
	}
	CheckSameDump(t, "store after a failed wipe", Dump(t, dst), before)
}

// --- fixtures ---

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// handle is a 64 byte WebAuthn user handle derived from seed.
func handle(seed string) []byte {
	h := sha512.Sum512([]byte(seed))
	return h[:]
}

func newUser(id, username, email string) *store.User {
	return &store.User{
		ID: id, Username: username, Email: email, Name: "Name " + id, Role: store.RoleMember,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", WebAuthnID: handle(id),
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func newAuthRequest(id string) *store.AuthRequest {
	return &store.AuthRequest{
		ID: id, ClientID: "app", RedirectURI: "https://app.example/cb", Scopes: []string{"openid", "profile"},
		ResponseType: "code", State: "state-" + id, Nonce: "nonce-" + id,
		CodeChallenge: "challenge", CodeChallengeMethod: "S256",
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
	}
}

// redeemable creates a done auth request with a code whose hash is
// hash(code); the code expires after a minute, the request after ten.
func redeemable(t *testing.T, s store.Store, id, code string) {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateAuthRequest(ctx, newAuthRequest(id)), "create auth request")
	must(t, s.CompleteAuthRequest(ctx, id, "u1", t0, []string{"pwd"}, "sess", t0), "complete auth request")
	must(t, s.SaveAuthCode(ctx, id, hash(code), t0.Add(time.Minute)), "save auth code")
}

func newAccess(id, subject, family string) *store.AccessToken {
	return &store.AccessToken{
		ID: id, ClientID: "app", Subject: subject, Scopes: []string{"openid", "email"},
		Audience: []string{"app", "api"}, AuthTime: t0, AMR: []string{"pwd"},
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), RefreshFamily: family,
	}
}

func newRefresh(id, family, parent, subject string) *store.RefreshToken {
	return &store.RefreshToken{
		ID: id, TokenHash: hash("refresh-" + id), FamilyID: family, ParentID: parent, ClientID: "app",
		Subject: subject, Scopes: []string{"openid", "offline_access"}, Audience: []string{"app"},
		AuthTime: t0, AMR: []string{"pwd", "otp"}, CreatedAt: t0,
		ExpiresAt: t0.Add(24 * time.Hour), FamilyExpiresAt: t0.Add(30 * 24 * time.Hour),
	}
}

func newSession(id, userID string, created time.Time) *store.Session {
	return &store.Session{
		ID: id, UserID: userID, AuthTime: created, AMR: []string{"hwk"}, CreatedAt: created,
		LastSeenAt: created, IdleExpiresAt: created.Add(2 * time.Hour), ExpiresAt: created.Add(30 * 24 * time.Hour),
		UserAgent: "Mozilla/5.0 (Test)", IP: "2001:db8::1",
	}
}

func newKey(id, alg string, created time.Time) *store.SigningKey {
	return &store.SigningKey{ID: id, Algorithm: alg, PrivateKey: append([]byte{0x30, 0x00}, hash("key-"+id)...), CreatedAt: created,
		ActiveFrom: created.Add(2 * time.Minute)}
}

// newPasskey is a typical passkey of userID: every field set, user not
// verified, never used.
func newPasskey(id, userID string, created time.Time) *store.Passkey {
	return &store.Passkey{
		ID: id, UserID: userID, CredentialID: credentialID(id), RPID: "idp.example", Name: "Key " + id,
		PublicKey:       append([]byte{0xa5, 0x01, 0x02, 0x03, 0x26}, hash("public-key-"+id)...),
		AttestationType: "none", AttestationFormat: "none", Transports: []string{"internal", "hybrid"},
		AAGUID: hash("aaguid-" + id)[:16], SignCount: 3, Attachment: "platform", UserPresent: true,
		BackupEligible: true, BackupState: true, CreatedAt: created, CreatedUA: "Mozilla/5.0 (Created " + id + ")",
	}
}

// credentialID is a 32 byte credential ID derived from seed, starting with
// a NUL and a high byte.
func credentialID(seed string) []byte {
	return append([]byte{0x00, 0xff}, hash("credential-" + seed)[:30]...)
}

func newCeremony(id, kind, userID string, expires time.Time) *store.Ceremony {
	return &store.Ceremony{
		ID: id, Kind: kind, UserID: userID, Binding: hash("binding-" + id),
		Data:      []byte(`{"challenge":"` + id + `","user_id":"AAE="}` + "\x00\xff"),
		ExpiresAt: expires,
	}
}

// --- assertions ---

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func wantConflict(t *testing.T, err error, field, what string) {
	t.Helper()
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		t.Errorf("%s: err = %v, want a *store.ConflictError", what, err)
		return
	}
	if ce.Field != field {
		t.Errorf("%s: conflict on %q, want %q", what, ce.Field, field)
	}
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("%s: errors.Is(err, ErrConflict) = false", what)
	}
}

func count(t *testing.T, s store.Store) int {
	t.Helper()
	n, err := s.CountUsers(t.Context())
	must(t, err, "count users")
	return n
}

// checkEqual compares two structs of the same type field by field: times
// with Equal, nil and empty slices as equal. It reports every difference.
func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	gv, wv := reflect.Indirect(reflect.ValueOf(got)), reflect.Indirect(reflect.ValueOf(want))
	if gv.Type() != wv.Type() {
		t.Fatalf("%s: comparing %s with %s", what, gv.Type(), wv.Type())
	}
	for i := range gv.NumField() {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !same(g, w) {
			t.Errorf("%s: %s = %s, want %s", what, gv.Type().Field(i).Name, show(g), show(w))
		}
	}
}

func same(a, b any) bool {
	switch a := a.(type) {
	case time.Time:
		return a.Equal(b.(time.Time))
	case *time.Time:
		b := b.(*time.Time)
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return a.Equal(*b)
	case *int64:
		b := b.(*int64)
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return *a == *b
	case []string:
		return slices.Equal(a, b.([]string))
	case []byte:
		return bytes.Equal(a, b.([]byte))
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("%x", v)
	case *time.Time:
		if v == nil {
			return "nil"
		}
		return v.String()
	case *int64:
		if v == nil {
			return "nil"
		}
		return fmt.Sprint(*v)
	}
	return fmt.Sprintf("%#v", v)
}

// testPutAndRewrapSecrets: PutSecrets replaces and deletes; RewrapSecrets hands fn every secret and
// private key once and writes back only what changed, in one transaction.
func testPutAndRewrapSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	gen := func(v string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(v), nil } }
	_, err := s.Secret(ctx, "a", gen("one"))
	must(t, err, "secret a")
	must(t, s.PutSecrets(ctx, map[string][]byte{"a": []byte("two"), "b": []byte("bee")}), "put secrets")
	if v, _ := s.Secret(ctx, "a", gen("x")); string(v) != "two" {
		t.Errorf("a after PutSecrets = %q", v)
	}
	must(t, s.PutSecrets(ctx, map[string][]byte{"b": nil}), "delete b")
	if v, _ := s.Secret(ctx, "b", gen("fresh")); string(v) != "fresh" {
		t.Errorf("b after its deletion = %q, want regenerated", v)
	}
	must(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0), "", time.Time{}), "key")

	seen := map[string]string{}
	n, err := s.RewrapSecrets(ctx, func(purpose, id string, v []byte) ([]byte, error) {
		seen[purpose+"/"+id] = string(v)
		if id == "a" || id == "k1" {
			return append([]byte("wrapped:"), v...), nil
		}
		return v, nil
	})
	must(t, err, "rewrap")
	want := map[string]string{"secret/a": "two", "secret/b": "fresh", "signing_key/k1": string(newKey("k1", "RS256", t0).PrivateKey)}
	if n != 2 || !maps.Equal(seen, want) {
		t.Errorf("RewrapSecrets changed %d, saw %q; want 2, %q", n, seen, want)
	}
	if v, _ := s.Secret(ctx, "a", gen("x")); string(v) != "wrapped:two" {
		t.Errorf("a after rewrap = %q", v)
	}
	keys, _ := s.SigningKeys(ctx)
	if len(keys) != 1 || !strings.HasPrefix(string(keys[0].PrivateKey), "wrapped:") {
		t.Errorf("key after rewrap = %q", keys)
	}
	// An error from fn changes nothing.
	_, err = s.RewrapSecrets(ctx, func(purpose, id string, v []byte) ([]byte, error) {
		if id == "k1" {
			return nil, errors.New("cannot open")
		}
		return []byte("lost"), nil
	})
	if err == nil {
		t.Fatal("a failing rewrap succeeded")
	}
	if v, _ := s.Secret(ctx, "a", gen("x")); string(v) != "wrapped:two" {
		t.Errorf("a after a failed rewrap = %q", v)
	}
}

// A revoked key is retired at once; revoking the current key puts the
// replacement in its place, retiring a key published ahead as well.
func testRevokeSigningKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.RotateSigningKey(ctx, newKey("k1", "RS256", t0), "", time.Time{}), "k1")
	must(t, s.RotateSigningKey(ctx, newKey("k2", "RS256", t0.Add(time.Hour)), "k1", t0.Add(48*time.Hour)), "k2")
	now := t0.Add(2 * time.Hour)
	wantIs(t, s.RevokeSigningKey(ctx, "nope", nil, now), store.ErrNotFound, "revoke an unknown key")
	if err := s.RevokeSigningKey(ctx, "k2", nil, now); err == nil {
		t.Error("the current key was revoked without a replacement")
	}
	must(t, s.RevokeSigningKey(ctx, "k1", nil, now), "revoke the retiring key")
	wantIs(t, s.RevokeSigningKey(ctx, "k1", nil, now.Add(time.Second)), store.ErrNotFound, "revoke it again")
	repl := newKey("k3", "RS256", now)
	repl.ActiveFrom = now
	must(t, s.RevokeSigningKey(ctx, "k2", repl, now), "revoke the current key")
	keys, err := s.SigningKeys(ctx)
	must(t, err, "keys")
	state := map[string]string{}
	for _, k := range keys {
		if k.RetireAt == nil {
			state[k.ID] = "current"
		} else {
			state[k.ID] = k.RetireAt.Sub(now).String()
		}
	}
	if want := map[string]string{"k1": "0s", "k2": "0s", "k3": "current"}; !maps.Equal(state, want) {
		t.Errorf("keys after revocations = %v, want %v", state, want)
	}
}

// An import creates a member once, applies what changed in the file
// since, keeps what the member changed here, and refuses accounts it did
// not create.
func testImportMember(t *testing.T, s store.Store) {
	ctx := t.Context()
	row := func(email, name, hashed string, verified bool) store.ImportedMember {
		u := newUser("imp", "Dana", email)
		u.Name, u.PasswordHash, u.EmailVerified = name, hashed, verified
		return store.ImportedMember{User: u, RowDigest: hash(strings.ToLower(email) + name + fmt.Sprint(verified)),
			PasswordDigest: hash(hashed)}
	}
	first := row("Dana@Example.org", "Dana", "$2y$10$old", false)
	outcome, u, err := s.ImportMember(ctx, first, t0)
	must(t, err, "first import")
	if outcome != store.ImportCreated || u.Username != "dana" || u.Email != "dana@example.org" || u.PasswordHash != "$2y$10$old" {
		t.Fatalf("first import: %s %+v", outcome, u)
	}
	rec, err := s.UserImportOf(ctx, "imp")
	must(t, err, "import record")
	if !bytes.Equal(rec.RowDigest, first.RowDigest) || !rec.ImportedAt.Equal(t0) {
		t.Errorf("import record %+v", rec)
	}

	// The same row again changes nothing, even after the member's first
	// sign-in replaced the hash and they verified their address here.
	_, err = s.UpdateUser(ctx, "imp", func(u *store.User) error {
		u.PasswordHash, u.EmailVerified = "$argon2id$rehashed", true
		return nil
	})
	must(t, err, "rehash")
	again := row("dana@example.org", "Dana", "$2y$10$old", false)
	again.User.ID, again.User.WebAuthnID = "other", handle("other")
	outcome, _, err = s.ImportMember(ctx, again, t0.Add(time.Hour))
	must(t, err, "second import")
	if got, _ := s.UserByID(ctx, "imp"); outcome != store.ImportUnchanged || got.PasswordHash != "$argon2id$rehashed" || !got.EmailVerified {
		t.Errorf("second import: %s %+v", outcome, got)
	}

	// A changed name updates the profile; the hash the member has now
	// stays, and so does the verified address.
	renamed := row("dana@example.org", "Dana Scully", "$2y$10$old", false)
	outcome, u, err = s.ImportMember(ctx, renamed, t0.Add(2*time.Hour))
	must(t, err, "changed row")
	if outcome != store.ImportUpdated || u.Name != "Dana Scully" || u.PasswordHash != "$argon2id$rehashed" || !u.EmailVerified {
		t.Errorf("changed row: %s %+v", outcome, u)
	}
	// A new hash in the file replaces the password and ends open links.
	link := &store.RecoveryLink{TokenHash: hash("imp-link"), UserID: "imp", Purpose: store.LinkRecovery, CreatedAt: t0,
		ExpiresAt: t0.Add(100 * time.Hour)}
	must(t, s.CreateRecoveryLink(ctx, link), "link")
	newHash := row("dana@example.org", "Dana Scully", "$2y$10$new", false)
	outcome, u, err = s.ImportMember(ctx, newHash, t0.Add(3*time.Hour))
	must(t, err, "new hash")
	if outcome != store.ImportUpdated || u.PasswordHash != "$2y$10$new" || !u.PasswordChangedAt.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("new hash: %s %+v", outcome, u)
	}
	if _, err := s.RecoveryLinkByHash(ctx, hash("imp-link"), t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the recovery link outlived an imported password: %v", err)
	}
	// A row that lost its hash keeps the password.
	noHash := row("dana@example.org", "Dana Scully", "", false)
	_, u, err = s.ImportMember(ctx, noHash, t0.Add(4*time.Hour))
	must(t, err, "no hash")
	if u.PasswordHash != "$2y$10$new" {
		t.Errorf("a row without a hash cleared the password: %+v", u)
	}

	// Accounts made here are not the import's to change.
	must(t, s.CreateUser(ctx, newUser("local", "erin", "erin@example.org")), "local account")
	taken := row("erin2@example.org", "Erin", "", false)
	taken.User.ID, taken.User.Username, taken.User.WebAuthnID = "imp2", "Erin", handle("imp2")
	if _, _, err := s.ImportMember(ctx, taken, t0); !isConflict(err, "username") {
		t.Errorf("import over a local account: %v", err)
	}
	// Nor is another account's address; nothing of the row is stored.
	stolen := row("erin@example.org", "Frank", "", false)
	stolen.User.ID, stolen.User.Username, stolen.User.WebAuthnID = "imp3", "frank", handle("imp3")
	if _, _, err := s.ImportMember(ctx, stolen, t0); !isConflict(err, "email") {
		t.Errorf("import with a taken email: %v", err)
	}
	if _, err := s.UserByLogin(ctx, "frank"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused row left an account: %v", err)
	}
	if _, err := s.UserImportOf(ctx, "local"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("import record of a local account: %v", err)
	}
}

func isConflict(err error, field string) bool {
	var ce *store.ConflictError
	return errors.As(err, &ce) && ce.Field == field
}

// Two imports of the same file at once create each member once.
func testConcurrentImports(t *testing.T, s store.Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	outcomes := make(chan store.ImportOutcome, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := newUser(fmt.Sprintf("c%d", i), "gina", "gina@example.org")
			o, _, err := s.ImportMember(ctx, store.ImportedMember{User: u, RowDigest: hash("r"), PasswordDigest: hash("p")}, t0)
			if err != nil && !isConflict(err, "username") {
				t.Errorf("import %d: %v", i, err)
			}
			if err == nil {
				outcomes <- o
			}
		}()
	}
	wg.Wait()
	close(outcomes)
	created := 0
	for o := range outcomes {
		if o == store.ImportCreated {
			created++
		}
	}
	if n, _ := s.CountUsers(ctx); created != 1 || n != 1 {
		t.Errorf("created %d times, %d accounts; want once", created, n)
	}
}

// Console settings: absent until set, replaced, deleted back to absent.
func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Setting(ctx, "passkeys.rollout"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unset setting: %v", err)
	}
	for i, v := range []string{`{"stage":"group","group":["alice"]}`, `{"stage":"everyone"}`} {
		put := &store.Setting{Name: "passkeys.rollout", Value: []byte(v), UpdatedAt: t0.Add(time.Duration(i) * time.Hour), UpdatedBy: "a1"}
		must(t, s.PutSetting(ctx, put), "put setting")
		got, err := s.Setting(ctx, "passkeys.rollout")
		must(t, err, "setting")
		checkEqual(t, "setting", got, put)
	}
	must(t, s.PutSetting(ctx, &store.Setting{Name: "passkeys.rollout"}), "delete setting")
	if _, err := s.Setting(ctx, "passkeys.rollout"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted setting: %v", err)
	}
}

// The rollout's charts: events by day, and each week's active members
// with and without a passkey by the week's end.
func testAuditByDayAndAdoption(t *testing.T, s store.Store) {
	ctx := t.Context()
	day := time.Date(2030, 1, 7, 0, 0, 0, 0, time.UTC) // a Monday
	for _, id := range []string{"u1", "u2", "u3"} {
		must(t, s.CreateUser(ctx, newUser(id, "user-"+id, "")), "create "+id)
	}
	// u1 has a passkey from the start, u2 from the second week, u3 never.
	must(t, s.CreatePasskey(ctx, newPasskey("pk1", "u1", day.Add(-time.Hour))), "passkey u1")
	must(t, s.CreatePasskey(ctx, newPasskey("pk2", "u2", day.Add(8*24*time.Hour))), "passkey u2")
	signIn := func(at time.Time, user, method string) {
		appendAudit(t, s, &store.AuditEvent{At: at, Kind: "signin.success", UserID: user, ActorID: user, Method: method})
	}
	signIn(day.Add(time.Hour), "u1", "passkey")
	signIn(day.Add(2*time.Hour), "u1", "passkey") // twice: still one member
	signIn(day.Add(3*time.Hour), "u2", "pwd")
	signIn(day.Add(25*time.Hour), "u3", "pwd")
	signIn(day.Add(9*24*time.Hour), "u2", "passkey")
	signIn(day.Add(10*24*time.Hour), "u3", "pwd")
	appendAudit(t, s, &store.AuditEvent{At: day.Add(90 * time.Minute), Kind: "passkey.failure", Code: "PK-CANCELLED"})
	appendAudit(t, s, &store.AuditEvent{At: day.Add(-time.Hour), Kind: "signin.success", UserID: "u3", Method: "pwd"}) // before since

	got, err := s.PasskeyAdoption(ctx, day, 4)
	must(t, err, "adoption")
	want := []store.WeekAdoption{{Week: 0, Active: 3, WithPasskey: 1}, {Week: 1, Active: 2, WithPasskey: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("adoption = %+v, want %+v", got, want)
	}

	days, err := s.CountAuditByDay(ctx, day, []string{"signin.success", "passkey.failure"})
	must(t, err, "by day")
	wantDays := []store.DayCount{
		{Day: day, Kind: "passkey.failure", Code: "PK-CANCELLED", N: 1},
		{Day: day, Kind: "signin.success", Method: "passkey", N: 2},
		{Day: day, Kind: "signin.success", Method: "pwd", N: 1},
		{Day: day.Add(24 * time.Hour), Kind: "signin.success", Method: "pwd", N: 1},
		{Day: day.Add(9 * 24 * time.Hour), Kind: "signin.success", Method: "passkey", N: 1},
		{Day: day.Add(10 * 24 * time.Hour), Kind: "signin.success", Method: "pwd", N: 1},
	}
	if len(days) != len(wantDays) {
		t.Fatalf("by day = %+v, want %+v", days, wantDays)
	}
	for i := range days {
		if !days[i].Day.Equal(wantDays[i].Day) || days[i].Kind != wantDays[i].Kind || days[i].Method != wantDays[i].Method ||
			days[i].Code != wantDays[i].Code || days[i].N != wantDays[i].N {
			t.Errorf("by day [%d] = %+v, want %+v", i, days[i], wantDays[i])
		}
	}
}
