package secrets

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/communityidp/idp/idp/store"
)

// Generated secrets the provider can rotate: the token crypto key (codes
// and access tokens) and the CSRF key (forms, signed redirect targets).
const (
	CryptoKey = "op_crypto_key"
	CSRFKey   = "csrf_key"
)

// Rotatable lists the secrets `idp secrets rotate` replaces.
var Rotatable = []string{CryptoKey, CSRFKey}

// previous is the name the value a rotation replaced is kept under.
func previous(name string) string { return name + ".previous" }

var errNone = errors.New("no such secret")

// Versions returns a generated secret, creating it (32 random bytes) if
// there is none, and the value its last rotation replaced (nil when none
// is kept): the first signs or encrypts, both verify or decrypt.
func Versions(ctx context.Context, st store.SecretStore, name string) ([][]byte, error) {
	cur, err := st.Secret(ctx, name, random32)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if len(cur) != 32 {
		return nil, fmt.Errorf("load %s: stored key has %d bytes, want 32", name, len(cur))
	}
	prev, err := st.Secret(ctx, previous(name), func() ([]byte, error) { return nil, errNone })
	switch {
	case errors.Is(err, errNone):
		return [][]byte{cur}, nil
	case err != nil:
		return nil, fmt.Errorf("load %s: %w", previous(name), err)
	}
	return [][]byte{cur, prev}, nil
}

// Rotate replaces a generated secret with a new random value. The old one
// is kept to verify and decrypt what it made (tokens, open forms) unless
// drop is set, for a secret that leaked: then everything it made stops
// working at once. Replicas pick the change up within seconds (they
// reread these secrets as often as the signing keys).
func Rotate(ctx context.Context, st store.SecretStore, name string, drop bool) error {
	if !slices.Contains(Rotatable, name) {
		return fmt.Errorf("%q cannot be rotated (one of %v)", name, Rotatable)
	}
	vs, err := Versions(ctx, st, name)
	if err != nil {
		return err
	}
	next, err := random32()
	if err != nil {
		return err
	}
	values := map[string][]byte{name: next, previous(name): vs[0]}
	if drop {
		values[previous(name)] = nil
	}
	if err := st.PutSecrets(ctx, values); err != nil {
		return fmt.Errorf("rotate %s: %w", name, err)
	}
	return nil
}

func random32() ([]byte, error) {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	return b, err
}
