// Package backchannel tells apps that a member's session ended, by
// OpenID Connect Back-Channel Logout 1.0: a signed logout token POSTed to
// each app the session signed in to. The store queues a notice in the
// outbox in the same transaction that ends the session; this package
// delivers it, so a notice survives a restart, is retried while the app
// is down and is sent once whatever the number of replicas.
package backchannel

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/keys"
	"github.com/communityidp/idp/idp/outbox"
	"github.com/communityidp/idp/idp/store"
)

// Event is the logout token's one event (section 2.4).
const Event = "http://schemas.openid.net/event/backchannel-logout"

// TokenType is the logout token's JOSE typ header (section 2.4).
const TokenType = "logout+jwt"

// Lifetime bounds a logout token: it is made at each delivery attempt,
// so it only has to outlive one request.
const Lifetime = 2 * time.Minute

// Signer is the provider's signing keys.
type Signer interface {
	Signing(alg jose.SignatureAlgorithm) (*keys.SigningKey, error)
}

// Notifier makes and delivers logout tokens.
type Notifier struct {
	Issuer  string
	Clients map[string]config.Client
	// DefaultAlg signs for clients without their own id_token_signing_alg.
	DefaultAlg jose.SignatureAlgorithm
	Keys       Signer
	HTTP       *http.Client
	Now        func() time.Time
}

// New returns a Notifier for cfg's clients.
func New(cfg config.Config, ks Signer, now func() time.Time) *Notifier {
	if now == nil {
		now = time.Now
	}
	clients := map[string]config.Client{}
	for _, c := range cfg.Clients {
		clients[c.ID] = c
	}
	return &Notifier{Issuer: cfg.Issuer, Clients: clients, DefaultAlg: jose.SignatureAlgorithm(cfg.Keys.IDTokenSigningAlg),
		Keys: ks, Now: now, HTTP: &http.Client{
			Timeout: 10 * time.Second,
			// Section 2.5: the app answers; a redirect is not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

// Claims are a logout token's claims (section 2.4): no nonce, ever.
type Claims struct {
	Issuer    string         `json:"iss"`
	Audience  []string       `json:"aud"`
	IssuedAt  int64          `json:"iat"`
	ExpiresAt int64          `json:"exp"`
	JWTID     string         `json:"jti"`
	Events    map[string]any `json:"events"`
	Subject   string         `json:"sub,omitempty"`
	SessionID string         `json:"sid,omitempty"`
}

// Token signs a logout token for client about n.
func (n *Notifier) Token(client config.Client, notice store.LogoutNotice) (string, error) {
	alg := n.DefaultAlg
	if client.IDTokenSigningAlg != "" {
		alg = jose.SignatureAlgorithm(client.IDTokenSigningAlg)
	}
	key, err := n.Keys.Signing(alg)
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()}},
		(&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	now := n.Now()
	claims := Claims{Issuer: n.Issuer, Audience: []string{client.ID}, IssuedAt: now.Unix(),
		ExpiresAt: now.Add(Lifetime).Unix(), JWTID: randomID(), Events: map[string]any{Event: map[string]any{}},
		Subject: notice.Subject, SessionID: notice.SID}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// Handler is the outbox handler of back-channel logout notices.
func (n *Notifier) Handler() outbox.Handler {
	return func(ctx context.Context, m store.OutboxMessage) error {
		client, ok := n.Clients[m.Recipient]
		if !ok || client.BackchannelLogoutURI == "" {
			return outbox.Permanent(fmt.Errorf("client %q no longer takes back-channel logout", m.Recipient))
		}
		var notice store.LogoutNotice
		if err := json.Unmarshal(m.Payload, &notice); err != nil {
			return outbox.Permanent(fmt.Errorf("decode the notice: %w", err))
		}
		token, err := n.Token(client, notice)
		if err != nil {
			return err
		}
		return n.post(ctx, client.BackchannelLogoutURI, token)
	}
}

// post sends the token (section 2.5) and reads the app's answer (2.8):
// 200 or 204 is done; another 4xx will not change by retrying.
func (n *Notifier) post(ctx context.Context, uri, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return outbox.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := n.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the configuration; the error says enough
		}
		return fmt.Errorf("post the logout token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout &&
		resp.StatusCode != http.StatusTooManyRequests:
		return outbox.Permanent(fmt.Errorf("the app refused the logout token: %d %s", resp.StatusCode, answer(body)))
	default:
		return fmt.Errorf("the app answered %d %s", resp.StatusCode, answer(body))
	}
}

// answer is what an app said, for the console: its OAuth error if any.
func answer(body []byte) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return strings.TrimSpace(e.Error + " " + e.Description)
	}
	return ""
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
