package oidcop

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	zcrypto "github.com/zitadel/oidc/v3/pkg/crypto"

	"github.com/communityidp/idp/config"
)

// The provider's token crypto must refuse a refresh token (32 random bytes,
// base64url) even when unauthenticated AES-CFB would "open" it into an
// "id:subject" pair: op's revocation endpoint tries to decrypt whatever it
// is given with token_type_hint=access_token, and such garbage reached
// RevokeToken in place of the refresh token, which then stayed alive.
func TestTokenCryptoOpensOnlyItsOwnTokens(t *testing.T) {
	var key [32]byte
	rand.Read(key[:])
	cfg := config.Default()
	p, err := New(Options{Config: cfg, CryptoKeys: [][32]byte{key}})
	if err != nil {
		t.Fatal(err)
	}
	c := p.op.Crypto()

	// A refresh-token-shaped value that CFB opens into exactly "a:b".
	var lookalike string
	for range 10000 {
		b := make([]byte, 32)
		rand.Read(b)
		s := base64.RawURLEncoding.EncodeToString(b)
		if plain, err := zcrypto.DecryptAES(s, string(key[:])); err == nil && strings.Count(plain, ":") == 1 {
			lookalike = s
			break
		}
	}
	if lookalike == "" {
		t.Fatal("no CFB look-alike found in 10000 tries (expected one in about 17)")
	}
	if plain, err := c.Decrypt(lookalike); err == nil {
		t.Errorf("a random refresh token decrypted to %q", plain)
	}

	sealed, err := c.Encrypt("token-id:subject")
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := c.Decrypt(sealed); err != nil || plain != "token-id:subject" {
		t.Errorf("round trip: %q, %v", plain, err)
	}
}
