package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// GC deletes rows that expired before now, gcBatch rows per statement
// (each its own short transaction), so however much has piled up, GC
// never holds the writer for long; running it on several replicas at
// once is harmless.
func (s *Store) GC(ctx context.Context, now time.Time) (store.GCStats, error) {
	var st store.GCStats
	// key is what a batch selects rows by: rowid, but for a WITHOUT
	// ROWID table its primary key.
	steps := []struct {
		what, table, key, cond string
		n                      *int64
	}{
		// A redeemed request is a tombstone until both it and its code
		// have expired, so a replayed code can still revoke what it issued.
		{"auth requests", "auth_requests", "rowid", `expires_at < ?1 AND (code_expires_at IS NULL OR code_expires_at < ?1)`, &st.AuthRequests},
		{"access tokens", "access_tokens", "rowid", `expires_at < ?1`, &st.AccessTokens},
		// A used token stays until its family expires: seeing it again is
		// how a stolen token is detected. Unused and revoked tokens can go
		// once they expire.
		{"refresh tokens", "refresh_tokens", "rowid",
			`family_expires_at < ?1 OR (expires_at < ?1 AND (used_at IS NULL OR revoked_at IS NOT NULL))`, &st.RefreshTokens},
		{"sessions", "browser_sessions", "rowid", `expires_at < ?1 OR idle_expires_at < ?1`, &st.Sessions},
		{"setup tokens", "setup_tokens", "rowid", `expires_at < ?1`, &st.SetupTokens},
		{"signing keys", "signing_keys", "rowid", `retire_at < ?1`, &st.SigningKeys},
		// ConsumeCeremony already refuses a ceremony at its expiry; these
		// are the ones nobody came back to finish.
		{"webauthn ceremonies", "webauthn_ceremonies", "rowid", `expires_at < ?1`, &st.Ceremonies},
		{"suggestion snoozes", "suggestion_snoozes", "rowid", `until < ?1`, &st.Snoozes},
		// A recovery link goes a day (86400 s) after it expires, used
		// or not.
		{"recovery links", "recovery_links", "rowid", `expires_at < ?1 - 86400`, &st.RecoveryLinks},
		// Sent mail is kept a week (604800 s) for the admins' view; mail
		// given up on, 30 days (2592000 s).
		{"outbox", "outbox", "rowid", `sent_at < ?1 - 604800
			OR (sent_at IS NULL AND next_attempt_at IS NULL AND created_at < ?1 - 2592000)`, &st.Outbox},
		// Who signed in which week is needed only until the week's
		// adoption counts are final (migration 0016): the current and the
		// previous week.
		{"weekly members", "weekly_members", "week, user_id", `week < (?1 - 345600) / 604800 - 1`, new(int64)},
	}
	for _, step := range steps {
		n, err := s.deleteInBatches(ctx, step.table, step.key, step.cond, now.Unix())
		*step.n = n
		if err != nil {
			return st, fmt.Errorf("gc %s: %w", step.what, err)
		}
	}
	// Failures count only within the last hour; older ones are noise.
	var err error
	st.Failures, err = s.deleteInBatches(ctx, "throttle_failures", "rowid", `at < ?1`, now.Add(-store.ThrottleHorizon).UnixMilli())
	if err != nil {
		return st, fmt.Errorf("gc throttle failures: %w", err)
	}
	return st, nil
}

// gcBatch is how many rows one GC statement deletes: like pruneBatch,
// small enough that a statement (a row and its indexes each) holds the
// writer well under the 50 ms a sign-in may wait for it.
const gcBatch = 400

// deleteInBatches deletes the rows of table that cond (on ?1 = arg)
// selects, at most gcBatch per statement (picked by key), until a
// statement deletes fewer, and returns how many it deleted.
func (s *Store) deleteInBatches(ctx context.Context, table, key, cond string, arg int64) (int64, error) {
	batched := `DELETE FROM ` + table + ` WHERE (` + key + `) IN (SELECT ` + key + ` FROM ` + table +
		` WHERE ` + cond + ` LIMIT ` + strconv.Itoa(gcBatch) + `)`
	var total int64
	for {
		res, err := s.exec(ctx, batched, arg)
		if err != nil {
			return total, err
		}
		n, err := affected(res)
		total += n
		if err != nil || n < gcBatch {
			return total, err
		}
	}
}
