package secrets

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/communityidp/idp/idp/store"
)

// Store is a store.Store whose generated secrets and private signing keys
// are sealed under a Keyring on their way in and opened on their way out;
// every other call goes straight through. Dumps (Export) carry the sealed
// values as they are: an export is encrypted under the KEK for everything
// that could forge a token.
type Store struct {
	store.Store
	kr *Keyring

	mu sync.Mutex
	// keys remembers each signing key's opened private key by ID: a key
	// never changes, and a replica that keeps running while `idp secrets
	// rotate-kek` re-seals the keys under a KEK it does not know yet keeps
	// the ones it has.
	keys map[string][]byte
}

// Wrap returns st with its secrets sealed under kr.
func Wrap(st store.Store, kr *Keyring) *Store {
	return &Store{Store: st, kr: kr, keys: map[string][]byte{}}
}

// Keyring is the keyring the store seals with.
func (s *Store) Keyring() *Keyring { return s.kr }

// Unwrap returns the store underneath, whose values are sealed.
func (s *Store) Unwrap() store.Store { return s.Store }

// Secret returns a secret in clear, generating and sealing it first if
// there is none.
func (s *Store) Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	v, err := s.Store.Secret(ctx, name, func() ([]byte, error) {
		plain, err := generate()
		if err != nil {
			return nil, err
		}
		return s.kr.Seal(store.PurposeSecret, name, plain)
	})
	if err != nil {
		return nil, err
	}
	return s.open(store.PurposeSecret, name, v)
}

// open opens a sealed value; one still in clear (written by a version
// before KEKs, and sealed at the next start by Upgrade) is used as it is.
func (s *Store) open(purpose, id string, v []byte) ([]byte, error) {
	if !IsSealed(v) {
		slog.Warn("a secret is stored in clear; it is sealed at the next start", "purpose", purpose, "id", id)
		return v, nil
	}
	return s.kr.Open(purpose, id, v)
}

// PutSecrets seals every value it stores.
func (s *Store) PutSecrets(ctx context.Context, values map[string][]byte) error {
	sealed := make(map[string][]byte, len(values))
	for name, v := range values {
		if v == nil {
			sealed[name] = nil
			continue
		}
		sv, err := s.kr.Seal(store.PurposeSecret, name, v)
		if err != nil {
			return err
		}
		sealed[name] = sv
	}
	return s.Store.PutSecrets(ctx, sealed)
}

// SigningKeys returns the keys with their private keys opened.
func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.Store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range rows {
		k := &rows[i]
		if plain, ok := s.keys[k.ID]; ok {
			k.PrivateKey = plain
			continue
		}
		plain, err := s.open(store.PurposeSigningKey, k.ID, k.PrivateKey)
		if err != nil {
			return nil, err
		}
		s.keys[k.ID], k.PrivateKey = plain, plain
	}
	return rows, nil
}

func (s *Store) sealKey(k *store.SigningKey) (*store.SigningKey, error) {
	if k == nil {
		return nil, nil
	}
	sealed := *k
	v, err := s.kr.Seal(store.PurposeSigningKey, k.ID, k.PrivateKey)
	if err != nil {
		return nil, err
	}
	sealed.PrivateKey = v
	return &sealed, nil
}

// RotateSigningKey stores the new key sealed.
func (s *Store) RotateSigningKey(ctx context.Context, k *store.SigningKey, expectActive string, retireAt time.Time) error {
	sealed, err := s.sealKey(k)
	if err != nil {
		return err
	}
	return s.Store.RotateSigningKey(ctx, sealed, expectActive, retireAt)
}

// RevokeSigningKey stores the replacement sealed.
func (s *Store) RevokeSigningKey(ctx context.Context, id string, replacement *store.SigningKey, now time.Time) error {
	sealed, err := s.sealKey(replacement)
	if err != nil {
		return err
	}
	return s.Store.RevokeSigningKey(ctx, id, sealed, now)
}

// Import writes a dump with its secrets sealed under the current KEK:
// values in clear (a dump from before KEKs) are sealed, values sealed
// under a KEK of the keyring are sealed again under the current one, and
// a value sealed under an unknown KEK stops the import.
func (s *Store) Import(ctx context.Context, next func() (store.Record, error), wipe bool) (store.ImportStats, error) {
	return s.Store.Import(ctx, func() (store.Record, error) {
		r, err := next()
		if err != nil {
			return r, err
		}
		switch {
		case r.Secret != nil:
			v := *r.Secret
			if v.Value, err = s.reseal(store.PurposeSecret, v.Name, v.Value); err != nil {
				return r, err
			}
			r.Secret = &v
		case r.SigningKey != nil:
			k := *r.SigningKey
			if k.PrivateKey, err = s.reseal(store.PurposeSigningKey, k.ID, k.PrivateKey); err != nil {
				return r, err
			}
			r.SigningKey = &k
		}
		return r, nil
	}, wipe)
}

// reseal seals v under the current KEK, opening it first if it is sealed.
func (s *Store) reseal(purpose, id string, v []byte) ([]byte, error) {
	if s.kr.Current(v) {
		return v, nil
	}
	plain := v
	if IsSealed(v) {
		var err error
		if plain, err = s.kr.Open(purpose, id, v); err != nil {
			return nil, err
		}
	}
	return s.kr.Seal(purpose, id, plain)
}

// Upgrade seals under kr's current KEK every secret and private key of st
// that is in clear or sealed under an older KEK, in one transaction, and
// returns how many it changed. It fails, changing nothing, when a value is
// sealed under a KEK kr does not have.
func Upgrade(ctx context.Context, st store.SecretStore, kr *Keyring) (int, error) {
	w := &Store{kr: kr}
	n, err := st.RewrapSecrets(ctx, func(purpose, id string, v []byte) ([]byte, error) {
		return w.reseal(purpose, id, v)
	})
	if err != nil {
		return 0, fmt.Errorf("seal secrets under the key-encryption key: %w", err)
	}
	return n, nil
}
