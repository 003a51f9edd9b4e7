// Package keys manages token signing keys: one active RS256 and one active
// ES256 key, generated on first start and kept in the store (never
// regenerated at boot), rotated on a period, with retired keys published
// until the tokens they signed have expired.
//
// Rotation is a compare-and-swap in the store: when several replicas find
// a key due at the same moment, exactly one rotation wins and the others
// reload. The JWKS document is rendered once per key set change, so the
// JWKS endpoint serves cached bytes.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/communityidp/idp/idp/store"
)

// Algorithms are the signing algorithms the provider keeps a key for.
var Algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// SigningKey is an active private key. Its method set matches the op
// library's SigningKey interface.
type SigningKey struct {
	id     string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
}

func (k *SigningKey) ID() string                                  { return k.id }
func (k *SigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *SigningKey) Key() any                                    { return k.signer }

// PublicKey is a published verification key. Its method set matches the op
// library's Key interface.
type PublicKey struct {
	id  string
	alg jose.SignatureAlgorithm
	pub crypto.PublicKey
}

func (k *PublicKey) ID() string                         { return k.id }
func (k *PublicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k *PublicKey) Use() string                        { return "sig" }
func (k *PublicKey) Key() any                           { return k.pub }

// Options configure a Manager.
type Options struct {
	// RotationPeriod is how long a key stays active.
	RotationPeriod time.Duration
	// PublishAfterRetire is how long a replaced key stays in the JWKS: at
	// least the lifetime of the tokens it signed.
	PublishAfterRetire time.Duration
	// PublishAhead is how long a new key is published before it signs:
	// longer than the interval at which replicas reload keys, so that no
	// replica serves a JWKS without a key another replica signs with.
	PublishAhead time.Duration
	Now          func() time.Time
}

// Manager holds the current key set in memory and keeps it in step with
// the store.
type Manager struct {
	store store.KeyStore
	opts  Options

	mu sync.RWMutex
	// active signs; current is the newest key, which may not sign yet.
	active    map[jose.SignatureAlgorithm]*SigningKey
	current   map[jose.SignatureAlgorithm]string
	created   map[string]time.Time // current kid -> activation, for rotation
	public    []*PublicKey
	jwks      []byte
	signature string
	version   uint64
}

// NewManager returns a Manager; call Ensure before use.
func NewManager(ks store.KeyStore, opts Options) *Manager {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Manager{store: ks, opts: opts}
}

// Ensure loads the keys and creates the missing active keys (first start).
func (m *Manager) Ensure(ctx context.Context) error {
	if err := m.Reload(ctx); err != nil {
		return err
	}
	for _, alg := range Algorithms {
		m.mu.RLock()
		_, ok := m.current[alg]
		m.mu.RUnlock()
		if ok {
			continue
		}
		// A first key has nothing to be published ahead of: it signs at once.
		if err := m.rotate(ctx, alg, "", 0); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return m.Reload(ctx)
}

// RotateDue rotates every key older than the rotation period. It returns
// whether any key changed (here or on another replica).
func (m *Manager) RotateDue(ctx context.Context) (bool, error) {
	if err := m.Reload(ctx); err != nil {
		return false, err
	}
	before := m.Version()
	now := m.opts.Now()
	for _, alg := range Algorithms {
		m.mu.RLock()
		expect := m.current[alg]
		activated := m.created[expect]
		m.mu.RUnlock()
		if expect != "" && now.Sub(activated) < m.opts.RotationPeriod {
			continue
		}
		if err := m.rotate(ctx, alg, expect, m.opts.PublishAhead); err != nil && !errors.Is(err, store.ErrConflict) {
			return false, err
		}
	}
	if err := m.Reload(ctx); err != nil {
		return false, err
	}
	return m.Version() != before, nil
}

// Rotate replaces the active key of alg now (the `idp keys rotate` command).
func (m *Manager) Rotate(ctx context.Context, alg jose.SignatureAlgorithm) error {
	if err := m.Reload(ctx); err != nil {
		return err
	}
	m.mu.RLock()
	expect := m.current[alg]
	m.mu.RUnlock()
	if err := m.rotate(ctx, alg, expect, m.opts.PublishAhead); err != nil {
		return err
	}
	return m.Reload(ctx)
}

// ErrUnknownKey is returned by Revoke for a key that is not published.
var ErrUnknownKey = errors.New("no such published key")

// Revoke withdraws key kid at once, for a key that leaked: it leaves the
// JWKS and stops signing on every replica at their next reload (within
// ReloadInterval), so tokens it signed stop verifying. When it was its
// algorithm's active key, a new key takes over at once (not published
// ahead: nothing may be signed with the leaked one meanwhile). It returns
// the algorithm and the replacement's ID ("" when none was needed).
func (m *Manager) Revoke(ctx context.Context, kid string) (alg jose.SignatureAlgorithm, replacement string, err error) {
	if err := m.Reload(ctx); err != nil {
		return "", "", err
	}
	rows, err := m.store.SigningKeys(ctx)
	if err != nil {
		return "", "", fmt.Errorf("load signing keys: %w", err)
	}
	now := m.opts.Now()
	var target *store.SigningKey
	for i, r := range rows {
		if r.ID == kid && (r.RetireAt == nil || r.RetireAt.After(now)) {
			target = &rows[i]
		}
	}
	if target == nil {
		return "", "", fmt.Errorf("%w: %s", ErrUnknownKey, kid)
	}
	alg = jose.SignatureAlgorithm(target.Algorithm)
	// A replacement is needed when the key is the current one, or signs
	// now while the current one is published ahead and not active yet.
	var next *store.SigningKey
	m.mu.RLock()
	signing := m.active[alg] != nil && m.active[alg].id == kid
	m.mu.RUnlock()
	if target.RetireAt == nil || signing {
		if next, err = newKey(alg, now, 0); err != nil {
			return "", "", err
		}
	}
	if err := m.store.RevokeSigningKey(ctx, kid, next, now); err != nil {
		return "", "", fmt.Errorf("revoke %s: %w", kid, err)
	}
	slog.WarnContext(ctx, "signing key revoked", "kid", kid, "alg", string(alg))
	if next != nil {
		replacement = next.ID
	}
	return alg, replacement, m.Reload(ctx)
}

// ReloadInterval is how often replicas reread the key set (see Serve): a
// rotation's prepublication and a revocation are seen within it.
const ReloadInterval = 10 * time.Second

// newKey generates a key of alg created at now, signing from now+ahead.
func newKey(alg jose.SignatureAlgorithm, now time.Time, ahead time.Duration) (*store.SigningKey, error) {
	signer, err := generate(alg)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", alg, err)
	}
	kid, err := thumbprint(signer.Public())
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{ID: kid, Algorithm: string(alg), PrivateKey: der, CreatedAt: now, ActiveFrom: now.Add(ahead)}, nil
}

func (m *Manager) rotate(ctx context.Context, alg jose.SignatureAlgorithm, expect string, ahead time.Duration) error {
	k, err := newKey(alg, m.opts.Now(), ahead)
	if err != nil {
		return err
	}
	kid := k.ID
	// The old key keeps signing until the new one is active, then stays
	// published while the tokens it signed live.
	if err := m.store.RotateSigningKey(ctx, k, expect, k.ActiveFrom.Add(m.opts.PublishAfterRetire)); err != nil {
		return fmt.Errorf("rotate %s key: %w", alg, err)
	}
	slog.InfoContext(ctx, "signing key created", "alg", string(alg), "kid", kid, "replaces", expect)
	return nil
}

func generate(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jose.RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("unsupported algorithm %s", alg)
}

// thumbprint is the RFC 7638 JWK thumbprint, used as the key ID: unique,
// and derived from the key itself.
func thumbprint(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// Reload reads the keys from the store and rebuilds the in-memory set and
// the JWKS bytes when they changed.
func (m *Manager) Reload(ctx context.Context) error {
	rows, err := m.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	now := m.opts.Now()
	// The signer of an algorithm is the key with the latest activation
	// that has come (not the order of the rows: a key rotated within the
	// second of the previous one's creation ties with it on created_at).
	// created records each current key's activation.
	active := map[jose.SignatureAlgorithm]*SigningKey{}
	activeFrom := map[jose.SignatureAlgorithm]time.Time{}
	current := map[jose.SignatureAlgorithm]string{}
	created := map[string]time.Time{}
	var public []*PublicKey
	for _, row := range rows {
		if row.RetireAt != nil && !row.RetireAt.After(now) {
			continue
		}
		parsed, err := x509.ParsePKCS8PrivateKey(row.PrivateKey)
		if err != nil {
			return fmt.Errorf("parse signing key %s: %w", row.ID, err)
		}
		signer, ok := parsed.(crypto.Signer)
		if !ok {
			return fmt.Errorf("signing key %s: not a signing key", row.ID)
		}
		alg := jose.SignatureAlgorithm(row.Algorithm)
		if prev, has := activeFrom[alg]; !row.ActiveFrom.After(now) && (!has || row.ActiveFrom.After(prev)) {
			active[alg] = &SigningKey{id: row.ID, alg: alg, signer: signer}
			activeFrom[alg] = row.ActiveFrom
		}
		if row.RetireAt == nil {
			current[alg] = row.ID
			created[row.ID] = row.ActiveFrom
		}
		public = append(public, &PublicKey{id: row.ID, alg: alg, pub: signer.Public()})
	}

	sig := setSignature(active, public)
	m.mu.Lock()
	defer m.mu.Unlock()
	if sig == m.signature {
		return nil
	}
	jwks := jose.JSONWebKeySet{}
	for _, k := range public {
		jwks.Keys = append(jwks.Keys, jose.JSONWebKey{Key: k.pub, KeyID: k.id, Algorithm: string(k.alg), Use: "sig"})
	}
	body, err := json.Marshal(jwks)
	if err != nil {
		return fmt.Errorf("encode JWKS: %w", err)
	}
	m.active, m.current, m.created, m.public, m.jwks, m.signature = active, current, created, public, body, sig
	m.version++
	return nil
}

// setSignature identifies a key set: which keys are published and which
// are active.
func setSignature(active map[jose.SignatureAlgorithm]*SigningKey, public []*PublicKey) string {
	var b strings.Builder
	for _, k := range public {
		b.WriteString(k.id)
		if a := active[k.alg]; a != nil && a.id == k.id {
			b.WriteString("*")
		}
		b.WriteString(",")
	}
	return b.String()
}

// ErrNoKey is returned when no active key exists for an algorithm.
var ErrNoKey = errors.New("no active signing key")

// Signing returns the active key for alg.
func (m *Manager) Signing(alg jose.SignatureAlgorithm) (*SigningKey, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.active[alg]
	if !ok {
		return nil, fmt.Errorf("%w for %s", ErrNoKey, alg)
	}
	return k, nil
}

// Public returns the published keys.
func (m *Manager) Public() []*PublicKey {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.public
}

// JWKS returns the JSON Web Key Set document and a version number that
// changes whenever the set does.
func (m *Manager) JWKS() ([]byte, uint64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.jwks, m.version
}

// Version changes whenever the published key set changes.
func (m *Manager) Version() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.version
}

// KeyInfo describes a key for `idp keys list`.
type KeyInfo struct {
	ID         string
	Algorithm  string
	CreatedAt  time.Time
	ActiveFrom time.Time
	RetireAt   *time.Time
}

// List returns every stored key, active and retiring.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := m.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	out := make([]KeyInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, KeyInfo{ID: r.ID, Algorithm: r.Algorithm, CreatedAt: r.CreatedAt, ActiveFrom: r.ActiveFrom, RetireAt: r.RetireAt})
	}
	return out, nil
}
