package oidcop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/keys"
	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/ratelimit"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/throttle"
)

// Descriptions of the errors this package gives for a sign-in request:
// the browser endpoints show them on the error page (the server's
// errorPage), so each has a message key (ui/locales) for the member's
// language.
const (
	descUnavailable  = "the sign-in service is temporarily unavailable"
	descUnknown      = "unknown sign-in request"
	descExpired      = "this sign-in request has expired; start again from the app"
	descCompleted    = "this sign-in was already completed; start again from the app"
	descUnreadable   = "The authorization request could not be read."
	descIncomplete   = "The authorization request needs a client_id and a redirect_uri."
	descOtherBrowser = "This sign-in was finished in another browser. Go back to the app and sign in again here."
)

// DescriptionKeys maps those descriptions to their message keys.
var DescriptionKeys = map[string]string{
	descUnavailable:  "error.request.unavailable",
	descUnknown:      "error.request.unknown",
	descExpired:      "error.request.expired",
	descCompleted:    "error.request.completed",
	descUnreadable:   "error.request.unreadable",
	descIncomplete:   "error.request.incomplete",
	descOtherBrowser: "error.request.other_browser",
}

// Store is what the protocol keeps: authorization requests, tokens, the
// browser sessions they come from and the members they are for.
type Store interface {
	store.AuthRequestStore
	store.TokenStore
	store.SessionStore
	store.UserStore
	Ping(ctx context.Context) error
}

// Storage implements op.Storage over the provider's store. Clients come
// from the configuration; everything else is read from and written to the
// store, so any replica can serve any step of a flow.
type Storage struct {
	store   Store
	keys    *keys.Manager
	clients map[string]*client
	tokens  config.Tokens
	alg     jose.SignatureAlgorithm // default ID token algorithm
	now     func() time.Time
	// logoutURL signs a redirect target for the logout confirmation page.
	logoutURL func(target string) string
	metrics   *metrics.Metrics
	throttle  *throttle.Throttle
	// authorizeLimit caps the authorization requests one address opens.
	authorizeLimit *ratelimit.Limiter
}

var (
	_ op.Storage                   = (*Storage)(nil)
	_ op.ClientCredentialsStorage  = (*Storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*Storage)(nil)
)

// errGrant builds the invalid_grant the token endpoint answers.
func errGrant(format string, args ...any) *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription(format, args...)
}

// randomID returns n random bytes, base64url encoded: 16 bytes give the 128
// bits of entropy ids and tokens need.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand failed: %w", err)) // unrecoverable: the OS has no randomness
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// --- clients

// GetClientByClientID returns a configured client.
func (s *Storage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	c, ok := s.clients[clientID]
	if !ok {
		return nil, oidc.ErrInvalidClient().WithDescription("client_id %q is not registered", clientID)
	}
	return c, nil
}

// AuthorizeClientIDSecret authenticates a confidential client. A failure
// is counted against the client at this address (Backchannel turns
// clients that fail too often away before op gets here).
func (s *Storage) AuthorizeClientIDSecret(ctx context.Context, clientID, secret string) error {
	c, ok := s.clients[clientID]
	if !ok || c.secret == nil || !c.secret.Verify(secret) {
		if s.throttle != nil {
			if err := s.throttle.Fail(ctx, s.throttle.Client(clientID, clientip.FromContext(ctx))); err != nil {
				slog.ErrorContext(ctx, "count failed client authentication", "error", err)
			}
		}
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

// ClientCredentials authenticates a client for the client_credentials grant.
func (s *Storage) ClientCredentials(ctx context.Context, clientID, secret string) (op.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, clientID, secret); err != nil {
		return nil, err
	}
	return s.GetClientByClientID(ctx, clientID)
}

// ClientCredentialsTokenRequest builds the request for a service token.
// Member scopes make no sense without a member: asking for one is
// invalid_scope, rather than a token that silently grants less (RFC 6749
// section 3.3). Other scopes are granted as asked, and the answer says so.
func (s *Storage) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess, oidc.ScopePhone, oidc.ScopeAddress:
			return nil, oidc.ErrInvalidScope().WithDescription("%s needs a member: the client_credentials grant has none", sc)
		}
	}
	return &serviceRequest{clientID: clientID, scopes: scopes}, nil
}

// --- authorization requests and codes

// CreateAuthRequest is op's way to store an authorization request, which
// this provider does not take: Provider.Authorize stores each one bound to
// its browser (createAuthRequest).
func (s *Storage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, errors.New("authorization requests are created by Provider.Authorize")
}

// createAuthRequest stores a validated authorization request, bound to
// the browser whose binding hash is given. userID is the subject of a
// valid id_token_hint.
func (s *Storage) createAuthRequest(ctx context.Context, req *oidc.AuthRequest, userID string, binding []byte) (*store.AuthRequest, error) {
	if ok, wait := s.authorizeLimit.Allow(clientip.FromContext(ctx)); !ok {
		// RFC 6749 section 4.1.2.1: the client may retry later.
		return nil, &oidc.Error{ErrorType: "temporarily_unavailable",
			Description: "too many sign-in requests from this network; retry in " + throttle.Describe(wait)}
	}
	now := s.now()
	ar := &store.AuthRequest{
		ID:                  randomID(16),
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		Scopes:              req.Scopes,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		State:               req.State,
		Nonce:               req.Nonce,
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              req.Prompt,
		LoginHint:           req.LoginHint,
		HintSubject:         userID,
		BrowserBinding:      binding,
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.tokens.AuthRequestLifetime.D()),
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		ar.MaxAge = &v
	}
	for _, tag := range req.UILocales {
		ar.UILocales = append(ar.UILocales, tag.String())
	}
	if err := s.store.CreateAuthRequest(ctx, ar); err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			// RFC 6749 section 4.1.2.1: the client may retry.
			return nil, &oidc.Error{ErrorType: "temporarily_unavailable", Description: descUnavailable}
		}
		return nil, fmt.Errorf("save auth request: %w", err)
	}
	s.metrics.Created("auth_request")
	return ar, nil
}

// AuthRequestByID returns an unexpired authorization request.
func (s *Storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return s.authRequest(ctx, id)
}

// authRequest returns an unexpired authorization request.
func (s *Storage) authRequest(ctx context.Context, id string) (authRequest, error) {
	ar, err := s.store.AuthRequestByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return authRequest{}, oidc.ErrInvalidRequestRedirectURI().WithDescription(descUnknown)
	}
	if err != nil {
		return authRequest{}, fmt.Errorf("load auth request: %w", err)
	}
	if !s.now().Before(ar.ExpiresAt) {
		return authRequest{}, oidc.ErrInvalidRequestRedirectURI().WithDescription(descExpired)
	}
	return authRequest{AuthRequest: ar}, nil
}

// AuthRequestByCode finds the request a code was issued for.
func (s *Storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	return s.authRequestByCode(ctx, code)
}

// authRequestByCode finds the request a code was issued for, redeemed or
// not: a code seen again after redemption is a replay, which the token
// step answers once it has authenticated the code's own client
// (server.CodeExchange).
func (s *Storage) authRequestByCode(ctx context.Context, code string) (authRequest, error) {
	ar, err := s.store.AuthRequestByCodeHash(ctx, hashToken(code))
	if errors.Is(err, store.ErrNotFound) {
		return authRequest{}, errGrant("unknown code")
	}
	if err != nil {
		return authRequest{}, fmt.Errorf("load code: %w", err)
	}
	if ar.ConsumedAt == nil && !s.now().Before(ar.CodeExpiresAt) {
		return authRequest{}, errGrant("code expired")
	}
	return authRequest{AuthRequest: ar}, nil
}

// revokeCodeGrant revokes the tokens a redeemed code issued.
func (s *Storage) revokeCodeGrant(ctx context.Context, ar *store.AuthRequest) {
	if ar.IssuedAccessTokenID != "" {
		if err := s.store.DeleteAccessToken(ctx, ar.IssuedAccessTokenID); err != nil && !errors.Is(err, store.ErrNotFound) {
			slog.ErrorContext(ctx, "revoke tokens of a replayed code", "error", err)
		}
	}
	if ar.IssuedRefreshFamily != "" {
		if err := s.store.RevokeRefreshFamily(ctx, ar.IssuedRefreshFamily, s.now()); err != nil {
			slog.ErrorContext(ctx, "revoke refresh tokens of a replayed code", "error", err)
		}
	}
	slog.WarnContext(ctx, "authorization code replayed; its tokens are revoked", "client_id", ar.ClientID, "auth_request", ar.ID)
}

// codeExpiry is when a code issued now expires.
func (s *Storage) codeExpiry() time.Time { return s.now().Add(s.tokens.CodeLifetime.D()) }

// SaveAuthCode records the hash of the code issued for a finished sign-in.
func (s *Storage) SaveAuthCode(ctx context.Context, id, code string) error {
	err := s.store.SaveAuthCode(ctx, id, hashToken(code), s.codeExpiry())
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return oidc.ErrInvalidRequest().WithDescription(descCompleted)
	}
	if err != nil {
		return fmt.Errorf("save code: %w", err)
	}
	return nil
}

// DeleteAuthRequest is called by op after a code is redeemed, and does
// nothing: the redemption (store.Issue's ConsumeCode) already marked the
// request, which stays as a tombstone until it expires so that a replayed
// code can revoke what it issued.
func (*Storage) DeleteAuthRequest(context.Context, string) error { return nil }

// dropAuthRequest deletes a request that ends without a code.
func (s *Storage) dropAuthRequest(ctx context.Context, id string) {
	if err := s.store.DeleteAuthRequest(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		slog.ErrorContext(ctx, "delete auth request", "error", err)
	}
}

// --- tokens

// activeUser returns the subject's account if it may still receive tokens.
func (s *Storage) activeUser(ctx context.Context, subject string) (*store.User, error) {
	u, err := s.user(ctx, subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errGrant("the account no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	if u.Disabled {
		return nil, errGrant("the account is disabled")
	}
	return u, nil
}

// newAccessToken returns an access token's record and its id. The record
// is stored under the id's hash (store.AccessTokenKey); only the token op
// encrypts for the client holds the id.
func (s *Storage) newAccessToken(clientID, subject string, scopes, audience []string, authTime time.Time, amr []string, family string) (*store.AccessToken, string) {
	now := s.now()
	id := randomID(16)
	return &store.AccessToken{
		ID: store.AccessTokenKey(id), ClientID: clientID, Subject: subject, Scopes: scopes, Audience: audience,
		AuthTime: authTime, AMR: amr, CreatedAt: now, ExpiresAt: now.Add(s.tokens.AccessTokenLifetime.D()),
		RefreshFamily: family,
	}, id
}

// CreateAccessToken issues an access token without a refresh token: a
// code redemption without offline_access, or client_credentials.
func (s *Storage) CreateAccessToken(ctx context.Context, request op.TokenRequest) (string, time.Time, error) {
	var (
		is store.Issue
		id string
	)
	grant := string(oidc.GrantTypeCode)
	switch r := request.(type) {
	case authRequest:
		if _, err := s.activeUser(ctx, r.Subject); err != nil {
			return "", time.Time{}, err
		}
		is.ConsumeCode = r.ID
		is.Access, id = s.newAccessToken(r.ClientID, r.Subject, r.Scopes, r.GetAudience(), r.AuthTime, r.AMR, "")
		defer s.signedInTo(ctx, r)
	case *serviceRequest:
		grant = string(oidc.GrantTypeClientCredentials)
		is.Access, id = s.newAccessToken(r.clientID, r.clientID, r.scopes, r.GetAudience(), time.Time{}, nil, "")
	default:
		return "", time.Time{}, fmt.Errorf("unexpected token request %T", request)
	}
	if err := s.issue(ctx, is); err != nil {
		return "", time.Time{}, err
	}
	s.metrics.Token(grant)
	return id, is.Access.ExpiresAt, nil
}

// signedInTo notes that r's browser session signed in to r's client,
// when the client takes back-channel logout: ending the session tells it.
func (s *Storage) signedInTo(ctx context.Context, r authRequest) {
	c, ok := s.clients[r.ClientID]
	if !ok || c.cfg.BackchannelLogoutURI == "" || r.SessionID == "" {
		return
	}
	err := s.store.AddSessionClient(ctx, r.SessionID, r.ClientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) { // a session ended meanwhile has nothing to end
		slog.ErrorContext(ctx, "note the app a session signed in to", "client_id", r.ClientID, "error", err)
	}
}

// CreateAccessAndRefreshTokens issues an access token with a refresh token:
// a new refresh family for a code redemption with offline_access, or the
// one successor of the used token for a refresh.
func (s *Storage) CreateAccessAndRefreshTokens(ctx context.Context, request op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	switch r := request.(type) {
	case authRequest:
		if _, err := s.activeUser(ctx, r.Subject); err != nil {
			return "", "", time.Time{}, err
		}
		now := s.now()
		value := randomID(32)
		rt := &store.RefreshToken{ID: randomID(16), TokenHash: hashToken(value), FamilyID: randomID(16),
			ClientID: r.ClientID, Subject: r.Subject, Scopes: r.Scopes, Audience: r.GetAudience(),
			AuthTime: r.AuthTime, AMR: r.AMR, CreatedAt: now, SessionID: r.SessionID,
			FamilyExpiresAt: now.Add(s.tokens.RefreshTokenAbsoluteLifetime.D())}
		rt.ExpiresAt = s.refreshExpiry(now, rt.FamilyExpiresAt)
		access, id := s.newAccessToken(r.ClientID, r.Subject, r.Scopes, r.GetAudience(), r.AuthTime, r.AMR, rt.FamilyID)
		if err := s.issue(ctx, store.Issue{ConsumeCode: r.ID, Refresh: rt, Access: access}); err != nil {
			return "", "", time.Time{}, err
		}
		s.signedInTo(ctx, r)
		s.metrics.Token(string(oidc.GrantTypeCode))
		return id, value, access.ExpiresAt, nil
	case *refreshRequest:
		return s.rotate(ctx, r)
	}
	return "", "", time.Time{}, fmt.Errorf("unexpected token request %T", request)
}

func (s *Storage) refreshExpiry(now, familyExpires time.Time) time.Time {
	if exp := now.Add(s.tokens.RefreshTokenLifetime.D()); exp.Before(familyExpires) {
		return exp
	}
	return familyExpires
}

// rotate exchanges a refresh token for its successor, once: a second
// presentation (even at the same moment, on another replica) finds the
// token used, and either gets the very same answer again, within the
// reuse grace, or ends the grant.
func (s *Storage) rotate(ctx context.Context, r *refreshRequest) (string, string, time.Time, error) {
	if r.resend != nil {
		s.metrics.Token(string(oidc.GrantTypeRefreshToken))
		return r.resend.AccessID, r.resend.Refresh, r.resend.AccessExpiresAt, nil
	}
	now := s.now()
	old := r.token
	value := randomID(32)
	rt := *old
	rt.ID, rt.TokenHash, rt.ParentID, rt.CreatedAt = randomID(16), hashToken(value), old.ID, now
	rt.UsedAt, rt.RevokedAt, rt.Reply = nil, nil, nil
	rt.ExpiresAt = s.refreshExpiry(now, old.FamilyExpiresAt)
	// The new refresh token keeps the grant's scopes (RFC 6749 section 6);
	// only this access token is narrowed to the requested ones.
	access, id := s.newAccessToken(old.ClientID, old.Subject, r.scopes, old.Audience, old.AuthTime, old.AMR, old.FamilyID)
	is := store.Issue{RotateFrom: old.ID, Access: access, Refresh: &rt}
	if s.tokens.RefreshTokenReuseInterval > 0 {
		sealed, err := sealReply(r.value, old.ID, reply{Refresh: value, AccessID: id, AccessExpiresAt: access.ExpiresAt})
		if err != nil {
			return "", "", time.Time{}, err
		}
		is.Reply = sealed
	}
	err := s.store.IssueTokens(ctx, is, now)
	if errors.Is(err, store.ErrConflict) {
		// Another use of the same token won, here or on another replica.
		if again, lerr := s.store.RefreshTokenByID(ctx, old.ID); lerr == nil {
			if again.RevokedAt == nil {
				if res := s.resendable(ctx, again, r.value, now); res != nil {
					s.metrics.Token(string(oidc.GrantTypeRefreshToken))
					return res.AccessID, res.Refresh, res.AccessExpiresAt, nil
				}
			}
		}
		s.revokeReplayed(ctx, old)
		return "", "", time.Time{}, errGrant("refresh token already used")
	}
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("issue tokens: %w", err)
	}
	s.metrics.Token(string(oidc.GrantTypeRefreshToken))
	return id, value, access.ExpiresAt, nil
}

func (s *Storage) issue(ctx context.Context, is store.Issue) error {
	err := s.store.IssueTokens(ctx, is, s.now())
	if errors.Is(err, store.ErrConflict) && is.ConsumeCode != "" {
		// A parallel redemption of the same code won; this one is a
		// replay by the same, authenticated, client.
		if ar, lerr := s.store.AuthRequestByID(ctx, is.ConsumeCode); lerr == nil {
			s.revokeCodeGrant(ctx, ar)
		}
		return errGrant("code already used")
	}
	if err != nil {
		return fmt.Errorf("issue tokens: %w", err)
	}
	return nil
}

// revokeReplayed revokes the family of a replayed refresh token.
func (s *Storage) revokeReplayed(ctx context.Context, rt *store.RefreshToken) {
	if err := s.store.RevokeRefreshFamily(ctx, rt.FamilyID, s.now()); err != nil {
		slog.ErrorContext(ctx, "revoke replayed refresh family", "family", rt.FamilyID, "error", err)
		return
	}
	slog.WarnContext(ctx, "refresh token replayed; its family is revoked", "client_id", rt.ClientID, "family", rt.FamilyID)
}

// resendable returns the answer rt's first use gave, if it may be sent
// again: rt was used within the reuse grace, whoever asks holds rt itself
// (the answer is sealed under it), and the successor in that answer was
// neither used nor revoked since (the client never got it).
func (s *Storage) resendable(ctx context.Context, rt *store.RefreshToken, value string, now time.Time) *reply {
	grace := s.tokens.RefreshTokenReuseInterval.D()
	if grace <= 0 || rt.UsedAt == nil || now.Sub(*rt.UsedAt) >= grace || rt.Reply == nil {
		return nil
	}
	rep, err := openReply(value, rt.ID, rt.Reply)
	if err != nil {
		slog.WarnContext(ctx, "open refresh reply", "family", rt.FamilyID, "error", err)
		return nil
	}
	next, err := s.store.RefreshTokenByHash(ctx, hashToken(rep.Refresh))
	if err != nil || next.UsedAt != nil || next.RevokedAt != nil {
		return nil
	}
	return rep
}

// TokenRequestByRefreshToken loads a refresh token for the refresh grant.
// Any presentation of a used or revoked token of a live family is a replay
// and revokes the whole family, access tokens included, unless the token
// is retried within the reuse grace and its successor was never used: then
// the same answer is sent again (see rotate).
func (s *Storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	rt, err := s.store.RefreshTokenByHash(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("unknown refresh token")
	}
	if err != nil {
		return nil, fmt.Errorf("load refresh token: %w", err)
	}
	now := s.now()
	var resend *reply
	switch {
	case rt.RevokedAt != nil:
		s.revokeReplayed(ctx, rt)
		return nil, errors.New("refresh token revoked")
	case rt.UsedAt != nil:
		if resend = s.resendable(ctx, rt, token, now); resend == nil {
			s.revokeReplayed(ctx, rt)
			return nil, errors.New("refresh token already used")
		}
	}
	if !now.Before(rt.ExpiresAt) || !now.Before(rt.FamilyExpiresAt) {
		return nil, errors.New("refresh token expired")
	}
	if _, err := s.activeUser(ctx, rt.Subject); err != nil {
		return nil, err
	}
	return &refreshRequest{token: rt, value: token, scopes: rt.Scopes, resend: resend}, nil
}

// GetRefreshTokenInfo identifies a refresh token for revocation.
func (s *Storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rt, err := s.store.RefreshTokenByHash(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", fmt.Errorf("load refresh token: %w", err)
	}
	return rt.Subject, rt.ID, nil
}

// RevokeToken revokes an access token by ID or a refresh token (and its
// family, with the access tokens issued alongside) by ID. Unknown tokens
// succeed silently (RFC 7009 section 2.2); a token of another client is
// refused.
func (s *Storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	if rt, err := s.store.RefreshTokenByID(ctx, tokenOrID); err == nil {
		if rt.ClientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
		}
		if err := s.store.RevokeRefreshFamily(ctx, rt.FamilyID, s.now()); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return oidc.ErrServerError().WithParent(err)
	}
	at, err := s.store.AccessTokenByID(ctx, store.AccessTokenKey(tokenOrID))
	if errors.Is(err, store.ErrNotFound) {
		// A refresh token sent with token_type_hint=access_token reaches
		// here as its raw value: look it up as a refresh token too
		// (RFC 7009 section 2.1: the hint is only a hint).
		if rt, err := s.store.RefreshTokenByHash(ctx, hashToken(tokenOrID)); err == nil {
			return s.RevokeToken(ctx, rt.ID, rt.Subject, clientID)
		}
		return nil
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if at.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
	}
	if err := s.store.DeleteAccessToken(ctx, at.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// liveAccessToken returns the access token if it exists, belongs to
// subject and has not expired.
func (s *Storage) liveAccessToken(ctx context.Context, tokenID, subject string) (*store.AccessToken, error) {
	at, err := s.store.AccessTokenByID(ctx, store.AccessTokenKey(tokenID))
	if err != nil {
		return nil, fmt.Errorf("load access token: %w", err)
	}
	if at.Subject != subject || !s.now().Before(at.ExpiresAt) {
		return nil, errors.New("access token expired")
	}
	return at, nil
}

// --- claims

// SetUserinfoFromScopes is deprecated in op; SetUserinfoFromRequest is used.
func (s *Storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *Storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	u, err := s.user(ctx, req.GetSubject())
	if err != nil {
		return fmt.Errorf("load user for ID token: %w", err)
	}
	setClaims(info, u, scopes)
	// sid names the browser session (Back-Channel Logout 1.0 section 2.1),
	// so that an app can match the logout token to its own session.
	switch r := req.(type) {
	case authRequest:
		if r.SessionID != "" {
			info.AppendClaims("sid", store.SessionSID(r.SessionID))
		}
	case *refreshRequest:
		if r.token.SessionID != "" {
			info.AppendClaims("sid", store.SessionSID(r.token.SessionID))
		}
	}
	return nil
}

// SetUserinfoFromToken answers the userinfo endpoint.
func (s *Storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	at, err := s.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, at.Subject)
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	if u.Disabled {
		return errors.New("account disabled")
	}
	setClaims(info, u, at.Scopes)
	return nil
}

// SetIntrospectionFromToken answers the introspection endpoint for a token
// whose audience includes the asking client.
func (s *Storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	at, err := s.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if !slices.Contains(at.Audience, clientID) {
		return errors.New("token not meant for this client")
	}
	if at.Subject != at.ClientID {
		u, err := s.store.UserByID(ctx, at.Subject)
		if err != nil || u.Disabled {
			return errors.New("account unavailable")
		}
		info := new(oidc.UserInfo)
		setClaims(info, u, at.Scopes)
		resp.SetUserInfo(info)
		resp.AuthTime = oidc.FromTime(at.AuthTime)
		resp.AuthenticationMethodsReferences = at.AMR
	}
	resp.Subject = at.Subject
	resp.Scope = at.Scopes
	resp.ClientID = at.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(at.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(at.CreatedAt)
	resp.Audience = at.Audience
	resp.Issuer = op.IssuerFromContext(ctx)
	resp.JWTID = at.ID
	return nil
}

// setClaims fills standard claims by scope.
func setClaims(info *oidc.UserInfo, u *store.User, scopes []string) {
	info.Subject = u.ID
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeProfile:
			info.Name = u.Name
			info.PreferredUsername = u.Username
			info.UpdatedAt = oidc.FromTime(u.UpdatedAt)
		case oidc.ScopeEmail:
			info.Email = u.Email
			info.EmailVerified = oidc.Bool(u.EmailVerified)
			if !u.EmailVerified {
				// The field is omitted when false; say it explicitly.
				info.AppendClaims("email_verified", false)
			}
		}
	}
}

// GetPrivateClaimsFromScopes adds nothing to access tokens (they are opaque).
func (s *Storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID is for JWT client authentication, which is not offered.
func (s *Storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT client authentication is not supported")
}

// ValidateJWTProfileScopes is for the JWT bearer grant, which is not offered.
func (s *Storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT bearer grant is not supported")
}

// --- keys

// SigningKey returns the active key of the default algorithm. A client's
// tokens are signed with its own algorithm (server.tokens).
func (s *Storage) SigningKey(context.Context) (op.SigningKey, error) {
	return s.keys.Signing(s.alg)
}

// SignatureAlgorithms lists the algorithms ID tokens may be signed with.
func (s *Storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return slices.Clone(keys.Algorithms), nil
}

// KeySet returns the published verification keys.
func (s *Storage) KeySet(context.Context) ([]op.Key, error) {
	pub := s.keys.Public()
	out := make([]op.Key, len(pub))
	for i, k := range pub {
		out[i] = k
	}
	return out, nil
}

// --- sessions

// TerminateSession is op's way to end a session, which this provider does
// not take: server.EndSession ends the browser's own session.
func (s *Storage) TerminateSession(context.Context, string, string) error {
	return errors.New("sessions are ended by server.EndSession")
}

// Health reports whether the store answers.
func (s *Storage) Health(ctx context.Context) error { return s.store.Ping(ctx) }
