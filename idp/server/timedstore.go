package server

import (
	"context"
	"time"

	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/store"
)

// timedStore records the latency of the store operations the sign-in and
// token flows perform; everything else passes through untimed.
type timedStore struct {
	store.Store
	m *metrics.Metrics
}

func (t timedStore) since(op string, start time.Time) { t.m.Store(op, time.Since(start)) }

func (t timedStore) UserByID(ctx context.Context, id string) (*store.User, error) {
	defer t.since("user_by_id", time.Now())
	return t.Store.UserByID(ctx, id)
}

func (t timedStore) UserByLogin(ctx context.Context, login string) (*store.User, error) {
	defer t.since("user_by_login", time.Now())
	return t.Store.UserByLogin(ctx, login)
}

func (t timedStore) SessionByID(ctx context.Context, id string) (*store.Session, error) {
	defer t.since("session_by_id", time.Now())
	return t.Store.SessionByID(ctx, id)
}

func (t timedStore) CreateSession(ctx context.Context, s *store.Session) error {
	defer t.since("create_session", time.Now())
	return t.Store.CreateSession(ctx, s)
}

func (t timedStore) CreateAuthRequest(ctx context.Context, ar *store.AuthRequest) error {
	defer t.since("create_auth_request", time.Now())
	return t.Store.CreateAuthRequest(ctx, ar)
}

func (t timedStore) AuthRequestByID(ctx context.Context, id string) (*store.AuthRequest, error) {
	defer t.since("auth_request_by_id", time.Now())
	return t.Store.AuthRequestByID(ctx, id)
}

func (t timedStore) CompleteAuthRequest(ctx context.Context, id string, c store.Completion, now time.Time) error {
	defer t.since("complete_auth_request", time.Now())
	return t.Store.CompleteAuthRequest(ctx, id, c, now)
}

func (t timedStore) SaveAuthCode(ctx context.Context, id string, codeHash []byte, expiresAt time.Time) error {
	defer t.since("save_auth_code", time.Now())
	return t.Store.SaveAuthCode(ctx, id, codeHash, expiresAt)
}

func (t timedStore) AuthRequestByCodeHash(ctx context.Context, codeHash []byte) (*store.AuthRequest, error) {
	defer t.since("auth_request_by_code", time.Now())
	return t.Store.AuthRequestByCodeHash(ctx, codeHash)
}

func (t timedStore) IssueTokens(ctx context.Context, is store.Issue, now time.Time) error {
	defer t.since("issue_tokens", time.Now())
	return t.Store.IssueTokens(ctx, is, now)
}

func (t timedStore) AccessTokenByID(ctx context.Context, id string) (*store.AccessToken, error) {
	defer t.since("access_token_by_id", time.Now())
	return t.Store.AccessTokenByID(ctx, id)
}

func (t timedStore) RefreshTokenByHash(ctx context.Context, h []byte) (*store.RefreshToken, error) {
	defer t.since("refresh_token_by_hash", time.Now())
	return t.Store.RefreshTokenByHash(ctx, h)
}

func (t timedStore) PasskeysByUser(ctx context.Context, userID string) ([]store.Passkey, error) {
	defer t.since("passkeys_by_user", time.Now())
	return t.Store.PasskeysByUser(ctx, userID)
}

func (t timedStore) PasskeyByCredentialID(ctx context.Context, id []byte) (*store.Passkey, error) {
	defer t.since("passkey_by_credential", time.Now())
	return t.Store.PasskeyByCredentialID(ctx, id)
}

func (t timedStore) CreateCeremony(ctx context.Context, c *store.Ceremony) error {
	defer t.since("create_ceremony", time.Now())
	return t.Store.CreateCeremony(ctx, c)
}

func (t timedStore) ConsumeCeremony(ctx context.Context, id string, now time.Time) (*store.Ceremony, error) {
	defer t.since("consume_ceremony", time.Now())
	return t.Store.ConsumeCeremony(ctx, id, now)
}

func (t timedStore) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	defer t.since("append_audit", time.Now())
	return t.Store.AppendAudit(ctx, e)
}
