package oidcop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/throttle"
)

// server is op's protocol engine (its LegacyServer, over Storage) with
// this provider's policy where it differs from op's:
//   - client authentication refuses JWT assertions (not offered), a public
//     client sending a secret and duplicated parameters, and is throttled
//     per client and address;
//   - each client's ID tokens are signed with its own algorithm;
//   - a code presented again revokes what it issued, and PKCE verifiers
//     must be well formed;
//   - userinfo answers the RFC 6750 way and refuses tokens in the URL;
//   - introspection is for confidential clients only, with either
//     client_secret method;
//   - end_session never ends a session for a caller that is not the
//     member's browser, and tells the browser to drop its cookie;
//   - when the database fails mid-request the client is told to retry
//     (temporarily_unavailable, 503) rather than that its grant is bad.
type server struct {
	*op.LegacyServer
	p       *Provider
	storage *Storage
}

var _ op.ExtendedLegacyServer = (*server)(nil)

// grants the token endpoint answers; anything else is unsupported_grant_type.
var grants = []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken), string(oidc.GrantTypeClientCredentials)}

// backchannelParams are the token, introspection and revocation
// parameters this provider reads: none may be given twice (RFC 6749
// section 3.2). op would quietly pick one, and a proxy in front may have
// picked the other.
var backchannelParams = []string{"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
	"client_id", "client_secret", "token", "token_type_hint"}

// VerifyClient authenticates the client of a token or revocation request
// (and, through Introspect, of an introspection request).
func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	if dup := duplicatedParams(r.Form, backchannelParams); len(dup) > 0 {
		return nil, oidc.ErrInvalidRequest().WithDescription("parameter given more than once: %s", dup[0])
	}
	if g := r.Form.Get("grant_type"); g != "" && !slices.Contains(grants, g) {
		return nil, oidc.ErrUnsupportedGrantType().WithDescription("grant_type must be authorization_code, refresh_token or client_credentials")
	}
	cc := r.Data
	if cc.ClientAssertion != "" || cc.ClientAssertionType != "" {
		return nil, unauthenticated(oidc.ErrInvalidClient().WithDescription("JWT client authentication is not supported: use client_secret_basic or client_secret_post"))
	}
	// A public client has no secret; one that sends a secret is
	// misconfigured, and the secret must not count for anything.
	if c, ok := s.storage.clients[cc.ClientID]; ok && c.cfg.Public() && cc.ClientSecret != "" {
		return nil, unauthenticated(oidc.ErrInvalidClient().WithDescription("a public client has no secret: send client_id and the PKCE code_verifier only"))
	}
	if err := s.throttled(ctx, cc); err != nil {
		return nil, err
	}
	c, err := s.LegacyServer.VerifyClient(ctx, r)
	if err != nil {
		return nil, s.refusal(ctx, err)
	}
	if r.Form.Get("grant_type") == string(oidc.GrantTypeCode) && r.Form.Get("redirect_uri") == "" {
		// Every authorization request here names its redirect URI, so
		// the code's redemption must too (RFC 6749 section 4.1.3); op
		// would call its absence a malformed request.
		return nil, errGrant("redirect_uri does not correspond")
	}
	return c, nil
}

// throttled turns away, with a 429, a client that failed to authenticate
// too often from this address (see Storage.AuthorizeClientIDSecret). A
// client secret is long and random, so this is not about guessing it: it
// stops a stranger from making the endpoint check secrets at full speed,
// and it never affects the real client's address.
func (s *server) throttled(ctx context.Context, cc *op.ClientCredentials) error {
	t := s.storage.throttle
	if t == nil || cc.ClientSecret == "" { // no secret: a public client, nothing to guess
		return nil
	}
	wait, err := t.Wait(ctx, t.Client(cc.ClientID, clientip.FromContext(ctx)))
	if err != nil {
		slog.ErrorContext(ctx, "check client throttle", "error", err)
		return nil // the secret check follows; a database error surfaces there
	}
	if wait <= 0 {
		return nil
	}
	slog.WarnContext(ctx, "client authentication throttled", "client_id", cc.ClientID, "wait", wait.Round(time.Second))
	answerHeader(ctx).Set("Retry-After", throttle.RetryAfter(wait))
	return op.NewStatusError(oidc.ErrInvalidClient().WithDescription(
		"too many failed client authentications from this address; retry in %s", throttle.Describe(wait)), http.StatusTooManyRequests)
}

// unauthenticated is a client authentication failure: 401 (RFC 6749
// section 5.2; op would answer 400), with the challenge the answer
// writer adds.
func unauthenticated(e *oidc.Error) error {
	return op.NewStatusError(e, http.StatusUnauthorized)
}

// refusal is err as the token endpoint answers it: a client
// authentication failure is a 401, and anything while the database is
// down is temporarily_unavailable, which tells the client to retry rather
// than that its grant is bad.
func (s *server) refusal(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if s.p.down(ctx) {
		return op.NewStatusError(&oidc.Error{ErrorType: "temporarily_unavailable",
			Description: "the database is unavailable; retry in a few seconds"}, http.StatusServiceUnavailable)
	}
	var status op.StatusError
	if errors.As(err, &status) {
		return err
	}
	var e *oidc.Error
	if errors.As(err, &e) && e.ErrorType == oidc.InvalidClient {
		return unauthenticated(e)
	}
	return err
}

// tokens is what creates a client's tokens: op's, with ID tokens signed
// with the client's algorithm.
func (s *server) tokens(c op.Client) op.TokenCreator {
	alg := s.storage.alg
	if cl, ok := c.(*client); ok && cl.alg != "" {
		alg = cl.alg
	}
	return tokenCreator{storage: signingAs{Storage: s.storage, alg: alg}, crypto: s.p.crypto}
}

type tokenCreator struct {
	storage op.Storage
	crypto  op.Crypto
}

func (t tokenCreator) Storage() op.Storage { return t.storage }
func (t tokenCreator) Crypto() op.Crypto   { return t.crypto }

// signingAs is the storage seen by one client's token response: its
// signing key is of the client's algorithm.
type signingAs struct {
	*Storage
	alg jose.SignatureAlgorithm
}

func (s signingAs) SigningKey(context.Context) (op.SigningKey, error) { return s.keys.Signing(s.alg) }

// CodeExchange redeems a code. op's checks, in op's order (PKCE, the
// code's own client, the redirect URI); then a code seen before revokes
// what it issued: only now, so that a stranger holding an old code cannot.
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	ctx = withUserMemo(ctx)
	if v := r.Data.CodeVerifier; v != "" && !validVerifier(v) {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	ar, err := s.storage.authRequestByCode(ctx, r.Data.Code)
	if err != nil {
		return nil, s.refusal(ctx, err)
	}
	if r.Client.AuthMethod() == oidc.AuthMethodNone || r.Data.CodeVerifier != "" {
		if err := op.AuthorizeCodeChallenge(r.Data.CodeVerifier, ar.GetCodeChallenge()); err != nil {
			return nil, err
		}
	}
	if r.Client.GetID() != ar.ClientID {
		return nil, errGrant("the code was issued to another client")
	}
	if r.Data.RedirectURI != ar.RedirectURI {
		return nil, errGrant("redirect_uri does not correspond")
	}
	if ar.ConsumedAt != nil {
		s.storage.revokeCodeGrant(ctx, ar.AuthRequest)
		return nil, errGrant("code already used")
	}
	resp, err := op.CreateTokenResponse(ctx, ar, r.Client, s.tokens(r.Client), true, r.Data.Code, "")
	if err != nil {
		return nil, s.refusal(ctx, err)
	}
	return op.NewResponse(resp), nil
}

// validVerifier checks RFC 7636 section 4.1.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// RefreshToken exchanges a refresh token for its successor (see
// Storage.rotate), with ID tokens of the client's algorithm.
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	ctx = withUserMemo(ctx)
	req, err := op.RefreshTokenRequestByRefreshToken(ctx, s.storage, r.Data.RefreshToken)
	if err != nil {
		return nil, s.refusal(ctx, err)
	}
	if r.Client.GetID() != req.GetClientID() {
		return nil, errGrant("the refresh token was issued to another client")
	}
	if err := op.ValidateRefreshTokenScopes(r.Data.Scopes, req); err != nil {
		return nil, err
	}
	resp, err := op.CreateTokenResponse(ctx, req, r.Client, s.tokens(r.Client), true, "", r.Data.RefreshToken)
	if err != nil {
		return nil, s.refusal(ctx, err)
	}
	return op.NewResponse(resp), nil
}

// ClientCredentialsExchange is op's, told apart from a database outage.
func (s *server) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	resp, err := s.LegacyServer.ClientCredentialsExchange(ctx, r)
	return resp, s.refusal(ctx, err)
}

// JWTProfile: the JWT bearer grant is not offered (op would try it
// without authenticating a client).
func (s *server) JWTProfile(context.Context, *op.Request[oidc.JWTProfileGrantRequest]) (*op.Response, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("grant_type must be authorization_code, refresh_token or client_credentials")
}

// Revocation is op's (RFC 7009), told apart from a database outage.
func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	resp, err := s.LegacyServer.Revocation(ctx, r)
	return resp, s.refusal(ctx, err)
}

// Introspect answers a confidential client (RFC 7662) about an access
// token meant for it. The client is authenticated as at the token
// endpoint, with either client_secret method.
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	c, err := s.VerifyClient(ctx, &op.Request[op.ClientCredentials]{Method: r.Method, URL: r.URL, Header: r.Header,
		Form: r.Form, PostForm: r.PostForm, Data: r.Data.ClientCredentials})
	if err != nil {
		return nil, err
	}
	if c.AuthMethod() == oidc.AuthMethodNone {
		return nil, unauthenticated(oidc.ErrInvalidClient().WithDescription("introspection is for confidential clients"))
	}
	resp := new(oidc.IntrospectionResponse)
	id, subject, ok := s.p.accessToken(r.Data.Token)
	if !ok {
		return op.NewResponse(resp), nil
	}
	if err := s.storage.SetIntrospectionFromToken(ctx, resp, id, subject, c.GetID()); err != nil {
		if s.p.down(ctx) {
			return nil, s.refusal(ctx, err)
		}
		return op.NewResponse(new(oidc.IntrospectionResponse)), nil
	}
	resp.Active = true
	return op.NewResponse(resp), nil
}

// UserInfo answers the userinfo endpoint. A token in the URL is refused:
// URLs end up in logs and browser history (RFC 6750 section 2.3). Any
// token that is not a live access token of an enabled member is
// invalid_token, 401 (RFC 6750 section 3.1).
func (s *server) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	if r.URL.Query().Has("access_token") {
		return nil, oidc.ErrInvalidRequest().WithDescription("send the access token in the Authorization header")
	}
	info := new(oidc.UserInfo)
	id, subject, ok := s.p.accessToken(r.Data.AccessToken)
	if ok {
		err := s.storage.SetUserinfoFromToken(ctx, info, id, subject, "")
		if err == nil {
			return op.NewResponse(info), nil
		}
		if s.p.down(ctx) {
			return nil, s.refusal(ctx, err)
		}
	}
	answerHeader(ctx).Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+descInvalidToken+`"`)
	return nil, op.NewStatusError(&oidc.Error{ErrorType: "invalid_token", Description: descInvalidToken}, http.StatusUnauthorized)
}

const descInvalidToken = "the access token is invalid, expired or revoked"

// accessToken opens an access token this provider issued: its id and
// subject.
func (p *Provider) accessToken(token string) (id, subject string, ok bool) {
	if token == "" {
		return "", "", false
	}
	plain, err := p.crypto.Decrypt(token)
	if err != nil {
		return "", "", false
	}
	id, subject, ok = strings.Cut(plain, ":")
	return id, subject, ok && id != "" && !strings.Contains(subject, ":")
}

// EndSession is RP-Initiated Logout. With a valid id_token_hint for the
// member signed in here, the browser session ends at once and the browser
// goes to the validated post_logout_redirect_uri; without one (or for
// another member) nothing ends yet: the browser is sent to a page that
// asks the member to confirm (RP-Initiated Logout section 2, and a logout
// CSRF guard). The redirect tells the browser to drop the session cookie
// when the session ended.
func (s *server) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	if !postLogoutRegistered(s.storage.clients, r.Data) {
		return nil, oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is not registered for this client")
	}
	req, err := op.ValidateEndSessionRequest(ctx, r.Data, s.p.op)
	if err != nil {
		return nil, err
	}
	cur := session.FromContext(ctx)
	if cur == nil {
		return op.NewRedirect(req.RedirectURI), nil
	}
	if req.IDTokenHintClaims == nil || req.UserID != cur.User.ID {
		return op.NewRedirect(s.storage.logoutURL(req.RedirectURI)), nil
	}
	if err := s.storage.store.DeleteSession(ctx, cur.Session.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	redirect := op.NewRedirect(req.RedirectURI)
	if s.p.clearCookie != nil {
		redirect.Header.Add("Set-Cookie", s.p.clearCookie().String())
	}
	return redirect, nil
}

// postLogoutRegistered checks a post_logout_redirect_uri against the
// client's registered ones, exactly: op lets native clients vary the
// loopback host and port there.
func postLogoutRegistered(clients map[string]*client, req *oidc.EndSessionRequest) bool {
	if req.PostLogoutRedirectURI == "" {
		return true
	}
	clientID := req.ClientID
	if clientID == "" {
		clientID = azpOf(req.IdTokenHint)
	}
	c, ok := clients[clientID]
	return !ok || slices.Contains(c.cfg.PostLogoutRedirectURIs, req.PostLogoutRedirectURI)
}

// azpOf reads the client an ID token was issued to, without verifying it:
// only to pick the registration to compare against (op verifies the token).
func azpOf(idToken string) string {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		AZP string          `json:"azp"`
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	if c.AZP != "" {
		return c.AZP
	}
	var aud string
	if json.Unmarshal(c.Aud, &aud) == nil {
		return aud
	}
	var auds []string
	if json.Unmarshal(c.Aud, &auds) == nil && len(auds) == 1 {
		return auds[0]
	}
	return ""
}
