package oidcop

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/password"
)

// client adapts a configured client to op.Client.
type client struct {
	cfg             config.Client
	alg             jose.SignatureAlgorithm
	idTokenLifetime time.Duration
	secret          *secretVerifier
}

var _ op.Client = (*client)(nil)

func newClient(c config.Client, idTokenLifetime time.Duration) (*client, error) {
	cl := &client{cfg: c, alg: jose.SignatureAlgorithm(c.IDTokenSigningAlg), idTokenLifetime: idTokenLifetime}
	if !c.Public() {
		v, err := newSecretVerifier(c.Secret, c.SecretHash)
		if err != nil {
			return nil, err
		}
		cl.secret = v
	}
	return cl, nil
}

func (c *client) GetID() string                    { return c.cfg.ID }
func (c *client) RedirectURIs() []string           { return c.cfg.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.cfg.PostLogoutRedirectURIs }

// ApplicationType: public clients are native apps, which lets op accept
// their loopback redirects on any port (RFC 8252 section 7.3).
func (c *client) ApplicationType() op.ApplicationType {
	if c.cfg.Public() {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

// AuthMethod: confidential clients authenticate with their secret, in the
// Basic header or the form body (op accepts both for this method).
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.cfg.Public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, 0, len(c.cfg.GrantTypes))
	for _, g := range c.cfg.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

// LoginURL is where op sends the browser to sign in; relative, so it stays
// on the provider's own host.
func (c *client) LoginURL(authRequestID string) string {
	return "/login?authRequestID=" + url.QueryEscape(authRequestID)
}

func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return c.idTokenLifetime }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// secretVerifier checks a confidential client's secret without paying a
// password hash per token request. A plain secret is compared as SHA-256
// digests in constant time. An argon2id secret_hash is verified once; the
// SHA-256 of the secret that matched is then kept in memory, and later
// requests compare against it. Since only one secret matches the hash,
// anything else can be refused from the digest alone.
type secretVerifier struct {
	plain    *[sha256.Size]byte
	phc      string
	mu       sync.Mutex // serialises argon2id runs: one per client at a time
	verified atomic.Pointer[[sha256.Size]byte]
}

func newSecretVerifier(plain, phc string) (*secretVerifier, error) {
	if plain != "" {
		sum := sha256.Sum256([]byte(plain))
		return &secretVerifier{plain: &sum}, nil
	}
	if _, _, _, err := password.Parse(phc); err != nil {
		return nil, err
	}
	return &secretVerifier{phc: phc}, nil
}

func (v *secretVerifier) Verify(secret string) bool {
	if secret == "" {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	if v.plain != nil {
		return subtle.ConstantTimeCompare(sum[:], v.plain[:]) == 1
	}
	if known := v.verified.Load(); known != nil {
		return subtle.ConstantTimeCompare(sum[:], known[:]) == 1
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if known := v.verified.Load(); known != nil {
		return subtle.ConstantTimeCompare(sum[:], known[:]) == 1
	}
	ok, _, err := password.Verify(v.phc, secret)
	if err != nil || !ok {
		return false
	}
	v.verified.Store(&sum)
	return true
}
