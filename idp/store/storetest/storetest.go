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
		{"ExplainFindsScans", testExplainFindsScans},
		{"AuditPageByKindNeedsNoSort", testAuditPageByKindNeedsNoSort},
		{"AuditCountReadsOnlyThePartHour", testAuditCountReadsOnlyThePartHour},
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
		{"CompleteWithCode", testCompleteWithCode},
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
		{"UserCountsPasskeys", testUserCountsPasskeys},
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
		{"CountAuditAcrossHours", testCountAuditAcrossHours},
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
		{"AdoptionFollowsPasskeys", testAdoptionFollowsPasskeys},
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
