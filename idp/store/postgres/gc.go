package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/internal/codec"
)

// GC deletes rows that expired before now, with the same conditions as
// package sqlite. Each kind is one DELETE in its own implicit transaction,
// so GC holds no lock for long; running it on several replicas at once is
// harmless (a row deleted by one is skipped by the other).
func (s *Store) GC(ctx context.Context, now time.Time) (store.GCStats, error) {
	var st store.GCStats
	steps := []struct {
		what  string
		query string
		n     *int64
	}{
		// A redeemed request is a tombstone until both it and its code
		// have expired, so a replayed code can still revoke what it issued.
		{"auth requests", `DELETE FROM auth_requests
			WHERE expires_at < $1 AND (code_expires_at IS NULL OR code_expires_at < $1)`, &st.AuthRequests},
		{"access tokens", `DELETE FROM access_tokens WHERE expires_at < $1`, &st.AccessTokens},
		// A used token stays until its family expires: seeing it again is
		// how a stolen token is detected. Unused and revoked tokens can go
		// once they expire.
		{"refresh tokens", `DELETE FROM refresh_tokens
			WHERE family_expires_at < $1
			   OR (expires_at < $1 AND (used_at IS NULL OR revoked_at IS NOT NULL))`, &st.RefreshTokens},
		{"sessions", `DELETE FROM browser_sessions WHERE expires_at < $1 OR idle_expires_at < $1`, &st.Sessions},
		{"setup tokens", `DELETE FROM setup_tokens WHERE expires_at < $1`, &st.SetupTokens},
		{"signing keys", `DELETE FROM signing_keys WHERE retire_at < $1`, &st.SigningKeys},
		// ConsumeCeremony already refuses a ceremony at its expiry; these
		// are the ones nobody came back to finish.
		{"webauthn ceremonies", `DELETE FROM webauthn_ceremonies WHERE expires_at < $1`, &st.Ceremonies},
		{"suggestion snoozes", `DELETE FROM suggestion_snoozes WHERE until < $1`, &st.Snoozes},
		// A recovery link goes a day (86400 s) after it expires, used
		// or not.
		{"recovery links", `DELETE FROM recovery_links WHERE expires_at < $1::bigint - 86400`, &st.RecoveryLinks},
		// Sent mail is kept a week (604800 s) for the admins' view; mail
		// given up on, 30 days (2592000 s).
		{"outbox", `DELETE FROM outbox WHERE sent_at < $1::bigint - 604800
			OR (sent_at IS NULL AND next_attempt_at IS NULL AND created_at < $1::bigint - 2592000)`, &st.Outbox},
		// Who signed in which week is needed only until the week's
		// adoption counts are final (migration 0016): the current and the
		// previous week.
		{"weekly members", `DELETE FROM weekly_members WHERE week < ($1::bigint - 345600) / 604800 - 1`, new(int64)},
	}
	for _, step := range steps {
		tag, err := s.pool.Exec(ctx, step.query, now.Unix())
		if err != nil {
			return st, fmt.Errorf("gc %s: %w", step.what, err)
		}
		*step.n = tag.RowsAffected()
	}
	// Failures count only within the last hour; older ones are noise.
	tag, err := s.pool.Exec(ctx, `DELETE FROM throttle_failures WHERE at < $1`, now.Add(-store.ThrottleHorizon).UnixMilli())
	if err != nil {
		return st, fmt.Errorf("gc throttle failures: %w", err)
	}
	st.Failures = tag.RowsAffected()
	// member_counts holds changes (migration 0014): fold them into one
	// row per count, so readers add up a handful. Changes committed
	// meanwhile are not in this statement's snapshot and stay as they are.
	if _, err := s.pool.Exec(ctx, `WITH gone AS (DELETE FROM member_counts RETURNING role, disabled, with_passkey, n)
		INSERT INTO member_counts (role, disabled, with_passkey, n)
		SELECT role, disabled, with_passkey, SUM(n) FROM gone GROUP BY role, disabled, with_passkey HAVING SUM(n) <> 0`); err != nil {
		return st, fmt.Errorf("gc member counts: %w", err)
	}
	// The hourly audit counts and weekly adoption counts take a row per
	// change too (migration 0017). New rows land in the current hour and
	// week: the counts of the last day and week with more than one row
	// are folded, and those already one row are left alone. The day ends
	// after the hour a prune recounts (audit.retention is a day at
	// least), so a fold and a recount never meet.
	if _, err := s.pool.Exec(ctx, `WITH gone AS (DELETE FROM audit_hourly
			WHERE hour > $1 AND (hour, kind, method, result, code, device) IN (
				SELECT hour, kind, method, result, code, device FROM audit_hourly WHERE hour > $1
				GROUP BY hour, kind, method, result, code, device HAVING COUNT(*) > 1)
			RETURNING hour, kind, method, result, code, device, n)
		INSERT INTO audit_hourly (hour, kind, method, result, code, device, n)
		SELECT hour, kind, method, result, code, device, SUM(n) FROM gone
		GROUP BY hour, kind, method, result, code, device`, now.Add(-24*time.Hour).Unix()); err != nil {
		return st, fmt.Errorf("gc audit counts: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `WITH gone AS (DELETE FROM weekly_adoption
			WHERE week >= $1 AND week IN (SELECT week FROM weekly_adoption WHERE week >= $1 GROUP BY week HAVING COUNT(*) > 1)
			RETURNING week, active, with_passkey)
		INSERT INTO weekly_adoption (week, active, with_passkey)
		SELECT week, SUM(active), SUM(with_passkey) FROM gone GROUP BY week`, codec.Week(now)-1); err != nil {
		return st, fmt.Errorf("gc adoption counts: %w", err)
	}
	return st, nil
}
