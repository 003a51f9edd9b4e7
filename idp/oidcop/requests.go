package oidcop

import (
	"log/slog"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/communityidp/idp/idp/store"
)

// authRequest adapts a stored auth request to op.AuthRequest.
type authRequest struct {
	*store.AuthRequest
}

var (
	_ op.AuthRequest    = authRequest{}
	_ op.LogAuthRequest = authRequest{}
)

func (a authRequest) GetID() string          { return a.ID }
func (a authRequest) GetACR() string         { return "" }
func (a authRequest) GetAMR() []string       { return a.AMR }
func (a authRequest) GetAudience() []string  { return []string{a.ClientID} }
func (a authRequest) GetAuthTime() time.Time { return a.AuthTime }
func (a authRequest) GetClientID() string    { return a.ClientID }
func (a authRequest) GetNonce() string       { return a.Nonce }
func (a authRequest) GetRedirectURI() string { return a.RedirectURI }
func (a authRequest) GetScopes() []string    { return a.Scopes }
func (a authRequest) GetState() string       { return a.State }
func (a authRequest) GetSubject() string     { return a.Subject }
func (a authRequest) Done() bool             { return a.AuthRequest.Done }
func (a authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.ResponseType)
}
func (a authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.ResponseMode)
}

func (a authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethod(a.CodeChallengeMethod)}
}

// LogValue keeps state, nonce and codes out of the logs.
func (a authRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", a.ID), slog.String("client_id", a.ClientID), slog.String("redirect_uri", a.RedirectURI))
}

// refreshRequest adapts a stored refresh token to op.RefreshTokenRequest.
type refreshRequest struct {
	token *store.RefreshToken
	// value is the token as presented: the key its successor's reply is
	// sealed under.
	value  string
	scopes []string
	// resend is the answer the token's first use gave, to send again:
	// the token was used moments ago and is retried within the reuse
	// grace, by a client that lost that answer.
	resend *reply
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string            { return r.token.AMR }
func (r *refreshRequest) GetAudience() []string       { return r.token.Audience }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.token.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.token.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.token.Subject }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// serviceRequest is a client_credentials request: the client acts for
// itself, so it is the subject.
type serviceRequest struct {
	clientID string
	scopes   []string
}

var _ op.TokenRequest = (*serviceRequest)(nil)

func (s *serviceRequest) GetSubject() string    { return s.clientID }
func (s *serviceRequest) GetAudience() []string { return []string{s.clientID} }
func (s *serviceRequest) GetScopes() []string   { return s.scopes }
